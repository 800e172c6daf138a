/**
 * bench:users-fleet — the fleet sync figures: a 500-user master list synced to 20 simulated devices (8 at a
 * time, zk-users' default), then the same list again (nothing to write) and a dry run, over loopback TCP.
 * Prints each time and the load average, for three rounds on fresh simulators.
 */
import * as os from 'os';
import { ZkClient } from '../lib/client';
import { ZkSimulator } from '../lib/sim';
import { parseMasterList, syncDevice } from '../lib/users';
import { asUserDevice } from '../lib/users/client';

const DEVICES = 20;
const USERS = 500;
const CONCURRENCY = 8;

async function round(): Promise<Record<string, number>> {
  const sims = Array.from(
    { length: DEVICES },
    (_, i) => new ZkSimulator({ port: 0, users: 12, records: 0, seed: 100 + i, transports: 'tcp' }),
  );
  const ports = (await Promise.all(sims.map((s) => s.start()))).map((a) => a.port);
  const list = parseMasterList(
    Array.from({ length: USERS }, (_, i) => ({
      userId: String(20000 + i),
      name: `E${i}`,
      card: 100000 + i,
      privilege: 'user',
      enabled: true,
    })),
  );
  const clients = ports.map((port) => new ZkClient({ host: '127.0.0.1', port, timeoutMs: 5000 }));
  const out: Record<string, number> = {};
  try {
    await Promise.all(clients.map((c) => c.connect()));
    const run = async (label: string, dryRun: boolean): Promise<void> => {
      const t0 = performance.now();
      let next = 0;
      let failed = 0;
      const lane = async (): Promise<void> => {
        while (next < clients.length) {
          const r = await syncDevice(asUserDevice(clients[next++]), list, { missing: 'disable', dryRun });
          failed += r.failed.length;
        }
      };
      await Promise.all(Array.from({ length: CONCURRENCY }, lane));
      if (failed > 0) throw new Error(`${label}: ${failed} users failed`);
      out[label] = performance.now() - t0;
    };
    await run('first sync', false);
    await run('unchanged re-sync', false);
    await run('dry run', true);
  } finally {
    await Promise.all(clients.map((c) => c.close()));
    await Promise.all(sims.map((s) => s.stop()));
  }
  return out;
}

async function main(): Promise<void> {
  console.log(`${USERS} users → ${DEVICES} simulated devices, ${CONCURRENCY} at a time (loopback TCP)`);
  for (let i = 1; i <= 3; i++) {
    const r = await round();
    const parts = Object.entries(r).map(([k, ms]) => `${k} ${Math.round(ms)} ms`);
    console.log(
      `round ${i}: ${parts.join(', ')}; re-sync ${((r['unchanged re-sync'] / r['first sync']) * 100).toFixed(1)}% of the first`,
    );
  }
  console.log(
    `load average ${os
      .loadavg()
      .map((x) => x.toFixed(1))
      .join(' ')} on ${os.cpus().length} cores`,
  );
}

main().catch((err: Error) => {
  console.error(err.message);
  process.exit(1);
});
