import assert from 'node:assert/strict';
import { DeviceAttendance } from '../../lib/protocol/attendance';
import { AttendanceEvent, decodeEvent, encodeAttEventBody } from '../../lib/protocol/events';
import { EventFlag } from '../../lib/protocol/constants';
import { decodeTime, encodeTime, wallClockFromEpoch } from '../../lib/protocol/time';
import {
  ATTENDANCE_RECORD_FIELDS,
  AttendanceRecord,
  CanonicalContext,
  DIRECTIONS,
  VERIFY_METHODS,
  toCanonicalRecord,
} from '../../lib/record/canonical';

const T = { year: 2024, month: 3, day: 15, hour: 13, minute: 45, second: 7 };

function polled(over: Partial<DeviceAttendance> = {}): DeviceAttendance {
  const time = over.time ?? T;
  return { uid: 13, userId: '999111333', verify: 1, state: 0, time, rawTime: encodeTime(time), workCode: 0, ...over };
}

const ctx: CanonicalContext = {
  deviceSn: 'SIM0000000001',
  deviceName: 'Front door',
  site: 'HQ',
  deviceHost: '127.0.0.1:4370',
  tz: 'Europe/Berlin',
  source: 'poll',
  receivedAt: '2024-03-15T12:46:00.000Z',
};

function ok(r: ReturnType<typeof toCanonicalRecord>): AttendanceRecord {
  if (!r.ok) throw new Error(`unexpected anomaly: ${r.anomaly.message}`);
  return r.record;
}

describe('record/canonical', () => {
  it('builds the full record of docs/architecture.md §3', () => {
    const r = toCanonicalRecord(polled({ workCode: 7 }), ctx);
    assert.ok(r.ok);
    assert.equal(r.timeFlag, null);
    assert.deepEqual(r.record, {
      id: 'SIM0000000001|999111333|2024-03-15T13:45:07',
      deviceSn: 'SIM0000000001',
      deviceName: 'Front door',
      site: 'HQ',
      deviceHost: '127.0.0.1:4370',
      userId: '999111333',
      uid: 13,
      localTime: '2024-03-15T13:45:07',
      timestamp: '2024-03-15T12:45:07.000Z',
      tz: 'Europe/Berlin',
      state: 0,
      direction: 'in',
      verify: 1,
      verifyMethod: 'fingerprint',
      workCode: 7,
      source: 'poll',
      receivedAt: '2024-03-15T12:46:00.000Z',
    });
    assert.deepEqual(Object.keys(r.record), [...ATTENDANCE_RECORD_FIELDS]);
  });

  it('defaults deviceName, site, deviceHost to null and receivedAt to now', () => {
    const before = Date.now();
    const rec = ok(toCanonicalRecord(polled(), { deviceSn: 'X', tz: 'UTC', source: 'push' }));
    assert.equal(rec.deviceName, null);
    assert.equal(rec.site, null);
    assert.equal(rec.deviceHost, null);
    assert.match(rec.receivedAt, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    assert.ok(Date.parse(rec.receivedAt) >= before - 1);
    assert.equal(rec.timestamp, '2024-03-15T13:45:07.000Z');
  });

  it('maps punch states to directions, keeping unknown states raw', () => {
    const expected: [number, string][] = [
      [0, 'in'],
      [1, 'out'],
      [2, 'break-out'],
      [3, 'break-in'],
      [4, 'overtime-in'],
      [5, 'overtime-out'],
      [6, 'unknown'],
      [255, 'unknown'],
    ];
    for (const [state, direction] of expected) {
      const rec = ok(toCanonicalRecord(polled({ state }), ctx));
      assert.equal(rec.direction, direction, `state ${state}`);
      assert.equal(rec.state, state);
    }
  });

  it('applies a per-device direction map over the defaults', () => {
    const c = { ...ctx, directionMap: { 0: 'out', 8: 'in' } as const };
    assert.equal(ok(toCanonicalRecord(polled({ state: 0 }), c)).direction, 'out');
    assert.equal(ok(toCanonicalRecord(polled({ state: 8 }), c)).direction, 'in');
    assert.equal(ok(toCanonicalRecord(polled({ state: 1 }), c)).direction, 'out');
  });

  it('maps verify types to methods', () => {
    const expected: [number, string][] = [
      [0, 'password'],
      [1, 'fingerprint'],
      [2, 'card'],
      [15, 'face'],
      [25, 'palm'],
      [3, 'other'],
      [4, 'other'],
      [200, 'other'],
    ];
    for (const [verify, method] of expected) {
      const rec = ok(toCanonicalRecord(polled({ verify }), ctx));
      assert.equal(rec.verifyMethod, method, `verify ${verify}`);
      assert.equal(rec.verify, verify);
    }
    assert.equal(
      ok(toCanonicalRecord(polled({ verify: 4 }), { ...ctx, verifyMap: { 4: 'card' } })).verifyMethod,
      'card',
    );
  });

  it('keeps long user ids whole and the uid null when the record has none', () => {
    const id = 'A23456789012345678901234';
    const rec = ok(toCanonicalRecord(polled({ userId: id, uid: null }), ctx));
    assert.equal(rec.userId, id);
    assert.equal(rec.uid, null);
    assert.equal(rec.id, `SIM0000000001|${id}|2024-03-15T13:45:07`);
  });

  it('reports DST flags without changing localTime', () => {
    const gap = toCanonicalRecord(polled({ time: { ...T, month: 3, day: 31, hour: 2, minute: 30, second: 0 } }), ctx);
    assert.ok(gap.ok);
    assert.equal(gap.timeFlag, 'gap');
    assert.equal(gap.record.localTime, '2024-03-31T02:30:00');
    assert.equal(gap.record.timestamp, '2024-03-31T01:30:00.000Z');
    const amb = toCanonicalRecord(polled({ time: { ...T, month: 10, day: 27, hour: 2, minute: 30, second: 0 } }), ctx);
    assert.ok(amb.ok);
    assert.equal(amb.timeFlag, 'ambiguous');
    assert.equal(amb.record.timestamp, '2024-10-27T00:30:00.000Z');
  });

  it('returns an anomaly for an impossible date instead of rolling it over', () => {
    const raw = encodeTime({ ...T, month: 2, day: 31 });
    const r = toCanonicalRecord(polled({ rawTime: raw, time: decodeTime(raw) }), ctx);
    assert.equal(r.ok, false);
    if (r.ok) return;
    assert.equal(r.anomaly.reason, 'invalid-time');
    assert.equal(r.anomaly.localTime, '2024-02-31T13:45:07');
    assert.equal(r.anomaly.rawTime, raw);
    assert.equal(r.anomaly.deviceSn, 'SIM0000000001');
    assert.match(r.anomaly.message, /SIM0000000001 \(127\.0\.0\.1:4370\).*999111333.*2024-02-31T13:45:07.*raw 0x/);
  });

  it('returns an anomaly for a cleared clock (before 2000-01-02) and for times past notAfterMs', () => {
    const zero = toCanonicalRecord(polled({ rawTime: 0, time: decodeTime(0) }), ctx);
    assert.ok(!zero.ok && zero.anomaly.reason === 'implausible-time');
    const future = toCanonicalRecord(polled(), { ...ctx, notAfterMs: Date.UTC(2024, 0, 1) });
    assert.ok(!future.ok && future.anomaly.reason === 'future-time');
    assert.ok(toCanonicalRecord(polled(), { ...ctx, notAfterMs: Date.UTC(2025, 0, 1) }).ok);
  });

  it('never throws for garbage fields in an event', () => {
    const e: AttendanceEvent = {
      kind: 'attendance',
      code: EventFlag.ATTLOG,
      userId: '7',
      userNumber: null,
      userResolved: true,
      verify: 1,
      state: 0,
      stateByte: 0,
      time: { year: 2255, month: 200, day: 0, hour: 99, minute: 99, second: 99 },
      timeValid: false,
      bodyLength: 32,
      extra: Buffer.alloc(0),
    };
    const r = toCanonicalRecord(e, { ...ctx, source: 'live' });
    assert.ok(!r.ok && r.anomaly.reason === 'invalid-time' && r.anomaly.rawTime === null);
  });

  it('converts realtime events (string and uid bodies)', () => {
    const [e32] = decodeEvent(
      EventFlag.ATTLOG,
      encodeAttEventBody({ userId: '1001', verify: 15, state: 1, time: T }, 32),
    );
    assert.equal(e32.kind, 'attendance');
    const rec = ok(toCanonicalRecord(e32 as AttendanceEvent, { ...ctx, source: 'live' }));
    assert.equal(rec.id, 'SIM0000000001|1001|2024-03-15T13:45:07');
    assert.equal(rec.uid, null);
    assert.equal(rec.direction, 'out');
    assert.equal(rec.verifyMethod, 'face');
    assert.equal(rec.source, 'live');
    assert.equal(rec.workCode, 0);

    const [e10] = decodeEvent(
      EventFlag.ATTLOG,
      encodeAttEventBody({ userId: '7', userNumber: 7, verify: 1, state: 0, time: T }, 10),
    );
    const unresolved = ok(toCanonicalRecord(e10 as AttendanceEvent, { ...ctx, source: 'live' }));
    assert.equal(unresolved.userId, '7');
    assert.equal(unresolved.uid, 7);
    const resolved = ok(
      toCanonicalRecord(e10 as AttendanceEvent, { ...ctx, source: 'live', usersByUid: new Map([[7, 'EMP-007']]) }),
    );
    assert.equal(resolved.userId, 'EMP-007');
    assert.equal(resolved.uid, 7);
  });

  it('exports the enumerations a schema derives from', () => {
    assert.deepEqual([...DIRECTIONS], ['in', 'out', 'break-out', 'break-in', 'overtime-in', 'overtime-out', 'unknown']);
    assert.deepEqual([...VERIFY_METHODS], ['password', 'fingerprint', 'card', 'face', 'palm', 'other']);
    assert.equal(ATTENDANCE_RECORD_FIELDS.length, 17);
  });

  it('converts 100,000 polled records across a year of DST changes', () => {
    const recs: DeviceAttendance[] = [];
    const base = Date.UTC(2024, 0, 1);
    for (let i = 0; i < 100_000; i++) {
      const time = wallClockFromEpoch(base + i * 313_000); // ~1 year, both DST transitions
      recs.push(polled({ userId: String(1000 + (i % 500)), time }));
    }
    const c = { ...ctx, tz: 'America/New_York' };
    let n = 0;
    for (const r of recs) if (toCanonicalRecord(r, c).ok) n++;
    assert.equal(n, 100_000);
  });
});

describe('canonical record: empty user ids', () => {
  it('are flagged as anomalies with the reason, never emitted', () => {
    const r = toCanonicalRecord(
      {
        uid: 9,
        userId: '',
        verify: 1,
        state: 0,
        time: { year: 2024, month: 3, day: 15, hour: 8, minute: 0, second: 0 },
        rawTime: 0,
        workCode: 0,
      },
      { deviceSn: 'SN9', tz: 'UTC', source: 'poll' },
    );
    assert.equal(r.ok, false);
    if (!r.ok) {
      assert.equal(r.anomaly.reason, 'empty-user-id');
      assert.match(r.anomaly.message, /device SN9: record of user "" has an empty user id at 2024-03-15T08:00:00/);
    }
  });
});

describe('canonical record: direction override', () => {
  it('an in-only or out-only door gives every punch that direction, whatever its state or mapping', () => {
    const rec = {
      uid: 1,
      userId: '7',
      verify: 1,
      state: 1,
      time: { year: 2024, month: 3, day: 15, hour: 8, minute: 0, second: 0 },
      rawTime: 0,
      workCode: 0,
    };
    const ctx = { deviceSn: 'SN1', tz: 'UTC', source: 'poll' as const, directionMap: { 1: 'break-in' as const } };
    const mapped = toCanonicalRecord(rec, ctx);
    const forced = toCanonicalRecord(rec, { ...ctx, directionOverride: 'in' });
    const none = toCanonicalRecord(rec, { ...ctx, directionOverride: null });
    assert.ok(mapped.ok && forced.ok && none.ok);
    if (mapped.ok && forced.ok && none.ok) {
      assert.equal(mapped.record.direction, 'break-in');
      assert.equal(forced.record.direction, 'in');
      assert.equal(forced.record.state, 1, 'the raw state is kept');
      assert.equal(none.record.direction, 'break-in');
    }
  });
});
