/**
 * Deterministic canonical records for sink tests and bench/sink: `devices` devices × `users` users, each
 * user punching once per `stepSec` seconds, so every record has its own key. Wall clocks are computed with
 * UTC arithmetic only (no local getters), so the generator itself is zone-proof.
 */
import type { AttendanceRecord } from '../lib/record';

export interface SyntheticOptions {
  devices?: number;
  users?: number;
  /** First punch, device wall clock. */
  start?: string;
  stepSec?: number;
  /** Device zone offset in minutes east of UTC (for `timestamp`); the zone name goes into `tz`. */
  offsetMin?: number;
  tz?: string;
  source?: AttendanceRecord['source'];
  /** Index of the first record (to continue a stream). */
  from?: number;
}

// A stream has only a few hundred distinct seconds: formatting each once keeps the generator out of bench/sink's
// profile (it stands for the upstream capture node, not for the sink being measured).
const timeCache = new Map<string, { localTime: string; timestamp: string }>();

function timesAt(wallMs: number, offsetMin: number): { localTime: string; timestamp: string } {
  const key = `${wallMs}/${offsetMin}`;
  let t = timeCache.get(key);
  if (!t) {
    t = {
      localTime: new Date(wallMs).toISOString().slice(0, 19),
      timestamp: new Date(wallMs - offsetMin * 60000).toISOString(),
    };
    if (timeCache.size > 100_000) timeCache.clear();
    timeCache.set(key, t);
  }
  return t;
}

export function syntheticRecord(i: number, o: SyntheticOptions = {}): AttendanceRecord {
  const devices = o.devices ?? 5;
  const users = o.users ?? 500;
  const stepSec = o.stepSec ?? 7;
  const startMs = Date.parse((o.start ?? '2025-03-01T08:00:00') + 'Z');
  const device = i % devices;
  const user = Math.floor(i / devices) % users;
  const round = Math.floor(i / (devices * users));
  const wallMs = startMs + (round * stepSec + (user % stepSec)) * 1000;
  const { localTime, timestamp } = timesAt(wallMs, o.offsetMin ?? 0);
  const deviceSn = `SIM${String(1000000000 + device)}`;
  const userId = String(100 + user);
  const state = i % 2;
  return {
    id: `${deviceSn}|${userId}|${localTime}`,
    deviceSn,
    deviceName: `Gate ${device + 1}`,
    site: 'HQ',
    deviceHost: `127.0.0.1:${4370 + device}`,
    userId,
    uid: user + 1,
    localTime,
    timestamp,
    tz: o.tz ?? 'UTC',
    state,
    direction: state === 0 ? 'in' : 'out',
    verify: 1,
    verifyMethod: 'fingerprint',
    workCode: 0,
    source: o.source ?? 'poll',
    receivedAt: '2025-03-01T09:00:00.123Z',
  };
}

export function syntheticRecords(n: number, o: SyntheticOptions = {}): AttendanceRecord[] {
  const from = o.from ?? 0;
  const out = new Array<AttendanceRecord>(n);
  for (let k = 0; k < n; k++) out[k] = syntheticRecord(from + k, o);
  return out;
}
