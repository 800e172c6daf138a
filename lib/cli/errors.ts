/**
 * One line for people from any error the `zk` commands can meet: what failed, on which device, and what
 * to check. Expected failures never show a stack trace.
 */
import { ZkError } from '../errors';
import { UsageError } from './args';

export interface ErrorContext {
  /** host:port of the device, when the command talks to one. */
  target?: string;
  transport?: 'tcp' | 'udp';
  commKey?: number;
}

/** Ctrl-C (or SIGTERM) stopped a command before it finished. */
export class InterruptedError extends Error {
  constructor() {
    super('interrupted');
    this.name = 'InterruptedError';
  }
}

/** Exit status: 2 for bad usage (as most Unix tools), 130 when interrupted (as shells), 1 otherwise. */
export function exitCodeFor(err: unknown): number {
  return err instanceof UsageError ? 2 : err instanceof InterruptedError ? 130 : 1;
}

function oneLine(s: string): string {
  return s.replace(/\s*[\r\n]+\s*/g, ' ').trim();
}

export function describeError(err: unknown, ctx: ErrorContext = {}): string {
  const where = ctx.target ?? 'the device';
  const over = (ctx.transport ?? 'tcp').toUpperCase();
  if (err instanceof ZkError) {
    switch (err.code) {
      case 'AUTH':
        // A connect answered with an unexpected code: the client's message names the code, keep it.
        if (typeof err.details.connectReply === 'number') return oneLine(err.message) + ' (--comm-key)';
        return ctx.commKey
          ? `device ${where} rejected the comm key — check --comm-key`
          : `device ${where} requires a comm key — pass it with --comm-key`;
      case 'CONNECTION': {
        const errno = typeof err.details.errno === 'string' ? err.details.errno : undefined;
        if (errno === 'ECONNREFUSED') {
          return `cannot reach ${where} over ${over}: connection refused — check the host, port and that the device is on`;
        }
        return oneLine(err.message);
      }
      case 'TIMEOUT':
        return (
          oneLine(err.message) +
          (over === 'TCP' ? ' (a UDP-only device needs --udp; a slow link a longer --timeout)' : '')
        );
      default:
        return oneLine(err.message);
    }
  }
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    return oneLine(code && !err.message.includes(code) ? `${err.message} (${code})` : err.message);
  }
  return oneLine(String(err));
}
