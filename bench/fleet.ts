/**
 * bench/fleet: simulated devices polled through lib/fleet's FleetPoller (the class zk-poll drives): a first
 * full cycle, then an unchanged second cycle that must cost a small fraction of it (count check, no
 * download). Then, with --live, one LiveCapture per device (what zk-live runs): every link up, RSS and open
 * sockets with all links up, and the CPU the heartbeats cost over one heartbeat period.
 *
 * The simulators run in child processes (up to 250 devices each, one 127.x.y.z address per device past 250
 * devices), so the RSS printed is the poller's own. Above 200 devices the same run first polls the first 200
 * as a baseline, and `perDeviceRatio` compares the unchanged cycle's cost per device against it (1 = scales
 * linearly). Last line: one JSON object.
 *
 * Options (or env): --devices N (BENCH_DEVICES, 200), --records N (BENCH_RECORDS, 5000), --concurrency N
 * (BENCH_CONCURRENCY, 16), --live (BENCH_LIVE=1), --heartbeat-ms N (BENCH_HEARTBEAT_MS, 15000).
 * e.g. npm run bench:fleet -- --devices 2000 --records 500 --live
 */
import { ChildProcess, spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { normaliseDeviceConfig, sessionRegistry, DeviceConfig } from '../lib/device';
import { CursorStore, CycleTotals, FleetPoller } from '../lib/fleet';
import { LiveCapture } from '../lib/live';

function option(name: string, env: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const raw = i >= 0 ? process.argv[i + 1] : process.env[env];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a whole number ≥ 1 (got "${raw}")`);
  return n;
}

const DEVICES = option('devices', 'BENCH_DEVICES', 200);
const RECORDS = option('records', 'BENCH_RECORDS', 5000);
const CONCURRENCY = option('concurrency', 'BENCH_CONCURRENCY', 16);
const LIVE = process.argv.includes('--live') || process.env.BENCH_LIVE === '1';
const HEARTBEAT_MS = option('heartbeat-ms', 'BENCH_HEARTBEAT_MS', 15000);
const PER_PROCESS = 250;
const BASELINE = 200;
const mib = (b: number) => Math.round((b / 1048576) * 10) / 10;
const round3 = (x: number) => Math.round(x * 1000) / 1000;

interface CycleFigures {
  ms: number;
  /** CPU time of this process during the cycle: on a loaded machine, wall time says more about the others. */
  cpuMs: number;
  /** CPU time of the simulator processes during the cycle. */
  simCpuMs?: number | null;
  records: number;
  downloads: number;
  failed: number;
}

interface Sims {
  devices: { host: string; port: number }[];
  pids: number[];
  stop: () => void;
}

function startProcess(
  count: number,
  baseHost: string | undefined,
  seed: number,
): Promise<{ child: ChildProcess; devices: { host: string; port: number }[] }> {
  const args = [path.join(__dirname, 'fleet-sims.js'), String(count), String(RECORDS), baseHost ?? '', String(seed)];
  const child = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const nl = out.indexOf('\n');
      if (nl < 0) return;
      resolve({
        child,
        devices: (JSON.parse(out.slice(0, nl)) as { devices: { host: string; port: number }[] }).devices,
      });
    });
    child.once('exit', (code) => reject(new Error(`simulator process exited with ${code}`)));
  });
}

/** Up to 200 devices: one process on 127.0.0.1 (as before). More: 250 per process, each on its own 127.20.k.0/24. */
async function startFleet(): Promise<Sims> {
  const procs = DEVICES <= BASELINE ? 1 : Math.ceil(DEVICES / PER_PROCESS);
  const started = await Promise.all(
    Array.from({ length: procs }, (_, k) => {
      const count = procs === 1 ? DEVICES : Math.min(PER_PROCESS, DEVICES - k * PER_PROCESS);
      return startProcess(count, procs === 1 ? undefined : `127.20.${k}.1`, 1 + k * PER_PROCESS);
    }),
  );
  return {
    devices: started.flatMap((s) => s.devices),
    pids: started.map((s) => s.child.pid ?? 0),
    stop: () => started.forEach((s) => s.child.stdin?.end()),
  };
}

function figuresOf(t: CycleTotals, ms: number, cpu: NodeJS.CpuUsage): CycleFigures {
  for (const f of t.failures.slice(0, 10)) process.stderr.write(`${f}\n`);
  return { ms, cpuMs: (cpu.user + cpu.system) / 1000, records: t.newRecords, downloads: t.downloads, failed: t.failed };
}

/** A full cycle then an unchanged one over `fleet`, with its own cursors. */
async function pollTwice(
  fleet: DeviceConfig[],
  dir: string,
  pids: number[],
): Promise<{ full: CycleFigures; unchanged: CycleFigures }> {
  // Records are counted, not kept: the poller hands them to its listeners, here none.
  const poller = new FleetPoller({
    store: new CursorStore(dir),
    fleet,
    concurrency: CONCURRENCY,
    chunkSize: 1_000_000,
  });
  const timed = async () => {
    const cpu0 = process.cpuUsage();
    const sim0 = simCpuMs(pids);
    const t0 = process.hrtime.bigint();
    const t = await poller.request({ devices: null, dryRun: false, force: true });
    const f = figuresOf(t, Number(process.hrtime.bigint() - t0) / 1e6, process.cpuUsage(cpu0));
    const sim1 = simCpuMs(pids);
    return { ...f, simCpuMs: sim0 !== null && sim1 !== null ? sim1 - sim0 : null };
  };
  try {
    const full = await timed();
    const unchanged = await timed();
    return { full, unchanged };
  } finally {
    await poller.stop();
  }
}

/** CPU time (ms) the simulator processes used so far (Linux /proc, 100 ticks per second), or null. */
function simCpuMs(pids: number[]): number | null {
  try {
    return pids.reduce((sum, pid) => {
      const f = fs
        .readFileSync(`/proc/${pid}/stat`, 'utf8')
        .replace(/^.*\) /, '')
        .split(' ');
      // Fields 14 and 15 (utime, stime) are 12 and 13 once pid and (comm) are cut off.
      return sum + (Number(f[11]) + Number(f[12])) * 10;
    }, 0);
  } catch {
    return null;
  }
}

/** Sockets this process holds open (Linux: /proc/self/fd). */
function openSockets(): number | null {
  try {
    return fs.readdirSync('/proc/self/fd').filter((fd) => {
      try {
        return fs.readlinkSync(`/proc/self/fd/${fd}`).startsWith('socket:');
      } catch {
        return false;
      }
    }).length;
  } catch {
    return null;
  }
}

/** Soft limit of open files (Linux), to say early when 2,000 links cannot fit. */
function fileLimit(): number | null {
  try {
    const m = /Max open files\s+(\d+|unlimited)/.exec(fs.readFileSync('/proc/self/limits', 'utf8'));
    return m ? (m[1] === 'unlimited' ? Infinity : Number(m[1])) : null;
  } catch {
    return null;
  }
}

interface LiveFigures {
  links: number;
  linkUpMs: number;
  rssMiB: number;
  sockets: number;
  cpuPercent: number;
  heartbeatMs: number;
  statusEvents: number;
}

async function liveLinks(fleet: DeviceConfig[], dir: string, socketsBefore: number): Promise<LiveFigures> {
  const store = new CursorStore(dir);
  const sessions = fleet.map((cfg) => sessionRegistry.acquire({ ...cfg, heartbeatMs: HEARTBEAT_MS }));
  const captures = sessions.map((s) => new LiveCapture(s, { cursors: store, firstStart: 'now' }));
  // A link counts as up at its first `online` status: registered for events and the gap filled.
  const ready = new Set<LiveCapture>();
  let statusEvents = 0;
  let errors = 0;
  for (const c of captures) {
    c.on('status', (e) => {
      if (e.state === 'online') ready.add(c);
      else errors++;
    });
  }
  const t0 = process.hrtime.bigint();
  try {
    for (const c of captures) c.start();
    const deadline = Date.now() + 300_000;
    while (ready.size < captures.length) {
      if (Date.now() > deadline)
        throw new Error(`${captures.length - ready.size} of ${captures.length} live links not up after 300 s`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const linkUpMs = Number(process.hrtime.bigint() - t0) / 1e6;
    // Status events from here on mean a link changed state (dropped, reconnected) while idle.
    for (const c of captures) c.on('status', () => statusEvents++);
    // One heartbeat period with every link idle: each link sends two heartbeats in it.
    const cpu0 = process.cpuUsage();
    const w0 = process.hrtime.bigint();
    await new Promise((r) => setTimeout(r, HEARTBEAT_MS));
    const cpu = process.cpuUsage(cpu0);
    const wallMs = Number(process.hrtime.bigint() - w0) / 1e6;
    const up = captures.filter((c) => c.linked).length;
    if (errors > 0 || up < captures.length)
      process.stderr.write(
        `live: ${errors} status events not online, ${captures.length - up} links down after the window\n`,
      );
    return {
      links: up,
      linkUpMs,
      rssMiB: mib(process.memoryUsage().rss),
      sockets: (openSockets() ?? socketsBefore) - socketsBefore,
      cpuPercent: Math.round(((cpu.user + cpu.system) / 1000 / wallMs) * 1000) / 10,
      heartbeatMs: HEARTBEAT_MS,
      statusEvents,
    };
  } finally {
    await Promise.all(captures.map((c) => c.stop()));
    await Promise.all(sessions.map((s) => sessionRegistry.release(s)));
    await store.flush();
  }
}

async function main(): Promise<void> {
  const limit = fileLimit();
  const need = (LIVE ? DEVICES : CONCURRENCY) + 100;
  if (limit !== null && limit < need) {
    throw new Error(
      `open-file limit ${limit} is below the ~${need} sockets this run needs: raise it (ulimit -n ${need * 2}) and run again`,
    );
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pf-bench-fleet-'));
  const sims = await startFleet();
  try {
    const fleet = sims.devices.map((d) =>
      normaliseDeviceConfig({ host: d.host, port: d.port, tz: 'UTC', timeoutMs: 10000 }),
    );
    const rssStart = process.memoryUsage().rss;
    // The simulator processes' stdio pipes are sockets too: counted here and left out of the figures below.
    const socketsBefore = openSockets() ?? 0;
    const base =
      DEVICES > BASELINE ? await pollTwice(fleet.slice(0, BASELINE), path.join(dir, 'baseline'), sims.pids) : null;
    const { full, unchanged } = await pollTwice(fleet, path.join(dir, 'fleet'), sims.pids);
    const socketsAfterPoll = (openSockets() ?? socketsBefore) - socketsBefore;
    const peakPoll = process.resourceUsage().maxRSS * 1024;
    const live = LIVE ? await liveLinks(fleet, path.join(dir, 'fleet'), socketsBefore) : null;
    const peak = process.resourceUsage().maxRSS * 1024;
    const rate = (c: CycleFigures) => (c.ms > 0 ? Math.round((c.records / c.ms) * 1000) : 0);
    const perDevice = (c: CycleFigures, n: number) => c.ms / n;
    const perDeviceRatio = base ? round3(perDevice(unchanged, DEVICES) / perDevice(base.unchanged, BASELINE)) : null;
    console.log(`devices ${DEVICES} × ${RECORDS} records, concurrency ${CONCURRENCY}`);
    if (base)
      console.log(
        `baseline ${BASELINE} devices: full ${base.full.ms.toFixed(0)} ms, unchanged ${base.unchanged.ms.toFixed(0)} ms`,
      );
    console.log(
      `full cycle      ${full.ms.toFixed(0)} ms (CPU ${full.cpuMs.toFixed(0)} ms), ${full.records} records (${rate(full)}/s), ${full.downloads} downloads, ${full.failed} failed`,
    );
    console.log(
      `unchanged cycle ${unchanged.ms.toFixed(0)} ms (CPU ${unchanged.cpuMs.toFixed(0)} ms, simulators ${unchanged.simCpuMs ?? 'n/a'} ms), ${unchanged.records} records, ${unchanged.downloads} downloads, ${unchanged.failed} failed` +
        (perDeviceRatio !== null ? ` (per device ×${perDeviceRatio} the ${BASELINE}-device baseline)` : ''),
    );
    console.log(
      `peak RSS polling ${mib(peakPoll)} MiB (start ${mib(rssStart)} MiB), sockets left open after the cycles ${socketsAfterPoll}`,
    );
    if (live) {
      console.log(
        `live: ${live.links} links up in ${live.linkUpMs.toFixed(0)} ms; RSS ${live.rssMiB} MiB, ${live.sockets} sockets; ` +
          `CPU ${live.cpuPercent}% over one heartbeat period (${live.heartbeatMs} ms, 2 heartbeats per link)`,
      );
    }
    console.log(
      JSON.stringify({
        bench: 'fleet',
        devices: DEVICES,
        recordsPerDevice: RECORDS,
        concurrency: CONCURRENCY,
        fullMs: Math.round(full.ms),
        fullRecords: full.records,
        recordsPerSec: rate(full),
        fullDownloads: full.downloads,
        fullCpuMs: Math.round(full.cpuMs),
        unchangedCpuMs: Math.round(unchanged.cpuMs),
        unchangedSimCpuMs: unchanged.simCpuMs ?? null,
        unchangedMs: Math.round(unchanged.ms),
        unchangedRecords: unchanged.records,
        unchangedDownloads: unchanged.downloads,
        ratio: round3(unchanged.ms / full.ms),
        failed: full.failed + unchanged.failed,
        peakRssMiB: mib(peak),
        simulatorProcesses: DEVICES <= BASELINE ? 1 : Math.ceil(DEVICES / PER_PROCESS),
        baselineDevices: base ? BASELINE : null,
        baselineUnchangedMs: base ? Math.round(base.unchanged.ms) : null,
        perDeviceRatio,
        pollPeakRssMiB: mib(peakPoll),
        socketsAfterPoll,
        liveLinks: live?.links ?? null,
        liveLinkUpMs: live ? Math.round(live.linkUpMs) : null,
        liveRssMiB: live?.rssMiB ?? null,
        liveSockets: live?.sockets ?? null,
        loadAverage1m: Math.round(os.loadavg()[0] * 10) / 10,
        cpus: os.cpus().length,
        liveCpuPercent: live?.cpuPercent ?? null,
        liveHeartbeatMs: live?.heartbeatMs ?? null,
        liveStatusEvents: live?.statusEvents ?? null,
        openFileLimit: limit === Infinity ? null : limit,
      }),
    );
  } finally {
    sims.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: Error) => {
  console.error(err.stack ?? err.message);
  process.exit(1);
});
