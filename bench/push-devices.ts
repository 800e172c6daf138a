/**
 * The simulated push devices for bench/push, in their own process so the server's RSS is only the
 * server's. argv: URL DEVICES RECORDS BATCH. Starts every device at once, waits until each has its whole
 * log acknowledged, then prints one JSON line with the time-to-OK figures of every ATTLOG post.
 */
import { createPushDevices } from '../lib/sim/push-fleet';

const pct = (sorted: number[], p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;

async function main(): Promise<void> {
  const [url, devices, records, batch] = process.argv.slice(2);
  const latencies: number[] = [];
  let failed = 0;
  const { devices: devs, agent } = createPushDevices({
    url,
    devices: Number(devices),
    records: Number(records),
    users: 50,
    batchSize: Number(batch),
    errorDelayMs: 1000,
    onPost: (ms, ok) => {
      if (ok) latencies.push(ms);
      else failed++;
    },
  });
  const t0 = performance.now();
  for (const d of devs) d.start();
  const want = Number(records);
  while (devs.some((d) => d.acked < want)) await new Promise((r) => setTimeout(r, 20));
  const ms = performance.now() - t0;
  await Promise.all(devs.map((d) => d.stop()));
  agent.destroy();
  latencies.sort((a, b) => a - b);
  process.stdout.write(
    JSON.stringify({
      ms,
      posts: latencies.length,
      failed,
      p50: pct(latencies, 50),
      p99: pct(latencies, 99),
      max: latencies.at(-1) ?? 0,
    }) + '\n',
  );
}

main().catch((err: Error) => {
  process.stderr.write(`push-devices: ${err.stack}\n`);
  process.exit(1);
});
