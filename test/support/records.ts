/**
 * The one canonical-record factory of the tests: deterministic records, valid against lib/record's schema unless
 * `over` says otherwise. Record i is user 1 + (i mod users) punching in minute floor(i / users) after
 * 2024-03-01 08:00 on a Berlin device (UTC+1 then), so distinct i give distinct ids.
 * For long generated streams (benches, MySQL), support/sink-records.ts.
 */
import type { AttendanceRecord } from '../../lib/record';

const START_UTC_MS = Date.UTC(2024, 2, 1, 7, 0, 0);
const BERLIN_MS = 60 * 60_000;

/** Record `i` (default the first) with `over` on top; the id follows deviceSn|userId|localTime unless `over` sets it. */
export function makeRecord(i = 0, over: Partial<AttendanceRecord> = {}, users = 50): AttendanceRecord {
  const instant = START_UTC_MS + Math.floor(i / users) * 60_000;
  const base: AttendanceRecord = {
    id: '',
    deviceSn: 'OID6110056101900165',
    deviceName: 'Front door',
    site: 'HQ',
    deviceHost: '192.168.1.201:4370',
    userId: String((i % users) + 1),
    uid: (i % users) + 1,
    localTime: new Date(instant + BERLIN_MS).toISOString().slice(0, 19),
    timestamp: new Date(instant).toISOString(),
    tz: 'Europe/Berlin',
    state: i % 2,
    direction: 'in',
    verify: 1,
    verifyMethod: 'fingerprint',
    workCode: 0,
    source: 'poll',
    receivedAt: '2024-03-01T07:00:05.123Z',
  };
  const r = { ...base, ...over };
  if (!over.id) r.id = `${r.deviceSn}|${r.userId}|${r.localTime}`;
  return r;
}

export interface MakeRecordsOptions {
  /** Index of the first record (to continue a stream). */
  from?: number;
  /** How many users take turns (one punch per user per minute). */
  users?: number;
  over?: Partial<AttendanceRecord>;
}

/** Records from..from+n-1 (see makeRecord). */
export function makeRecords(n: number, o: MakeRecordsOptions = {}): AttendanceRecord[] {
  const from = o.from ?? 0;
  const out: AttendanceRecord[] = [];
  for (let i = from; i < from + n; i++) out.push(makeRecord(i, o.over, o.users));
  return out;
}

/** Text that must land verbatim (or be rejected cleanly), never be executed. */
export const NASTY_STRINGS = [
  "'; DROP TABLE attendance_log;--",
  "1' OR '1'='1",
  "x'); DELETE FROM CHECKINOUT; --",
  'a]b[c',
  '/* comment */ --',
  "O'Brien",
  "\\'",
  'Zoë ünïcødé ✓',
  "{ts '2020-01-01 00:00:00'}",
  '@p0',
  '?',
];
