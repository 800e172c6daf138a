/**
 * The `zk` subcommands. Each takes parsed options and an IO pair and resolves to an exit status, or
 * throws (bin/zk.ts turns the error into one line on stderr). Kept out of lib/ because it prints.
 */
import { randomInt } from 'node:crypto';
import * as fs from 'node:fs';
import { Writable } from 'node:stream';
import { ZkClient } from '../lib/client';
import { startSimulators } from '../lib/sim';
import { createPushDevices } from '../lib/sim/push-fleet';
import type { PushTrouble } from '../lib/sim/push-device';
import { DeviceAttendance } from '../lib/protocol/attendance';
import { AttendanceEvent, ZkEvent } from '../lib/protocol/events';
import { AttendanceRecord, CanonicalContext, RecordAnomaly, toCanonicalRecord } from '../lib/record/canonical';
import { FetchCommand, InfoCommand, LiveCommand, SimCommand, UsersCommand, DeviceTarget } from '../lib/cli/args';
import { UsageError } from '../lib/cli/args';
import type { ClearCommand, RestartCommand, TimeCommand, UnlockCommand } from '../lib/cli/args';
import { InterruptedError } from '../lib/cli/errors';
import { infoSummary, ndjsonLine, printableUser, usersTable } from '../lib/cli/format';
import { csvHeader, csvRecordRow } from '../lib/record/csv';

export interface Interrupt {
  signal: Promise<void>;
  dispose(): void;
}

export interface CliIo {
  stdout: Writable;
  stderr: Writable;
  /** Starts listening for SIGINT/SIGTERM: `signal` resolves on the first; dispose() restores the default. */
  onInterrupt: () => Interrupt;
}

/** Writes and waits for the stream to take more, so 100,000 records never pile up in memory twice. */
export function write(stream: Writable, chunk: string): Promise<void> {
  if (chunk === '') return Promise.resolve();
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    stream.once('error', onError);
    const ok = stream.write(chunk, () => undefined);
    const done = () => {
      stream.off('error', onError);
      resolve();
    };
    if (ok) done();
    else stream.once('drain', done);
  });
}

function warn(io: CliIo, message: string): Promise<void> {
  return write(io.stderr, `zk: warning: ${message}\n`);
}

export function clientFor(t: DeviceTarget, tz?: string): ZkClient {
  return new ZkClient({
    host: t.host,
    port: t.port,
    transport: t.udp ? 'udp' : 'tcp',
    commKey: t.commKey,
    timeoutMs: t.timeoutMs,
    tz,
  });
}

/**
 * After Ctrl-C the user wants out: close politely, but a close queued behind a command the device never
 * answers (it waits for that command's timeout) must not hold the exit; the process end drops the socket.
 */
async function closeClient(client: ZkClient, interrupted: boolean): Promise<void> {
  if (!interrupted) return client.close();
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([client.close(), new Promise<void>((r) => (timer = setTimeout(r, 1000)))]);
  clearTimeout(timer);
}

/**
 * connect → fn → close, closing on every path (a device keeps a stale session otherwise). Ctrl-C in the
 * middle closes the session properly (EXIT) instead of dropping the socket, then throws InterruptedError.
 */
export async function withClient<T>(client: ZkClient, io: CliIo, fn: (c: ZkClient) => Promise<T>): Promise<T> {
  const interrupt = io.onInterrupt();
  let interrupted = false;
  const stop = interrupt.signal.then((): never => {
    interrupted = true;
    throw new InterruptedError();
  });
  stop.catch(() => undefined);
  try {
    await Promise.race([client.connect(), stop]);
    return await Promise.race([fn(client), stop]);
  } finally {
    interrupt.dispose();
    await closeClient(client, interrupted);
  }
}

// ---- sim ----

/**
 * Without --seed the seed is the port (device i: port + i), so simulators on other ports never share a serial
 * and their record ids never collide; with port 0 nothing is known yet, so a random one.
 */
export function simSeed(o: Pick<SimCommand, 'seed' | 'port'>): number {
  if (o.seed !== undefined) return o.seed;
  return o.port !== 0 ? o.port : randomInt(65536, 0xffffffff - 1000);
}

export async function runSim(o: SimCommand, io: CliIo): Promise<number> {
  if (o.push !== undefined) return runPushSim(o, o.push, io);
  const sims = await startSimulators({
    devices: o.devices,
    basePort: o.port,
    host: o.host,
    profile: o.profile,
    seed: simSeed(o),
    userIds: o.userIds,
    users: o.users,
    records: o.records,
    commKey: o.commKey,
    liveEveryMs: o.liveEveryMs,
    tz: o.tz,
    transports: o.udp ? 'udp' : 'tcp+udp',
  });
  // Listening before the ready lines: a caller may signal as soon as it reads them.
  const interrupt = io.onInterrupt();
  try {
    for (const sim of sims) {
      const { host, port } = sim.address;
      const ready = {
        ready: true,
        host,
        port,
        serial: sim.serial,
        records: sim.records.length,
        users: sim.users.length,
        liveEvery: o.liveEveryMs / 1000,
      };
      await write(io.stdout, ndjsonLine(ready));
    }
    await interrupt.signal;
  } finally {
    interrupt.dispose();
    await Promise.all(sims.map((s) => s.stop()));
  }
  return 0;
}

/** What a refused or unreachable simulated push device means, and what to change (one stderr line). */
export function pushTroubleText(t: PushTrouble, url: string): string {
  const retry = `the device keeps its punches and retries every ${Math.round(t.retryMs / 1000)} s`;
  if (t.kind === 'unreachable')
    return `zk: ${t.serial}: cannot reach the push server at ${url} (${t.message}): is Node-RED running with a deployed zk-push node on that port? ${retry}\n`;
  const what = `${t.serial}: refused by ${url} (HTTP ${t.status}${t.reply ? ` ${t.reply}` : ''})`;
  if (t.status === 403) {
    return `zk: ${what}: add ${t.serial} to the zk-push node's Devices list (one serial per line) and deploy, or set its Unknown serials to accept; ${retry}\n`;
  }
  if (t.status === 401)
    return `zk: ${what}: the zk-push node has a Token set, which simulated devices do not send: clear it to try them; ${retry}\n`;
  return `zk: ${what}; ${retry}\n`;
}

/** `zk sim --push URL`: devices that push to a server, one ready line each once it accepted them. */
async function runPushSim(o: SimCommand, url: string, io: CliIo): Promise<number> {
  const interrupt = io.onInterrupt();
  // Each refusal or network failure once per device and kind, not once per retry.
  const told = new Set<string>();
  const onTrouble = (t: PushTrouble): void => {
    const key = `${t.serial}|${t.kind === 'refused' ? t.status : 'unreachable'}`;
    if (told.has(key)) return;
    told.add(key);
    void write(io.stderr, pushTroubleText(t, url)).catch(() => undefined);
  };
  const { devices, agent } = createPushDevices({
    url,
    devices: o.devices,
    seed: o.seed,
    users: o.users,
    records: o.records ?? 100,
    tz: o.tz,
    onTrouble,
  });
  try {
    for (const d of devices) d.start();
    // No deadline: like a real device, the simulator waits until it is let in (or Ctrl-C), saying why not.
    const ready = await Promise.race([
      Promise.all(devices.map((d) => d.ready)).then(() => true),
      interrupt.signal.then(() => false),
    ]);
    if (!ready) return 0;
    for (const d of devices) {
      await write(
        io.stdout,
        ndjsonLine({
          ready: true,
          push: url,
          serial: d.serial,
          records: d.records.length,
          users: d.users.length,
          tz: d.tz,
        }),
      );
    }
    await interrupt.signal;
  } finally {
    interrupt.dispose();
    await Promise.all(devices.map((d) => d.stop()));
    agent.destroy();
  }
  return 0;
}

// ---- info, users ----

export async function runInfo(o: InfoCommand, io: CliIo): Promise<number> {
  const info = await withClient(clientFor(o, o.tz), io, (c) => c.info());
  await write(io.stdout, o.json ? ndjsonLine(info) : infoSummary(info));
  return 0;
}

export async function runUsers(o: UsersCommand, io: CliIo): Promise<number> {
  const users = await withClient(clientFor(o), io, (c) => c.users());
  if (o.json) {
    for (let i = 0; i < users.length; i += 1000) {
      await write(
        io.stdout,
        users
          .slice(i, i + 1000)
          .map((u) => ndjsonLine(printableUser(u)))
          .join(''),
      );
    }
  } else {
    await write(io.stdout, usersTable(users));
  }
  return 0;
}

// ---- records ----

/** At most this many anomaly lines per run; the rest are only counted, so stderr stays readable. */
const MAX_ANOMALY_LINES = 20;

class AnomalyReporter {
  count = 0;
  constructor(private readonly io: CliIo) {}
  async report(a: RecordAnomaly): Promise<void> {
    this.count++;
    if (this.count <= MAX_ANOMALY_LINES) await warn(this.io, `${a.message} — skipped`);
  }
  async finish(total: number): Promise<void> {
    if (this.count > MAX_ANOMALY_LINES || (this.count > 0 && total > this.count)) {
      await warn(this.io, `skipped ${this.count} of ${total} records with invalid or implausible times`);
    }
  }
}

function deviceContext(
  o: DeviceTarget & { tz: string },
  serial: string | null,
  deviceName: string | null,
  source: 'poll' | 'live',
): CanonicalContext {
  const label = `${o.host}:${o.port}`;
  return { deviceSn: serial ?? label, deviceName, site: null, deviceHost: label, tz: o.tz, source };
}

export async function runFetch(o: FetchCommand, io: CliIo): Promise<number> {
  const { info, records } = await withClient(clientFor(o, o.tz), io, async (c) => {
    const i = await c.info();
    const a = await c.attendance();
    return { info: i, records: a.records };
  });
  if (!info.serial) await warn(io, `device ${o.host}:${o.port} reports no serial number; using host:port as deviceSn`);
  const ctx = {
    ...deviceContext(o, info.serial || null, info.deviceName, 'poll'),
    receivedAt: new Date().toISOString(),
  };
  const anomalies = new AnomalyReporter(io);

  let out: Writable = io.stdout;
  let file: fs.WriteStream | null = null;
  if (o.out !== null) {
    // Opened only after the download succeeded: a failed fetch leaves no half-written file behind.
    file = fs.createWriteStream(o.out, { flags: 'w' });
    await new Promise<void>((resolve, reject) => {
      file?.once('open', () => resolve());
      file?.once('error', reject);
    });
    out = file;
  }
  let written = 0;
  try {
    if (o.format === 'csv') await write(out, csvHeader());
    let chunk = '';
    for (const rec of records as DeviceAttendance[]) {
      const r = toCanonicalRecord(rec, ctx);
      if (!r.ok) {
        await anomalies.report(r.anomaly);
        continue;
      }
      const lt = r.record.localTime;
      if ((o.since !== null && lt < o.since) || (o.until !== null && lt > o.until)) continue;
      chunk += o.format === 'csv' ? csvRecordRow(r.record) : ndjsonLine(r.record);
      written++;
      if (chunk.length > 256 * 1024) {
        await write(out, chunk);
        chunk = '';
      }
    }
    await write(out, chunk);
  } finally {
    if (file) {
      const f = file;
      await new Promise<void>((resolve, reject) => f.end((err?: Error | null) => (err ? reject(err) : resolve())));
    }
  }
  await anomalies.finish(records.length);
  if (o.out !== null) await write(io.stdout, `wrote ${written} records to ${o.out}\n`);
  return 0;
}

export async function runLive(o: LiveCommand, io: CliIo): Promise<number> {
  const client = clientFor(o, o.tz);
  const interrupt = io.onInterrupt();
  let interrupted = false;
  void interrupt.signal.then(() => (interrupted = true));
  try {
    const setup = (async () => {
      await client.connect();
      const info = await client.info();
      // Users first, so events that carry only a uid (10/14-byte bodies) get their real user id.
      const live = await client.live({ eventMask: 1, resolveUsers: true });
      return { info, live };
    })();
    setup.catch(() => undefined);
    // Ctrl-C while connecting is an interruption (130); once listening, it is the normal way to stop (0).
    const ready = await Promise.race([setup, interrupt.signal.then(() => null)]);
    if (ready === null) throw new InterruptedError();
    const { info, live } = ready;
    const ctx = deviceContext(o, info.serial || null, info.deviceName, 'live');
    const anomalies = new AnomalyReporter(io);
    // Always, not only on a terminal: a live stream that prints nothing looks hung (stdout stays records only).
    await write(
      io.stderr,
      `zk: connected to ${o.host}:${o.port} (serial ${ctx.deviceSn}); waiting for punches, Ctrl-C to stop\n`,
    );
    let printed = 0;
    await new Promise<void>((resolve, reject) => {
      let queue = Promise.resolve();
      live.on('event', (e: ZkEvent) => {
        if (e.kind !== 'attendance') return;
        // Serialised so lines keep event order even when stdout is slow.
        queue = queue
          .then(async () => {
            if (o.count !== null && printed >= o.count) return;
            const r = toCanonicalRecord(e as AttendanceEvent, { ...ctx, receivedAt: new Date().toISOString() });
            if (!r.ok) return anomalies.report(r.anomaly);
            await write(io.stdout, ndjsonLine(r.record as AttendanceRecord));
            printed++;
            if (o.count !== null && printed >= o.count) resolve();
          })
          .catch(reject);
      });
      live.on('error', reject);
      live.on('close', (err: Error | null) => (err ? reject(err) : resolve()));
      if (interrupted) resolve();
      void interrupt.signal.then(() => resolve());
    });
    await live.stop();
    return 0;
  } finally {
    interrupt.dispose();
    await closeClient(client, interrupted);
  }
}

// ---- device commands: time, clear, unlock, restart ----

const signedSec = (n: number | null): string =>
  n === null ? 'unknown (the device shows an impossible time)' : `${n > 0 ? '+' : ''}${n} s`;

export async function runTime(o: TimeCommand, io: CliIo): Promise<number> {
  const label = `${o.host}:${o.port}`;
  if (!o.sync || o.dryRun) {
    // Read only: the device's clock and its drift, and with --dry-run whether --sync would set it.
    const info = await withClient(clientFor(o, o.tz), io, (c) => c.info());
    const would = info.clockDriftSec === null || Math.abs(info.clockDriftSec) > o.thresholdSec;
    if (o.json) {
      await write(
        io.stdout,
        ndjsonLine({
          host: label,
          deviceTime: info.deviceTime,
          driftSec: info.clockDriftSec,
          tz: o.tz,
          ...(o.dryRun ? { dryRun: true, wouldSet: would } : {}),
        }),
      );
    } else {
      await write(
        io.stdout,
        `${label}: clock ${info.deviceTime ?? 'impossible'}, ${signedSec(info.clockDriftSec)} from this computer (${o.tz})\n`,
      );
      if (o.dryRun)
        await write(
          io.stdout,
          `dry run: --sync would ${would ? 'set it' : `leave it (within ${o.thresholdSec} s)`}; nothing was changed\n`,
        );
    }
    return 0;
  }
  const r = await withClient(clientFor(o, o.tz), io, (c) => c.syncClock({ thresholdSec: o.thresholdSec, tz: o.tz }));
  if (o.json) await write(io.stdout, ndjsonLine({ host: label, ...r }));
  else if (r.set)
    await write(io.stdout, `${label}: clock was ${signedSec(r.driftSec)} off; set to ${r.hostTime} (${r.tz})\n`);
  else
    await write(io.stdout, `${label}: clock is ${signedSec(r.driftSec)} off, within ${o.thresholdSec} s; left alone\n`);
  return 0;
}

/**
 * Saves the records (and, as raw lines, the ones with impossible times) to `file`, flushed to disk, and reads
 * the file back: the safe clear goes ahead only when it holds one line per downloaded record.
 */
async function saveForClear(file: string, records: DeviceAttendance[], ctx: CanonicalContext): Promise<boolean> {
  let text = '';
  for (const rec of records) {
    const r = toCanonicalRecord(rec, ctx);
    text += r.ok ? ndjsonLine(r.record) : ndjsonLine({ anomaly: r.anomaly });
  }
  // 'wx': never overwrite an earlier save (it may hold the only copy of a log cleared before).
  const fh = await fs.promises.open(file, 'wx');
  try {
    await fh.writeFile(text);
    await fh.sync();
  } finally {
    await fh.close();
  }
  const back = await fs.promises.readFile(file, 'utf8');
  return back === text && back.split('\n').length - 1 === records.length;
}

export async function runClear(o: ClearCommand, io: CliIo): Promise<number> {
  const label = `${o.host}:${o.port}`;
  if (o.dryRun) {
    const n = await withClient(clientFor(o, o.tz), io, async (c) => (await c.freeSizes()).records);
    await write(
      io.stdout,
      `dry run: zk clear --safe would save ${n} records from ${label}${o.out ? ` to ${o.out}` : ''} and then clear them; nothing was changed\n`,
    );
    return 0;
  }
  if (fs.existsSync(o.out))
    throw new UsageError(`--out ${o.out} exists: choose a new file (an earlier save is never overwritten)`);
  const r = await withClient(clientFor(o, o.tz), io, async (c) => {
    const serial = await c.option('~SerialNumber');
    const ctx = { ...deviceContext(o, serial || null, null, 'poll'), receivedAt: new Date().toISOString() };
    return c.safeClear({ confirmStored: (records) => saveForClear(o.out, records, ctx) });
  });
  if (o.json) await write(io.stdout, ndjsonLine({ host: label, out: o.out, ...r }));
  if (!r.cleared) {
    if (!o.json) await write(io.stderr, `zk: ${label}: not cleared: ${r.reason ?? 'unknown reason'}\n`);
    return 1;
  }
  if (!o.json)
    await write(io.stdout, `${label}: saved ${r.downloaded} records to ${o.out}, then cleared them from the device\n`);
  return 0;
}

export async function runUnlock(o: UnlockCommand, io: CliIo): Promise<number> {
  const label = `${o.host}:${o.port}`;
  if (o.dryRun) {
    const serial = await withClient(clientFor(o), io, (c) => c.option('~SerialNumber'));
    await write(
      io.stdout,
      `dry run: would unlock the door of ${label} (serial ${serial ?? 'unknown'}) for ${o.seconds} s; nothing was sent\n`,
    );
    return 0;
  }
  await withClient(clientFor(o), io, (c) => c.unlock(o.seconds));
  await write(io.stdout, `${label}: door unlocked for ${o.seconds} s\n`);
  return 0;
}

export async function runRestart(o: RestartCommand, io: CliIo): Promise<number> {
  const label = `${o.host}:${o.port}`;
  if (o.dryRun) {
    const serial = await withClient(clientFor(o), io, (c) => c.option('~SerialNumber'));
    await write(io.stdout, `dry run: would restart ${label} (serial ${serial ?? 'unknown'}); nothing was sent\n`);
    return 0;
  }
  await withClient(clientFor(o), io, (c) => c.restart());
  await write(io.stdout, `${label}: restarting; it is back in about a minute\n`);
  return 0;
}
