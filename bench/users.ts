/**
 * bench/users: a 3,000-user sync to one simulated device (TCP, loopback). Ours (ZkClient.upsertUsers: one
 * table read, the writes, REFRESHDATA, one read-back compared field by field) against a zkteco-js@1.7.2
 * setUser loop (one USER_WRQ per user, no read-back) in the same run, each against a fresh device in its own
 * process; then our unchanged re-sync of the same list, which must send no write (the device's counters).
 * Our writes are pipelined over TCP (writeWindow); the loop waits for each reply, as zkteco-js does.
 * The figures are medians of alternating runs; the load average is printed because a shared machine moves them.
 * Last line: one JSON object with the figures.
 */
import { spawn, ChildProcessWithoutNullStreams } from 'child_process';
import * as os from 'os';
import * as path from 'path';
import { ZkClient } from '../lib/client';
import type { UserWrite } from '../lib/protocol/users';
import { Cmd } from '../lib/protocol/constants';

const USERS = Number(process.env.BENCH_USERS ?? 3000);
const RUNS = Number(process.env.BENCH_RUNS ?? 5);

interface Device {
  port: number;
  counters(): Promise<{ commandsSeen: Record<number, number>; users: number }>;
  stop(): void;
}

function startDevice(): Promise<Device> {
  const child: ChildProcessWithoutNullStreams = spawn(process.execPath, [path.join(__dirname, 'users-sim.js')], {
    stdio: 'pipe',
  });
  let out = '';
  const waiters: ((line: string) => void)[] = [];
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    out += d;
    for (let nl = out.indexOf('\n'); nl >= 0; nl = out.indexOf('\n')) {
      const line = out.slice(0, nl);
      out = out.slice(nl + 1);
      waiters.shift()?.(line);
    }
  });
  const next = () => new Promise<string>((resolve) => waiters.push(resolve));
  return next().then((line) => ({
    port: (JSON.parse(line) as { port: number }).port,
    counters: () => {
      const p = next();
      child.stdin.write('counters\n');
      return p.then((l) => JSON.parse(l) as { commandsSeen: Record<number, number>; users: number });
    },
    stop: () => child.stdin.end(),
  }));
}

// Peak RSS while our client runs, and while zkteco-js runs (the runs alternate so both meet the same load).
let peakRss = 0;
let baselinePeakRss = 0;
let running: 'ours' | 'theirs' | null = null;
const sampler = setInterval(() => {
  const rss = process.memoryUsage.rss();
  if (running === 'ours') peakRss = Math.max(peakRss, rss);
  if (running === 'theirs') baselinePeakRss = Math.max(baselinePeakRss, rss);
}, 20);
const mib = (b: number) => Math.round((b / 1048576) * 10) / 10;

function hrList(): UserWrite[] {
  return Array.from({ length: USERS }, (_, i) => ({
    userId: String(100001 + i),
    name: `Employee ${i + 1}`,
    password: i % 7 === 0 ? '1234' : '',
    cardNo: 5000000 + i,
    privilege: i % 100 === 0 ? 14 : 0,
  }));
}

async function ours(): Promise<{
  firstMs: number;
  resyncMs: number;
  written: number;
  failed: number;
  resyncWrites: number;
  resyncUnchanged: number;
}> {
  const dev = await startDevice();
  const c = new ZkClient({ host: '127.0.0.1', port: dev.port, timeoutMs: 10000 });
  try {
    await c.connect();
    const list = hrList();
    let t = process.hrtime.bigint();
    const first = await c.upsertUsers(list);
    const firstMs = Number(process.hrtime.bigint() - t) / 1e6;
    const before = await dev.counters();
    t = process.hrtime.bigint();
    const again = await c.upsertUsers(list);
    const resyncMs = Number(process.hrtime.bigint() - t) / 1e6;
    const after = await dev.counters();
    const writes = [Cmd.USER_WRQ, Cmd.DELETE_USER, Cmd.REFRESHDATA].reduce(
      (n, k) => n + (after.commandsSeen[k] ?? 0) - (before.commandsSeen[k] ?? 0),
      0,
    );
    return {
      firstMs,
      resyncMs,
      written: first.written.length,
      failed: first.failed.length,
      resyncWrites: writes,
      resyncUnchanged: again.unchanged?.length ?? 0,
    };
  } finally {
    await c.close();
    dev.stop();
  }
}

interface ZkJs {
  createSocket(): Promise<unknown>;
  setUser(uid: number, userId: string, name: string, password: string, role: number, cardNo: number): Promise<unknown>;
  disconnect(): Promise<unknown>;
}

async function zktecoJsLoop(): Promise<{ ms: number; stored: number }> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const ZktecoJs = require('zkteco-js') as new (ip: string, port: number, timeout: number, inport: number) => ZkJs;
  const dev = await startDevice();
  const log = console.log;
  console.log = () => undefined;
  const z = new ZktecoJs('127.0.0.1', dev.port, 10000, 0);
  try {
    await z.createSocket();
    const list = hrList();
    const t = process.hrtime.bigint();
    // Its card number is a u16 and its uid the caller's choice: the loop a user of it writes.
    for (let i = 0; i < list.length; i++) {
      const u = list[i];
      await z.setUser(i + 1, u.userId, u.name ?? '', u.password ?? '', u.privilege ?? 0, (u.cardNo ?? 0) & 0xffff);
    }
    const ms = Number(process.hrtime.bigint() - t) / 1e6;
    return { ms, stored: (await dev.counters()).users };
  } finally {
    await z.disconnect().catch(() => undefined);
    console.log = log;
    dev.stop();
  }
}

async function main(): Promise<void> {
  const runsOurs: Awaited<ReturnType<typeof ours>>[] = [];
  const runsTheirs: Awaited<ReturnType<typeof zktecoJsLoop>>[] = [];
  for (let i = 0; i < RUNS; i++) {
    running = 'ours';
    runsOurs.push(await ours());
    running = 'theirs';
    runsTheirs.push(await zktecoJsLoop());
    running = null;
  }
  clearInterval(sampler);
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const firstMs = median(runsOurs.map((r) => r.firstMs));
  const resyncMs = median(runsOurs.map((r) => r.resyncMs));
  const loopMs = median(runsTheirs.map((r) => r.ms));
  for (const r of runsOurs) {
    process.stderr.write(
      `ours        ${USERS} users in ${r.firstMs.toFixed(0)} ms (${Math.round((USERS / r.firstMs) * 1000)}/s, read back ${r.written}, failed ${r.failed}); ` +
        `unchanged re-sync ${r.resyncMs.toFixed(0)} ms, ${r.resyncWrites} write commands, ${r.resyncUnchanged} unchanged\n`,
    );
  }
  for (const r of runsTheirs)
    process.stderr.write(
      `zkteco-js   ${USERS} setUser calls in ${r.ms.toFixed(0)} ms (${Math.round((USERS / r.ms) * 1000)}/s), device holds ${r.stored}\n`,
    );
  const summary = {
    bench: 'users',
    users: USERS,
    runs: RUNS,
    usersPerSec: Math.round((USERS / firstMs) * 1000),
    baselineUsersPerSec: Math.round((USERS / loopMs) * 1000),
    ratio: Math.round((loopMs / firstMs) * 100) / 100,
    firstSyncMs: Math.round(firstMs),
    resyncMs: Math.round(resyncMs),
    // Per run (the two halves of one run meet the same load), then the median.
    resyncPercentOfFirst: Math.round(median(runsOurs.map((r) => (r.resyncMs / r.firstMs) * 100)) * 10) / 10,
    resyncWriteCommands: Math.max(...runsOurs.map((r) => r.resyncWrites)),
    allWrittenAndReadBack: runsOurs.every((r) => r.written === USERS && r.failed === 0 && r.resyncUnchanged === USERS),
    baselineAllStored: runsTheirs.every((r) => r.stored === USERS),
    peakRssMiB: mib(peakRss),
    baselinePeakRssMiB: mib(baselinePeakRss),
    loadAverage: os.loadavg().map((x) => Math.round(x * 10) / 10),
  };
  process.stdout.write(JSON.stringify(summary) + '\n');
}

main().catch((err) => {
  process.stderr.write(`bench failed: ${(err as Error).stack ?? err}\n`);
  process.exit(1);
});
