#!/usr/bin/env node
/**
 * `zk`: the PunchFlow command line (docs/architecture.md §6). Parses, dispatches, and turns every failure into one
 * line on stderr and an exit status (0 ok, 1 failure, 2 usage). ZK_DEBUG=1 adds stack traces.
 */
import { CliCommand, UsageError, USAGE_LINE, helpText, parseCli } from '../lib/cli/args';
import { describeError, exitCodeFor, ErrorContext } from '../lib/cli/errors';
import { CliIo, Interrupt, runFetch, runInfo, runLive, runSim, runUsers } from './commands';
import { runClear, runRestart, runTime, runUnlock } from './commands';

/** Signal handlers only while a command wants them; after dispose() (or the first signal) the default is back. */
function onInterrupt(): Interrupt {
  let on: () => void = () => undefined;
  const dispose = () => {
    process.off('SIGINT', on);
    process.off('SIGTERM', on);
  };
  const signal = new Promise<void>((resolve) => {
    on = () => {
      dispose();
      resolve();
    };
    process.on('SIGINT', on);
    process.on('SIGTERM', on);
  });
  return { signal, dispose };
}

function errorContext(cmd: CliCommand | null): ErrorContext {
  if (!cmd || cmd.command === 'help' || cmd.command === 'sim') return {};
  return { target: `${cmd.host}:${cmd.port}`, transport: cmd.udp ? 'udp' : 'tcp', commKey: cmd.commKey };
}

/** Exit once stdout has drained (a pipe may still hold the last lines). */
function exit(code: number): void {
  process.stdout.write('', () => process.exit(code));
}

async function main(argv: string[]): Promise<number> {
  // `zk fetch … | head` closes the pipe early: that is the reader's choice, not an error.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
  });
  let cmd: CliCommand | null = null;
  try {
    cmd = parseCli(argv);
    const io: CliIo = { stdout: process.stdout, stderr: process.stderr, onInterrupt };
    switch (cmd.command) {
      case 'help':
        process.stdout.write(helpText() + '\n');
        return 0;
      case 'sim':
        return await runSim(cmd, io);
      case 'info':
        return await runInfo(cmd, io);
      // The write commands load on use: the other commands start no slower for them.
      case 'users':
        return cmd.write ? await (await import('./user-commands')).runUserWrite(cmd, io) : await runUsers(cmd, io);
      case 'templates':
        return await (await import('./user-commands')).runTemplates(cmd, io);
      case 'fetch':
        return await runFetch(cmd, io);
      case 'live':
        return await runLive(cmd, io);
      case 'time':
        return await runTime(cmd, io);
      case 'clear':
        return await runClear(cmd, io);
      case 'unlock':
        return await runUnlock(cmd, io);
      case 'restart':
        return await runRestart(cmd, io);
    }
  } catch (err) {
    process.stderr.write(`zk: ${describeError(err, errorContext(cmd))}\n`);
    if (err instanceof UsageError) process.stderr.write(USAGE_LINE + '\n');
    if (process.env.ZK_DEBUG && err instanceof Error && err.stack) process.stderr.write(err.stack + '\n');
    return exitCodeFor(err);
  }
}

main(process.argv.slice(2)).then(exit, (err: unknown) => {
  process.stderr.write(`zk: unexpected failure: ${String(err)}\n`);
  exit(1);
});
