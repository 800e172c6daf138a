/**
 * bench/fleet: 200 simulated devices × 5,000 records, polled through lib/fleet (FleetScheduler +
 * pollDevice/pollIncremental + CursorStore) the way zk-poll does: a first full cycle, then an unchanged
 * second cycle that must cost a small fraction of it (count check, no download). The simulators run in a
 * child process, so the peak RSS printed is the poller's own. Last line: one JSON object.
 * Env: BENCH_DEVICES, BENCH_RECORDS, BENCH_CONCURRENCY.
 */
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { normaliseDeviceConfig, sessionRegistry, DeviceConfig } from '../lib/device';
import { CursorStore, FleetScheduler, pollDevice } from '../lib/fleet';

const DEVICES = Number(process.env.BENCH_DEVICES ?? 200);
const RECORDS = Number(process.env.BENCH_RECORDS ?? 5000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 16);
const mib = (b: number) => Math.round((b / 1048576) * 10) / 10;

interface CycleFigures {
  ms: number;
  records: number;
  downloads: number;
  failed: number;
}

function startFleet(): Promise<{ ports: number[]; stop: () => void }> {
  const child = spawn(process.execPath, [path.join(__dirname, 'fleet-sims.js'), String(DEVICES), String(RECORDS)], { stdio: ['pipe', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const nl = out.indexOf('\n');
      if (nl < 0) return;
      const { ports } = JSON.parse(out.slice(0, nl)) as { ports: number[] };
      resolve({ ports, stop: () => child.stdin.end() });
    });
    child.once('exit', (code) => reject(new Error(`simulator process exited with ${code}`)));
  });
}

async function cycle(scheduler: FleetScheduler, fleet: DeviceConfig[], store: CursorStore): Promise<CycleFigures> {
  const figures: CycleFigures = { ms: 0, records: 0, downloads: 0, failed: 0 };
  const t0 = process.hrtime.bigint();
  await scheduler.runCycle(fleet.map((cfg) => ({ key: `${cfg.host}:${cfg.port}`, item: cfg })), async (cfg) => {
    const session = sessionRegistry.acquire(cfg);
    try {
      const poll = await pollDevice(session, store, { source: 'poll' });
      // zk-poll sends the records here; the bench only counts them, then saves the cursor as the node does.
      figures.records += poll.outcome.records.length;
      if (poll.outcome.downloaded) figures.downloads++;
      if (poll.outcome.cursorChanged) await store.set(poll.key, poll.outcome.cursor);
    } finally {
      await sessionRegistry.release(session);
    }
  }, { force: true, onResult: (r) => { if (r.status === 'failed') { figures.failed++; process.stderr.write(`${r.key}: ${r.error?.message}\n`); } } });
  figures.ms = Number(process.hrtime.bigint() - t0) / 1e6;
  return figures;
}

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pf-bench-fleet-'));
  const sims = await startFleet();
  try {
    const fleet = sims.ports.map((port) => normaliseDeviceConfig({ host: '127.0.0.1', port, tz: 'UTC', timeoutMs: 10000 }));
    const store = new CursorStore(dir);
    const scheduler = new FleetScheduler({ concurrency: CONCURRENCY });
    const rssStart = process.memoryUsage().rss;
    const full = await cycle(scheduler, fleet, store);
    const unchanged = await cycle(scheduler, fleet, store);
    const peak = process.resourceUsage().maxRSS * 1024;
    const rate = (c: CycleFigures) => (c.ms > 0 ? Math.round((c.records / c.ms) * 1000) : 0);
    console.log(`devices ${DEVICES} × ${RECORDS} records, concurrency ${CONCURRENCY}`);
    console.log(`full cycle      ${full.ms.toFixed(0)} ms, ${full.records} records (${rate(full)}/s), ${full.downloads} downloads, ${full.failed} failed`);
    console.log(`unchanged cycle ${unchanged.ms.toFixed(0)} ms, ${unchanged.records} records, ${unchanged.downloads} downloads, ${unchanged.failed} failed`);
    console.log(`peak RSS ${mib(peak)} MiB (start ${mib(rssStart)} MiB)`);
    console.log(JSON.stringify({
      bench: 'fleet', devices: DEVICES, recordsPerDevice: RECORDS, concurrency: CONCURRENCY,
      fullMs: Math.round(full.ms), fullRecords: full.records, recordsPerSec: rate(full), fullDownloads: full.downloads,
      unchangedMs: Math.round(unchanged.ms), unchangedRecords: unchanged.records, unchangedDownloads: unchanged.downloads,
      ratio: Math.round((unchanged.ms / full.ms) * 1000) / 1000,
      failed: full.failed + unchanged.failed,
      peakRssMiB: mib(peak),
    }));
  } finally {
    sims.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: Error) => {
  console.error(err.stack ?? err.message);
  process.exit(1);
});
