/**
 * bench/latency: how long a punch takes to reach the database at a steady rate, in an embedded Node-RED
 * (node-red-node-test-helper) with a throwaway MariaDB (the Debian server, temp dir, 127.0.0.1):
 *  - live: simulated devices (real sockets on loopback) punch one at a time, spread evenly over the period,
 *    through zk-live → zk-dedupe → zk-sink MySQL; default 200 devices, one punch each per 10 s;
 *  - push: simulated push devices post each punch at once (Realtime) to zk-push → zk-sink MySQL; default
 *    500 devices, one punch each per 5 s.
 * Latency is from the simulator's send (the punch call) to the row's `committed_at`, a bench-only column
 * DEFAULT CURRENT_TIMESTAMP(3) (the INSERT's time, a hair before its commit); for push also the time to `OK`.
 * The first period of each phase is warm-up and not counted.
 * Write amplification: fsyncs, renames and bytes written to files by this process per live punch, counted
 * by wrappers around the fs calls (FileHandle sync/datasync/write/writeFile/appendFile, fs.fsync*,
 * fs.promises rename/appendFile/writeFile).
 * Baseline, same run: the behaviour before batching followed load (a partial batch waited out the flush
 * interval), the cursor saved per live punch and the ack file replaced per batch, patched in for the phase.
 * Simulators run in this process (their sockets are real), so the figures include their share of the event loop.
 * Env: BENCH_LIVE_DEVICES, BENCH_LIVE_PERIOD_MS, BENCH_PUSH_DEVICES, BENCH_PUSH_PERIOD_MS, BENCH_SECONDS
 * (measured time per phase, default 30), BENCH_BASELINE=0 skips the baseline. Last line: one JSON object.
 */
import * as fs from 'fs';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import * as mysql from 'mysql2/promise';
import helper = require('node-red-node-test-helper');
import type { Node, NodeMessage } from 'node-red';
import zkLive = require('../nodes/zk-live/zk-live');
import zkDedupe = require('../nodes/zk-dedupe/zk-dedupe');
import zkSink = require('../nodes/zk-sink/zk-sink');
import zkPush = require('../nodes/zk-push/zk-push');
import { startSimulators, ZkSimulator } from '../lib/sim';
import { startPushDevices } from '../lib/sim/push-fleet';
import { pushSerial } from '../lib/sim/push-fleet';
import { instantToWallClock } from '../lib/record/zone';
import type { WallClock } from '../lib/protocol/time';
import { MYSQL_ATTENDANCE_LOG_DDL } from '../lib/sinks/mysql-sql';
import { DeliveryLoop } from '../lib/sinks/delivery';
import { Outbox } from '../lib/sinks/outbox';
import { LiveCapture } from '../lib/live';
import { replaceFile } from '../lib/files/durable';
import { MariaDbServer } from '../support/mariadb';
import { freePort } from '../support/ports';

const LIVE_DEVICES = Number(process.env.BENCH_LIVE_DEVICES ?? 200);
const LIVE_PERIOD_MS = Number(process.env.BENCH_LIVE_PERIOD_MS ?? 10_000);
const PUSH_DEVICES = Number(process.env.BENCH_PUSH_DEVICES ?? 500);
const PUSH_PERIOD_MS = Number(process.env.BENCH_PUSH_PERIOD_MS ?? 5000);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 30);
const BASELINE = process.env.BENCH_BASELINE !== '0';

let peakRss = process.memoryUsage.rss();
const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage.rss())), 20);
sampler.unref();

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const pad = (n: number): string => (n < 10 ? '0' : '') + n;
const wallText = (w: WallClock): string =>
  `${w.year}-${pad(w.month)}-${pad(w.day)} ${pad(w.hour)}:${pad(w.minute)}:${pad(w.second)}`;
const keyOf = (sn: string, userId: string, local: string): string => `${sn}|${userId}|${local}`;

interface Stats {
  n: number;
  p50: number;
  p99: number;
  max: number;
}
function stats(values: number[]): Stats {
  const s = [...values].sort((a, b) => a - b);
  const at = (p: number): number => s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
  const r = (x: number): number => Math.round(x * 10) / 10;
  return { n: s.length, p50: r(at(50)), p99: r(at(99)), max: r(s.at(-1) ?? NaN) };
}

// ---- write amplification: counting wrappers ----------------------------------------------------------

const io = { fsyncs: 0, renames: 0, bytes: 0 };
function countFileIo(): void {
  const fsp = fs.promises as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>;
  const wrapP = (
    obj: Record<string, (...a: unknown[]) => Promise<unknown>>,
    name: string,
    count: (args: unknown[]) => void,
  ): void => {
    const orig = obj[name];
    obj[name] = function (this: unknown, ...args: unknown[]) {
      count(args);
      return orig.apply(this, args);
    };
  };
  const size = (d: unknown): number =>
    typeof d === 'string' ? Buffer.byteLength(d) : d instanceof Uint8Array ? d.byteLength : 0;
  void fs.promises.open(os.devNull, 'r').then(async (h) => {
    const proto = Object.getPrototypeOf(h) as Record<string, (...a: unknown[]) => Promise<unknown>>;
    await h.close();
    wrapP(proto, 'sync', () => io.fsyncs++);
    wrapP(proto, 'datasync', () => io.fsyncs++);
    wrapP(
      proto,
      'write',
      (a) => (io.bytes += typeof a[2] === 'number' && a[0] instanceof Uint8Array ? a[2] : size(a[0])),
    );
    wrapP(proto, 'writeFile', (a) => (io.bytes += size(a[0])));
    wrapP(proto, 'appendFile', (a) => (io.bytes += size(a[0])));
  });
  wrapP(fsp, 'rename', () => io.renames++);
  wrapP(fsp, 'appendFile', (a) => (io.bytes += size(a[1])));
  wrapP(fsp, 'writeFile', (a) => (io.bytes += size(a[1])));
  // The module itself (an `import * as` namespace has getters only).
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const cb = require('fs') as Record<string, (...a: unknown[]) => unknown>;
  for (const name of ['fsync', 'fdatasync', 'fsyncSync', 'fdatasyncSync']) {
    const orig = cb[name];
    cb[name] = function (this: unknown, ...args: unknown[]) {
      io.fsyncs++;
      return orig.apply(this, args);
    };
  }
}

// ---- the old behaviour, for the baseline --------------------------------------------------------------

type Patchable = Record<string, unknown>;
/** Puts back, for one phase, what the repository did before: returns the undo. */
function patchOldBehaviour(): () => void {
  const loop = DeliveryLoop.prototype as unknown as Patchable;
  const live = LiveCapture.prototype as unknown as Patchable;
  const box = Outbox.prototype as unknown as Patchable;
  const saved = { nextBatch: loop.nextBatch, saveSoon: live.saveSoon, writeAck: box.writeAck };
  type Loop = {
    opts: { outbox: Outbox<unknown> };
    batchSize: number;
    flushIntervalMs: number;
    running: boolean;
    emitState(s: unknown): void;
    sleepOrAppend(ms: number): Promise<void>;
  };
  // A partial batch waited up to the flush interval for company, starting with its first record.
  loop.nextBatch = async function (this: Loop) {
    const { outbox } = this.opts;
    if (outbox.pending === 0) {
      this.emitState({ state: 'idle', pending: 0 });
      await this.sleepOrAppend(60_000);
      return null;
    }
    if (outbox.pending < this.batchSize && this.flushIntervalMs > 0) {
      const deadline = Date.now() + this.flushIntervalMs;
      while (this.running && outbox.pending < this.batchSize && Date.now() < deadline)
        await this.sleepOrAppend(deadline - Date.now());
      if (!this.running) return null;
    }
    const batch = await outbox.next(this.batchSize);
    if (!batch) {
      outbox.rewind();
      await this.sleepOrAppend(this.flushIntervalMs || 10);
    }
    return batch;
  };
  live.saveSoon = function (this: { save(): void }) {
    this.save();
  };
  box.writeAck = async function (this: { dir: string }, pos: { seg: number; off: number }) {
    await replaceFile(path.join(this.dir, 'ack.json'), JSON.stringify({ seg: pos.seg, off: pos.off }));
  };
  return () =>
    Object.assign(loop, { nextBatch: saved.nextBatch }) &&
    Object.assign(live, { saveSoon: saved.saveSoon }) &&
    void Object.assign(box, { writeAck: saved.writeAck });
}

// ---- the phases -----------------------------------------------------------------------------------------

async function createTable(db: MariaDbServer, table: string): Promise<void> {
  const ddl = MYSQL_ATTENDANCE_LOG_DDL.replace('`attendance_log`', `\`${db.database}\`.\`${table}\``);
  await db.rootQuery([
    ddl,
    `ALTER TABLE \`${db.database}\`.\`${table}\` ADD COLUMN committed_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3)`,
  ]);
}

/** Committed-at (ms since the epoch) per row key. */
async function committedTimes(db: MariaDbServer, table: string): Promise<Map<string, number>> {
  const conn = await mysql.createConnection({
    host: db.host,
    port: db.port,
    user: db.user,
    password: db.password,
    database: db.database,
  });
  try {
    const [rows] = await conn.query(
      `SELECT device_sn AS sn, user_id AS u, DATE_FORMAT(local_time, '%Y-%m-%d %H:%i:%s') AS t, UNIX_TIMESTAMP(committed_at) * 1000 AS c FROM \`${table}\``,
    );
    const out = new Map<string, number>();
    for (const r of rows as { sn: string; u: string; t: string; c: string | number }[])
      out.set(keyOf(r.sn, r.u, r.t), Number(r.c));
    return out;
  } finally {
    await conn.end();
  }
}

async function countRows(db: MariaDbServer, table: string): Promise<number> {
  const conn = await mysql.createConnection({
    host: db.host,
    port: db.port,
    user: db.user,
    password: db.password,
    database: db.database,
  });
  try {
    const [rows] = await conn.query(`SELECT COUNT(*) AS n FROM \`${table}\``);
    return Number((rows as { n: number }[])[0].n);
  } finally {
    await conn.end();
  }
}

interface Sent {
  key: string;
  at: number;
  measured: boolean;
}

/** Punches on a steady schedule: each device once per period, the devices spread evenly over it. */
async function steady(devices: number, periodMs: number, punch: (i: number, round: number) => Sent): Promise<Sent[]> {
  const sent: Sent[] = [];
  const rounds = 1 + Math.ceil((SECONDS * 1000) / periodMs); // the first one is warm-up
  const t0 = performance.now();
  for (let round = 0; round < rounds; round++) {
    for (let i = 0; i < devices; i++) {
      const due = t0 + round * periodMs + (i * periodMs) / devices;
      const wait = due - performance.now();
      if (wait > 1) await sleep(wait);
      const s = punch(i, round);
      s.measured = round > 0;
      sent.push(s);
    }
  }
  return sent;
}

/** zk-push opens its port after the flow started: wait until it accepts connections. */
async function listening(port: number): Promise<void> {
  const end = Date.now() + 30_000;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const sock = net.connect(port, '127.0.0.1', () => {
        sock.destroy();
        resolve(true);
      });
      sock.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > end) throw new Error(`zk-push did not listen on 127.0.0.1:${port} within 30 s`);
    await sleep(50);
  }
}

async function waitRows(db: MariaDbServer, table: string, n: number, what: string): Promise<void> {
  const end = Date.now() + 60_000;
  while ((await countRows(db, table)) < n) {
    if (Date.now() > end) throw new Error(`${what}: only ${await countRows(db, table)} of ${n} rows after 60 s`);
    await sleep(100);
  }
}

type FlowNode = Record<string, unknown> & { id: string; type: string };
const sinkNode = (id: string, db: MariaDbServer, table: string): FlowNode => ({
  id,
  z: 'f1',
  type: 'zk-sink',
  target: 'mysql',
  host: db.host,
  port: db.port,
  user: db.user,
  database: db.database,
  table,
  createTable: false,
  wires: [[], []],
});

interface LiveFigures {
  row: Stats;
  fsyncsPerPunch: number;
  renamesPerPunch: number;
  bytesPerPunch: number;
}

async function livePhase(db: MariaDbServer, sims: ZkSimulator[], table: string): Promise<LiveFigures> {
  await createTable(db, table);
  const list = 'host,port,name\n' + sims.map((s, i) => `127.0.0.1,${s.port},door ${i}`).join('\n');
  const flow: FlowNode[] = [
    { id: 'f1', type: 'tab' },
    { id: 'l1', z: 'f1', type: 'zk-live', mode: 'list', fleet: list, tz: 'UTC', site: 'HQ', wires: [['d1'], ['st']] },
    { id: 'st', z: 'f1', type: 'helper' },
    { id: 'd1', z: 'f1', type: 'zk-dedupe', wires: [['s1'], []] },
    sinkNode('s1', db, table),
  ];
  await helper.load([zkLive, zkDedupe, zkSink], flow, { s1: { password: db.password } });
  const online = new Set<string>();
  (helper.getNode('st') as Node).on('input', (m: NodeMessage) => {
    const p = m.payload as { state?: string; deviceSn?: string };
    if (p?.state === 'online' && p.deviceSn) online.add(p.deviceSn);
  });
  const end = Date.now() + 120_000;
  while (online.size < sims.length) {
    if (Date.now() > end) throw new Error(`live: ${online.size} of ${sims.length} devices online after 120 s`);
    await sleep(50);
  }
  let ioAtStart = { ...io };
  let measuredStarted = false;
  const sent = await steady(sims.length, LIVE_PERIOD_MS, (i, round) => {
    if (round === 1 && !measuredStarted) {
      measuredStarted = true;
      ioAtStart = { ...io };
    }
    const sim = sims[i];
    const user = sim.users[round % sim.users.length].userId;
    const at = instantToWallClock(Date.now(), 'UTC');
    const s: Sent = { key: keyOf(sim.serial, user, wallText(at)), at: Date.now(), measured: false };
    sim.punch({ userId: user, at });
    return s;
  });
  await waitRows(db, table, sent.length, 'live');
  const ioDelta = {
    fsyncs: io.fsyncs - ioAtStart.fsyncs,
    renames: io.renames - ioAtStart.renames,
    bytes: io.bytes - ioAtStart.bytes,
  };
  const committed = await committedTimes(db, table);
  const measured = sent.filter((s) => s.measured);
  const lat = measured.map((s) => {
    const c = committed.get(s.key);
    if (c === undefined) throw new Error(`live: no row for ${s.key}`);
    return c - s.at;
  });
  await helper.unload();
  return {
    row: stats(lat),
    fsyncsPerPunch: Math.round((ioDelta.fsyncs / measured.length) * 100) / 100,
    renamesPerPunch: Math.round((ioDelta.renames / measured.length) * 100) / 100,
    bytesPerPunch: Math.round(ioDelta.bytes / measured.length),
  };
}

interface PushFigures {
  ok: Stats;
  row: Stats;
  fsyncsPerPunch: number;
}

async function pushPhase(db: MariaDbServer, table: string, prefix: string): Promise<PushFigures> {
  await createTable(db, table);
  const port = await freePort();
  const serials = Array.from({ length: PUSH_DEVICES }, (_, i) => pushSerial(prefix, i));
  const flow: FlowNode[] = [
    { id: 'f1', type: 'tab' },
    {
      id: 'p1',
      z: 'f1',
      type: 'zk-push',
      listen: 'port',
      port,
      basePath: '/iclock',
      host: '127.0.0.1',
      devices: serials.map((s) => `${s},,HQ,UTC`).join('\n'),
      tz: 'UTC',
      perAddress: 10000,
      delay: 60,
      realtime: true,
      wires: [['s2'], []],
    },
    sinkNode('s2', db, table),
  ];
  await helper.load([zkPush, zkSink], flow, { s2: { password: db.password } });
  await listening(port);
  const okTimes: number[] = [];
  let measuring = false;
  let troubles = 0;
  const fleet = await startPushDevices({
    url: `http://127.0.0.1:${port}`,
    devices: PUSH_DEVICES,
    records: 0,
    users: 10,
    serialPrefix: prefix,
    tz: 'UTC',
    onPost: (ms, ok) => {
      if (ok && measuring) okTimes.push(ms);
    },
    onTrouble: (t) => {
      if (troubles++ === 0) console.error(`push device trouble: ${JSON.stringify(t)}`);
    },
  });
  const ioAtStart = { ...io };
  const sent = await steady(PUSH_DEVICES, PUSH_PERIOD_MS, (i, round) => {
    measuring = round > 0;
    const d = fleet.devices[i];
    const at = instantToWallClock(Date.now(), 'UTC');
    const user = String(1 + (round % 10));
    const s: Sent = { key: keyOf(serials[i], user, wallText(at)), at: Date.now(), measured: false };
    d.punch(user, at);
    return s;
  });
  await waitRows(db, table, sent.length, 'push');
  const fsyncs = io.fsyncs - ioAtStart.fsyncs;
  await fleet.stop();
  const committed = await committedTimes(db, table);
  const measured = sent.filter((s) => s.measured);
  const lat = measured.map((s) => {
    const c = committed.get(s.key);
    if (c === undefined) throw new Error(`push: no row for ${s.key}`);
    return c - s.at;
  });
  await helper.unload();
  return { ok: stats(okTimes), row: stats(lat), fsyncsPerPunch: Math.round((fsyncs / sent.length) * 100) / 100 };
}

async function main(): Promise<void> {
  countFileIo();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'punchflow-bench-latency-'));
  const db = await MariaDbServer.create();
  helper.init(require.resolve('node-red'));
  helper.settings({ userDir: path.join(tmp, 'node-red') });
  await helper.startServer();
  const sims = await startSimulators({
    devices: LIVE_DEVICES,
    records: 0,
    users: 10,
    transports: 'tcp',
    host: '127.0.0.1',
    basePort: 0,
  });
  try {
    console.log(
      `bench/latency: live ${LIVE_DEVICES} devices × 1 punch per ${LIVE_PERIOD_MS} ms, push ${PUSH_DEVICES} devices × 1 per ${PUSH_PERIOD_MS} ms, ${SECONDS} s measured per phase; Node ${process.version}, ${os.cpus().length} CPUs`,
    );
    const live = await livePhase(db, sims, 'live_log');
    console.log(
      `live → row:  p50 ${live.row.p50} ms, p99 ${live.row.p99} ms, max ${live.row.max} ms (${live.row.n} punches); per punch ${live.fsyncsPerPunch} fsyncs, ${live.renamesPerPunch} renames, ${live.bytesPerPunch} bytes to files`,
    );
    const push = await pushPhase(db, 'push_log', 'PFLAT');
    console.log(
      `push → OK:   p50 ${push.ok.p50} ms, p99 ${push.ok.p99} ms, max ${push.ok.max} ms (${push.ok.n} posts)`,
    );
    console.log(
      `push → row:  p50 ${push.row.p50} ms, p99 ${push.row.p99} ms, max ${push.row.max} ms (${push.row.n} punches); ${push.fsyncsPerPunch} fsyncs per punch`,
    );
    const rss = peakRss;
    let base: { live: LiveFigures; push: PushFigures } | null = null;
    if (BASELINE) {
      const undo = patchOldBehaviour();
      try {
        const bl = await livePhase(db, sims, 'live_log_base');
        console.log(
          `baseline live → row: p50 ${bl.row.p50} ms, p99 ${bl.row.p99} ms, max ${bl.row.max} ms; per punch ${bl.fsyncsPerPunch} fsyncs, ${bl.renamesPerPunch} renames, ${bl.bytesPerPunch} bytes`,
        );
        const bp = await pushPhase(db, 'push_log_base', 'PFLAB');
        console.log(
          `baseline push → OK p99 ${bp.ok.p99} ms, row p50 ${bp.row.p50} ms, p99 ${bp.row.p99} ms, max ${bp.row.max} ms`,
        );
        base = { live: bl, push: bp };
      } finally {
        undo();
      }
    }
    console.log(`peak RSS ${(Math.max(rss, peakRss) / 1048576).toFixed(0)} MiB`);
    console.log(
      JSON.stringify({
        bench: 'latency',
        liveDevices: LIVE_DEVICES,
        livePeriodMs: LIVE_PERIOD_MS,
        pushDevices: PUSH_DEVICES,
        pushPeriodMs: PUSH_PERIOD_MS,
        seconds: SECONDS,
        liveRowP50Ms: live.row.p50,
        liveRowP99Ms: live.row.p99,
        liveRowMaxMs: live.row.max,
        livePunches: live.row.n,
        liveFsyncsPerPunch: live.fsyncsPerPunch,
        liveRenamesPerPunch: live.renamesPerPunch,
        liveBytesPerPunch: live.bytesPerPunch,
        pushOkP50Ms: push.ok.p50,
        pushOkP99Ms: push.ok.p99,
        pushOkMaxMs: push.ok.max,
        pushRowP50Ms: push.row.p50,
        pushRowP99Ms: push.row.p99,
        pushRowMaxMs: push.row.max,
        pushFsyncsPerPunch: push.fsyncsPerPunch,
        baselineLiveRowP99Ms: base?.live.row.p99 ?? null,
        baselinePushRowP99Ms: base?.push.row.p99 ?? null,
        baselineLiveFsyncsPerPunch: base?.live.fsyncsPerPunch ?? null,
        baselineLiveRenamesPerPunch: base?.live.renamesPerPunch ?? null,
        baselineLiveBytesPerPunch: base?.live.bytesPerPunch ?? null,
        ratio: base ? Math.round((base.live.row.p99 / live.row.p99) * 10) / 10 : null,
        pushRatio: base ? Math.round((base.push.row.p99 / push.row.p99) * 10) / 10 : null,
        peakRssMiB: Math.round(Math.max(rss, peakRss) / 1048576),
      }),
    );
  } finally {
    await Promise.all(sims.map((s) => s.stop()));
    await Promise.resolve(helper.stopServer()).catch(() => undefined);
    await db.destroy();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(process.exitCode ?? 0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
