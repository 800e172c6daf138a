/**
 * The simulated fleet for bench/fleet, in its own process so the poller's RSS is only the poller's.
 * Prints one JSON line {ports: number[]} once every device listens; stops when stdin closes.
 */
import { startSimulators } from '../lib/sim';

async function main(): Promise<void> {
  const devices = Number(process.argv[2] ?? 200);
  const records = Number(process.argv[3] ?? 5000);
  const sims = await startSimulators({ devices, records, users: 50, transports: 'tcp', host: '127.0.0.1' });
  process.stdout.write(JSON.stringify({ ports: sims.map((s) => s.port) }) + '\n');
  const stop = () => void Promise.all(sims.map((s) => s.stop())).then(() => process.exit(0));
  process.stdin.on('end', stop);
  process.stdin.on('close', stop);
  process.stdin.resume();
}

main().catch((err: Error) => {
  process.stderr.write(`fleet-sims: ${err.message}\n`);
  process.exit(1);
});
