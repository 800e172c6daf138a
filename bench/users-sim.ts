/**
 * One simulated TFT device for bench/users, in its own process so the client's time and RSS are only the
 * client's. Prints {port} once it listens; on a line "counters" on stdin prints the command counts; stops
 * when stdin closes.
 */
import { ZkSimulator } from '../lib/sim';

async function main(): Promise<void> {
  const sim = new ZkSimulator({ host: '127.0.0.1', port: 0, profile: 'tft', users: 0, records: 0, transports: 'tcp' });
  const { port } = await sim.start();
  process.stdout.write(JSON.stringify({ port }) + '\n');
  let buf = '';
  process.stdin.setEncoding('utf8').on('data', (d: string) => {
    buf += d;
    for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
      const line = buf.slice(0, nl).trim();
      buf = buf.slice(nl + 1);
      if (line === 'counters')
        process.stdout.write(
          JSON.stringify({ commandsSeen: sim.counters.commandsSeen, users: sim.users.length }) + '\n',
        );
    }
  });
  const stop = () => void sim.stop().then(() => process.exit(0));
  process.stdin.on('end', stop);
  process.stdin.on('close', stop);
}

main().catch((err: Error) => {
  process.stderr.write(`users-sim: ${err.message}\n`);
  process.exit(1);
});
