import { strict as assert } from 'assert';
import { validateRecord, attendanceRecordSchema } from '../../lib/record/schema';
import { toCanonicalRecord, ATTENDANCE_RECORD_FIELDS, AttendanceRecord } from '../../lib/record/canonical';

function sample(): AttendanceRecord {
  const r = toCanonicalRecord(
    {
      uid: 3,
      userId: '000123',
      verify: 1,
      state: 0,
      time: { year: 2024, month: 3, day: 15, hour: 13, minute: 45, second: 7 },
      rawTime: 0,
      workCode: 0,
    },
    {
      deviceSn: 'SN1',
      deviceName: 'Gate',
      site: 'HQ',
      deviceHost: '10.0.0.5:4370',
      tz: 'Europe/Berlin',
      source: 'poll',
      receivedAt: '2024-03-15T12:45:08.000Z',
    },
  );
  if (!r.ok) throw new Error('sample must be valid');
  return r.record;
}

describe('record schema (ajv)', () => {
  it('requires exactly the canonical fields', () => {
    assert.deepEqual(attendanceRecordSchema.required, [...ATTENDANCE_RECORD_FIELDS]);
    assert.deepEqual(Object.keys(attendanceRecordSchema.properties).sort(), [...ATTENDANCE_RECORD_FIELDS].sort());
  });

  it('accepts a record made by toCanonicalRecord, nulls included', () => {
    const r = sample();
    assert.equal(validateRecord(r).ok, true);
    assert.equal(validateRecord({ ...r, deviceName: null, site: null, deviceHost: null, uid: null }).ok, true);
  });

  it('names the field and the reason for each problem', () => {
    const r = sample() as unknown as Record<string, unknown>;
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ ...r, userId: undefined }, /userId: must have required property/],
      [{ ...r, state: 'in' }, /state: must be integer/],
      [{ ...r, localTime: '2024-03-15 13:45:07' }, /localTime: must match pattern/],
      [{ ...r, direction: 'sideways' }, /direction: must be equal to one of the allowed values/],
      [
        { ...r, userId: 'x'.repeat(25), id: `SN1|${'x'.repeat(25)}|2024-03-15T13:45:07` },
        /userId: must NOT have more than 24 characters/,
      ],
      [{ ...r, id: 'SN1|other|2024-03-15T13:45:07' }, /id: must be deviceSn\|userId\|localTime/],
    ];
    for (const [value, re] of cases) {
      const v = validateRecord(value);
      assert.equal(v.ok, false);
      if (!v.ok)
        assert.ok(
          v.errors.some((e) => re.test(e)),
          `${v.errors.join('; ')} should match ${re}`,
        );
    }
  });

  it('rejects non-objects without throwing', () => {
    for (const v of [null, 42, 'x', [], undefined]) assert.equal(validateRecord(v).ok, false);
  });
});
