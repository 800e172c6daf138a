/** Canonical records for the sink tests: deterministic, valid against the schema. */
import type { AttendanceRecord } from '../../../lib/record';

export function makeRecord(i: number, over: Partial<AttendanceRecord> = {}): AttendanceRecord {
  const deviceSn = over.deviceSn ?? `SN${String(i % 5).padStart(4, '0')}`;
  const userId = over.userId ?? String(1 + (i % 500));
  // One punch every 7 s from 2024-03-04 06:00 UTC (device zone UTC): ids are distinct for distinct i.
  const t = new Date(Date.UTC(2024, 2, 4, 6, 0, 0) + i * 7000);
  const localTime = over.localTime ?? t.toISOString().slice(0, 19);
  const base: AttendanceRecord = {
    id: `${deviceSn}|${userId}|${localTime}`,
    deviceSn,
    deviceName: 'Front door',
    site: 'HQ',
    deviceHost: '10.0.0.5:4370',
    userId,
    uid: i % 500,
    localTime,
    timestamp: `${localTime}.000Z`,
    tz: 'UTC',
    state: i % 2,
    direction: i % 2 === 0 ? 'in' : 'out',
    verify: 1,
    verifyMethod: 'fingerprint',
    workCode: 0,
    source: 'poll',
    receivedAt: '2024-03-04T12:00:00.000Z',
  };
  const r = { ...base, ...over };
  r.id = `${r.deviceSn}|${r.userId}|${r.localTime}`;
  return r;
}

export function makeRecords(n: number, from = 0): AttendanceRecord[] {
  const out: AttendanceRecord[] = [];
  for (let i = from; i < from + n; i++) out.push(makeRecord(i));
  return out;
}
