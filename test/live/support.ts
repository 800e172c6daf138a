import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { ZkClient } from '../../lib/client';
import { DeviceSession, normaliseDeviceConfig } from '../../lib/device';
import { ZkSimulator, SimOptions } from '../../lib/sim';
import { CursorStore } from '../../lib/fleet/cursor-store';
import { LiveCapture, LiveCaptureOptions, RetryInfo } from '../../lib/live';
import type { AttendanceRecord, RecordAnomaly } from '../../lib/record/canonical';
import type { DeviceStatusEvent } from '../../lib/record/status';
import type { RawEvent } from '../../lib/protocol/events';
import type { WallClock } from '../../lib/protocol/time';
import { instantToWallClock } from '../../lib/record/zone';

export const HOST = '127.0.0.1';

export function tmpDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'pf-live-'));
}

/** The simulator's wall clock (zone UTC) `offsetSec` from now: distinct, increasing punch times. */
export function wallAt(offsetSec: number): WallClock {
  return instantToWallClock(Date.now() + offsetSec * 1000, 'UTC');
}

export interface Rig {
  sim: ZkSimulator;
  port: number;
  session: DeviceSession;
  store: CursorStore;
  dir: string;
  cap: LiveCapture;
  records: AttendanceRecord[];
  anomalies: RecordAnomaly[];
  raw: RawEvent[];
  statuses: DeviceStatusEvent[];
  retries: RetryInfo[];
  /** A new capture on the same session and store (the old one must be stopped first). */
  recapture(opts?: Partial<LiveCaptureOptions>): LiveCapture;
  close(): Promise<void>;
}

export interface RigOptions {
  sim?: SimOptions;
  capture?: Partial<LiveCaptureOptions>;
  heartbeatMs?: number;
  timeoutMs?: number;
  dir?: string;
}

/** A simulator, a device session with short timeouts, a cursor store in a temp dir, and a capture collecting its output. */
export async function rig(o: RigOptions = {}): Promise<Rig> {
  const sim = new ZkSimulator({ host: HOST, port: 0, users: 10, records: 20, seed: 7, ...o.sim });
  const { port } = await sim.start();
  const timeoutMs = o.timeoutMs ?? 800;
  const cfg = normaliseDeviceConfig({ host: HOST, port, tz: 'UTC', timeoutMs, name: 'Door', site: 'HQ' });
  const session = new DeviceSession(cfg, {
    createClient: (c) =>
      new ZkClient({
        host: c.host,
        port: c.port,
        transport: 'tcp',
        timeoutMs: c.timeoutMs,
        tz: c.tz,
        heartbeatMs: o.heartbeatMs ?? 30000,
      }),
  });
  const dir = o.dir ?? tmpDir();
  const store = new CursorStore(dir);
  const out = {
    records: [] as AttendanceRecord[],
    anomalies: [] as RecordAnomaly[],
    raw: [] as RawEvent[],
    statuses: [] as DeviceStatusEvent[],
    retries: [] as RetryInfo[],
  };
  const make = (extra: Partial<LiveCaptureOptions> = {}): LiveCapture => {
    const cap = new LiveCapture(session, {
      cursors: store,
      ...o.capture,
      ...extra,
      health: { backoffBaseMs: 50, backoffMaxMs: 400, jitter: 0, ...o.capture?.health, ...extra.health },
    });
    cap.on('record', (r) => out.records.push(r));
    cap.on('anomaly', (a) => out.anomalies.push(a));
    cap.on('raw', (e) => out.raw.push(e));
    cap.on('status', (s) => out.statuses.push(s));
    cap.on('retry', (r) => out.retries.push(r));
    return cap;
  };
  const r: Rig = {
    sim,
    port,
    session,
    store,
    dir,
    cap: make(),
    ...out,
    recapture(extra) {
      r.cap = make(extra);
      return r.cap;
    },
    async close() {
      await r.cap.stop();
      await session.close();
      await sim.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  return r;
}

/** Fails with the repeated ids if any record id came out twice. */
export function duplicateIds(records: readonly AttendanceRecord[]): string[] {
  const seen = new Set<string>();
  const dups: string[] = [];
  for (const r of records) {
    if (seen.has(r.id)) dups.push(r.id);
    seen.add(r.id);
  }
  return dups;
}
