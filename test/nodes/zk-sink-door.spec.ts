/** zk-sink's door (checkPayload): what each kind of bad input is told, for every target alike. */
import { strict as assert } from 'assert';
import { checkPayload } from '../../nodes/zk-sink/door';
import { makeRecord } from '../support/records';
import type { AttendanceRecord } from '../../lib/record';

/** A record with fields changed and its id recomputed, so only the changed fields can be wrong. */
function rec(over: Partial<AttendanceRecord>): AttendanceRecord {
  return makeRecord(0, over);
}

function reasons(payload: unknown): string[] {
  return checkPayload(payload).invalid.map((e) => e.reason);
}

describe('zk-sink door', () => {
  it('a Buffer payload is binary data, not a record, with a hint to parse it; the same inside an array', () => {
    const buf = Buffer.from(JSON.stringify(makeRecord()));
    const single = checkPayload(buf);
    assert.equal(single.valid.length, 0);
    assert.equal(single.invalid[0].field, 'payload');
    assert.match(
      single.invalid[0].reason,
      /^payload: binary data \(Buffer, \d+ bytes\), not a record or an array of records; if it holds JSON, parse it first/,
    );
    const list = checkPayload([makeRecord(), buf, new Uint8Array(4), 'x', null]);
    assert.equal(list.valid.length, 1);
    assert.deepEqual(
      list.invalid.map((e) => [e.index, e.field, e.reason]),
      [
        [1, '(record)', `(record): item 1 is binary data (Buffer, ${buf.length} bytes), not a record`],
        [2, '(record)', '(record): item 2 is binary data (Uint8Array, 4 bytes), not a record'],
        [3, '(record)', '(record): item 3 is text (1 characters), not a record'],
        [4, '(record)', '(record): item 4 is null, not a record'],
      ],
    );
    for (const e of list.invalid) assert.doesNotMatch(e.reason, /required property/);
    assert.match(reasons('{"id":1}')[0], /^payload: text \(8 characters\), not a record .*parse it first/);
    assert.match(reasons(new Date(0))[0], /^payload: a Date, not a record/);
  });

  it('an object missing fields names every missing field in the reason', () => {
    const [reason] = reasons({});
    assert.match(
      reason,
      /^id: missing, with 16 more \(missing: id, deviceSn, deviceName, site, deviceHost, userId, uid, localTime, timestamp, tz, state, direction, verify, verifyMethod, workCode, source, receivedAt\)$/,
    );
    const partial = { ...makeRecord() } as Record<string, unknown>;
    delete partial.tz;
    delete partial.source;
    assert.deepEqual(reasons(partial), ['tz: missing, with 1 more (missing: tz, source)']);
    const one = { ...makeRecord() } as Record<string, unknown>;
    delete one.userId;
    assert.equal(reasons(one)[0], "userId: must have required property 'userId'");
  });

  it('times must be real calendar times, for localTime, timestamp and receivedAt', () => {
    const cases: [Partial<AttendanceRecord>, RegExp][] = [
      [
        { localTime: '2023-02-29T09:00:00' },
        /^localTime: 2023-02-29T09:00:00 is not a real date and time \(2023-02 has no day 29\)$/,
      ],
      [{ localTime: '2024-04-31T09:00:00' }, /^localTime: .*2024-04 has no day 31/],
      [{ localTime: '2024-13-01T09:00:00' }, /^localTime: .*month 13 does not exist/],
      [{ localTime: '2024-03-01T24:00:00' }, /^localTime: .*24:00:00 is not a time of day/],
      [{ localTime: '2024-03-01T08:00:60' }, /^localTime: .*not a time of day/],
      [{ localTime: '0000-03-01T08:00:00' }, /^localTime: .*year 0000 does not exist/],
      [{ timestamp: '2100-02-29T07:00:00.000Z' }, /^timestamp: 2100-02-29T07:00:00.000Z is not a real date and time/],
      [{ receivedAt: '2024-02-30T07:00:05.123Z' }, /^receivedAt: .*2024-02 has no day 30/],
    ];
    for (const [over, re] of cases) {
      const r = checkPayload(rec(over));
      assert.equal(r.valid.length, 0, JSON.stringify(over));
      assert.match(r.invalid[0].reason, re);
    }
    // Leap days that exist pass.
    for (const localTime of [
      '2024-02-29T09:00:00',
      '2000-02-29T23:59:59',
      '0001-01-01T00:00:00',
      '9999-12-31T23:59:59',
    ]) {
      assert.equal(checkPayload(rec({ localTime })).valid.length, 1, localTime);
    }
  });

  it('key text ending in a space is refused (targets would disagree on A12 and A12 ); inner and leading spaces pass', () => {
    const r = checkPayload([
      rec({ userId: 'A12 ' }),
      rec({ deviceSn: 'SN1 ' }),
      rec({ userId: 'A 12' }),
      rec({ userId: ' A12' }),
    ]);
    assert.deepEqual(
      r.invalid.map((e) => [e.index, e.field]),
      [
        [0, 'userId'],
        [1, 'deviceSn'],
      ],
    );
    assert.match(
      r.invalid[0].reason,
      /^userId: "A12 " ends with a space; key fields may not \(SQL Server would take it for "A12"\)/,
    );
    assert.deepEqual(
      r.valid.map((v) => v.userId),
      ['A 12', ' A12'],
    );
  });
});
