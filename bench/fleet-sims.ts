/**
 * Simulated devices for bench/fleet, in their own process so the poller's RSS is only the poller's. One
 * process holds up to 250 devices: on 127.0.0.1 (ephemeral ports), or one per address from a base address
 * (e.g. 127.20.3.1, .2, …), as a real fleet has one IP per device. Loopback only.
 * Args: devices records [baseHost]. Prints one JSON line {devices: [{host, port}]} once every device listens;
 * stops when stdin closes.
 */
import { startSimulators } from '../lib/sim';

async function main(): Promise<void> {
  const devices = Number(process.argv[2] ?? 200);
  const records = Number(process.argv[3] ?? 5000);
  const baseHost = process.argv[4];
  if (baseHost && !/^127\./.test(baseHost))
    throw new Error(`base host ${baseHost} is not a loopback address (127.x.y.z)`);
  const sims = await startSimulators({
    devices,
    records,
    users: 50,
    transports: 'tcp',
    host: '127.0.0.1',
    baseHost,
    seed: Number(process.argv[5] ?? 1),
  });
  process.stdout.write(JSON.stringify({ devices: sims.map((s) => ({ host: s.host, port: s.port })) }) + '\n');
  const stop = () => void Promise.all(sims.map((s) => s.stop())).then(() => process.exit(0));
  process.stdin.on('end', stop);
  process.stdin.on('close', stop);
  process.stdin.resume();
}

main().catch((err: Error) => {
  process.stderr.write(`fleet-sims: ${err.message}\n`);
  process.exit(1);
});
