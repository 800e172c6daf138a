/** Canonical records for the sink tests: deterministic, valid against lib/record's schema unless overridden. */
import type { AttendanceRecord } from '../../lib/record';

export function makeRecord(over: Partial<AttendanceRecord> = {}): AttendanceRecord {
  const base: AttendanceRecord = {
    id: '',
    deviceSn: 'OID6110056101900165',
    deviceName: 'Front door',
    site: 'HQ',
    deviceHost: '192.168.1.201:4370',
    userId: '1',
    uid: 1,
    localTime: '2024-03-01T08:00:00',
    timestamp: '2024-03-01T07:00:00.000Z',
    tz: 'Europe/Berlin',
    state: 0,
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

/** n distinct punches: users cycle, one punch per user per minute. */
export function makeRecords(n: number, over: Partial<AttendanceRecord> = {}, users = 50): AttendanceRecord[] {
  const out: AttendanceRecord[] = [];
  for (let i = 0; i < n; i++) {
    const minute = Math.floor(i / users);
    const t = new Date(Date.UTC(2024, 2, 1, 8, 0, 0) + minute * 60_000);
    const localTime = t.toISOString().slice(0, 19);
    out.push(makeRecord({ userId: String((i % users) + 1), uid: (i % users) + 1, localTime, state: i % 2, ...over }));
  }
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
  '\\\'',
  'Zoë ünïcødé ✓',
  '{ts \'2020-01-01 00:00:00\'}',
  '@p0',
  '?',
];
