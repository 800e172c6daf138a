import { strict as assert } from 'assert';
import {
  AttendanceInput,
  AttendanceRecordSize,
  WallClock,
  decodeAttendanceRecord,
  decodeAttendanceRecords,
  detectAttendanceLayout,
  encodeAttendanceRecord,
  numericUserId,
  encodeTime,
} from '../../lib/protocol';
import { ZkError, ZkProtocolError } from '../../lib/errors';
import { Rng, hex, normHex, unhex } from '../support/prng';

const T1: WallClock = { year: 2018, month: 6, day: 25, hour: 17, minute: 50, second: 35 };
const T2: WallClock = { year: 2024, month: 3, day: 15, hour: 13, minute: 45, second: 7 };

/** `k` distinct, valid records in one layout (uids from 1, userIds from 1001, times a minute apart). */
function records(
  size: AttendanceRecordSize,
  k: number,
  rng = new Rng(k * 100 + size),
): { inputs: AttendanceInput[]; data: Buffer } {
  const inputs: AttendanceInput[] = [];
  for (let i = 0; i < k; i++) {
    inputs.push({
      uid: i + 1,
      userId: String(1001 + rng.int(50_000)),
      verify: rng.pick([0, 1, 2, 15]),
      state: rng.int(6),
      time: { ...T2, day: 1 + rng.int(28), hour: rng.int(24), minute: rng.int(60), second: rng.int(60) },
      workCode: size === 16 ? rng.int(1000) : 0,
    });
  }
  return { inputs, data: Buffer.concat(inputs.map((r) => encodeAttendanceRecord(r, size))) };
}

function expectUnknownSize(fn: () => unknown, ...parts: string[]): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof ZkProtocolError && e instanceof ZkError);
    assert.equal(e.code, 'UNKNOWN_RECORD_SIZE');
    for (const p of parts) assert.ok(e.message.includes(p), `message should mention "${p}": ${e.message}`);
    return true;
  });
}

describe('protocol/attendance: records (§8.1–8.4) and layout detection (§8.8)', () => {
  describe('documented examples', () => {
    const ex40 =
      '0D 00 39 39 39 31 31 31 33 33 33 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 01 6B B3 68 23 00 00 00 00 00 FF 00 00 00';
    const ex16 = '57 92 01 00 63 43 5F 2E 01 01 00 00 00 00 00 00';
    const ex8 = '07 00 01 63 43 5F 2E 00';

    it('§8.1 40-byte: encode', () => {
      const b = encodeAttendanceRecord({ uid: 13, userId: '999111333', verify: 1, state: 0, time: T1 }, 40);
      assert.equal(hex(b), normHex(ex40));
    });

    it('§8.1 40-byte: decode (userId read to the NUL, not cut at 9 characters; reserved bytes kept raw)', () => {
      const r = decodeAttendanceRecord(unhex(ex40), 0, 40);
      assert.equal(r.uid, 13);
      assert.equal(r.userId, '999111333');
      assert.equal(r.verify, 1);
      assert.equal(r.state, 0);
      assert.equal(r.rawTime, 0x2368b36b);
      assert.deepEqual(r.time, T1);
      assert.equal(r.workCode, 0);
      assert.equal(r.extra, undefined, 'the usual reserved bytes are not kept per record');
    });

    it('§8.3 16-byte: encode and decode', () => {
      const b = encodeAttendanceRecord({ userId: '102999', verify: 1, state: 1, time: T2, workCode: 0 }, 16);
      assert.equal(hex(b), normHex(ex16));
      const r = decodeAttendanceRecord(unhex(ex16), 0, 16);
      assert.deepEqual(
        {
          uid: r.uid,
          userId: r.userId,
          verify: r.verify,
          state: r.state,
          time: r.time,
          rawTime: r.rawTime,
          workCode: r.workCode,
        },
        { uid: null, userId: '102999', verify: 1, state: 1, time: T2, rawTime: 0x2e5f4363, workCode: 0 },
      );
    });

    it("§8.3 16-byte: state is byte 8 and verify byte 9 (the manual's order), workcode u32 at 12", () => {
      const r = decodeAttendanceRecord(unhex('57 92 01 00 63 43 5F 2E 03 0F 00 00 2A 00 01 00'), 0, 16);
      assert.equal(r.state, 3);
      assert.equal(r.verify, 15);
      assert.equal(r.workCode, 0x1002a);
    });

    it('§8.4 8-byte: encode and decode (userId falls back to the decimal uid)', () => {
      const b = encodeAttendanceRecord({ uid: 7, userId: '7', verify: 1, state: 0, time: T2 }, 8);
      assert.equal(hex(b), normHex(ex8));
      const r = decodeAttendanceRecord(unhex(ex8), 0, 8);
      assert.deepEqual(
        { uid: r.uid, userId: r.userId, verify: r.verify, state: r.state, time: r.time },
        { uid: 7, userId: '7', verify: 1, state: 0, time: T2 },
      );
    });

    it('decodes at an offset inside a larger buffer', () => {
      const buf = Buffer.concat([unhex('FF FF FF'), unhex(ex40), unhex('EE')]);
      assert.equal(decodeAttendanceRecord(buf, 3, 40).userId, '999111333');
    });
  });

  describe('round trips', () => {
    it('40-byte: 24-character userId, leading zeros, every byte of verify/state', () => {
      for (const userId of ['ABCDEFGHIJKLMNOPQRSTUVWX', '000123', '0', '']) {
        for (const [verify, state] of [
          [0, 0],
          [255, 255],
          [15, 5],
        ]) {
          const input = { uid: 65535, userId, verify, state, time: T2 };
          const r = decodeAttendanceRecord(encodeAttendanceRecord(input, 40), 0, 40);
          assert.deepEqual(
            { uid: r.uid, userId: r.userId, verify: r.verify, state: r.state, time: r.time },
            { uid: 65535, userId, verify, state, time: T2 },
          );
        }
      }
    });

    it('40-byte: a userId longer than 24 bytes is refused, not truncated', () => {
      assert.throws(
        () => encodeAttendanceRecord({ uid: 1, userId: 'A'.repeat(25), verify: 0, state: 0, time: T2 }, 40),
        RangeError,
      );
    });

    it('40-byte: unusual reserved bytes are kept raw', () => {
      const extra = Buffer.from([1, 2, 3, 4, 5, 6, 7, 8]);
      const r = decodeAttendanceRecord(
        encodeAttendanceRecord({ uid: 1, userId: '5', verify: 1, state: 0, time: T2, extra }, 40),
        0,
        40,
      );
      assert.ok(r.extra && r.extra.equals(extra));
    });

    it('49-byte: first 40 bytes as the 40-byte layout, the 17 bytes from 32 kept raw', () => {
      const extra = Buffer.from([...Array(17).keys()].map((i) => 0xa0 + i));
      const b = encodeAttendanceRecord({ uid: 300, userId: '000777', verify: 15, state: 4, time: T2, extra }, 49);
      assert.equal(b.length, 49);
      const r = decodeAttendanceRecord(b, 0, 49);
      assert.deepEqual(
        { uid: r.uid, userId: r.userId, verify: r.verify, state: r.state, time: r.time, workCode: r.workCode },
        { uid: 300, userId: '000777', verify: 15, state: 4, time: T2, workCode: 0 },
      );
      assert.ok(r.extra!.equals(extra));
      // The 40-byte decoder reads the same fields from the first 40 bytes.
      assert.equal(decodeAttendanceRecord(b, 0, 40).userId, '000777');
    });

    it('49-byte without extra: reserved bytes as on TFT devices, workcode stored at 40 but not decoded (unconfirmed, §8.2)', () => {
      const b = encodeAttendanceRecord({ uid: 1, userId: '1', verify: 1, state: 0, time: T2, workCode: 77 }, 49);
      assert.equal(hex(b.subarray(32, 40)), '00 00 00 00 FF 00 00 00');
      assert.equal(b.readUInt32LE(40), 77);
      assert.equal(decodeAttendanceRecord(b, 0, 49).workCode, 0);
    });

    it('16-byte: numeric userIds up to 4294967295 and the workcode', () => {
      for (const userId of ['0', '1', '102999', '4294967295']) {
        const r = decodeAttendanceRecord(
          encodeAttendanceRecord({ userId, verify: 2, state: 5, time: T1, workCode: 0xfffffffe }, 16),
          0,
          16,
        );
        assert.deepEqual(
          { userId: r.userId, verify: r.verify, state: r.state, time: r.time, workCode: r.workCode, uid: r.uid },
          { userId, verify: 2, state: 5, time: T1, workCode: 0xfffffffe, uid: null },
        );
      }
    });

    it('16/8-byte layouts refuse userIds they cannot store (leading zeros, letters, > u32)', () => {
      for (const userId of ['00123', 'A1', '4294967296', '', '-1', '1.5']) {
        assert.throws(() => numericUserId(userId, 16), RangeError, userId);
        assert.throws(() => encodeAttendanceRecord({ userId, verify: 0, state: 0, time: T2 }, 16), RangeError, userId);
      }
      assert.equal(numericUserId('4294967295', 16), 4294967295);
    });

    it('8-byte: uid, verify, state and time', () => {
      const r = decodeAttendanceRecord(
        encodeAttendanceRecord({ uid: 65535, userId: 'ignored', verify: 15, state: 255, time: T1 }, 8),
        0,
        8,
      );
      assert.deepEqual(
        { uid: r.uid, userId: r.userId, verify: r.verify, state: r.state, time: r.time },
        { uid: 65535, userId: '65535', verify: 15, state: 255, time: T1 },
      );
    });

    it('rawTime lets impossible stored dates through unchanged (Feb 31)', () => {
      const raw = encodeTime({ ...T2, month: 2, day: 31 });
      for (const size of [40, 49, 16, 8] as const) {
        const r = decodeAttendanceRecord(
          encodeAttendanceRecord({ uid: 1, userId: '1', verify: 0, state: 0, time: T2, rawTime: raw }, size),
          0,
          size,
        );
        assert.equal(r.rawTime, raw);
        assert.deepEqual([r.time.month, r.time.day], [2, 31]);
      }
    });

    for (const size of [40, 49, 16, 8] as const) {
      it(`${size}-byte: many random records through decodeAttendanceRecords`, () => {
        const { inputs, data } = records(size, 257);
        const { layout, records: out } = decodeAttendanceRecords(data, inputs.length);
        assert.deepEqual(layout, { size, count: 257, padding: 0 });
        out.forEach((r, i) => {
          const exp = inputs[i];
          assert.equal(r.userId, size === 8 ? String(exp.uid) : exp.userId);
          assert.equal(r.uid, size === 16 ? null : exp.uid);
          assert.deepEqual([r.verify, r.state, r.time, r.workCode], [exp.verify, exp.state, exp.time, exp.workCode]);
        });
      });
    }
  });

  describe('layout detection', () => {
    it('empty buffer: no records', () => {
      assert.deepEqual(detectAttendanceLayout(Buffer.alloc(0), 0), { size: 40, count: 0, padding: 0 });
      assert.deepEqual(decodeAttendanceRecords(Buffer.alloc(0), null).records, []);
    });

    for (const size of [40, 49, 16, 8] as const) {
      it(`exact count: ${size}-byte records`, () => {
        const { data } = records(size, 5);
        assert.deepEqual(detectAttendanceLayout(data, 5), { size, count: 5, padding: 0 });
      });
    }

    it("exact count wins over validation (the count is the device's word, §8.8 step 1)", () => {
      // 2 × 8-byte records with count 1 are 16 bytes: one 16-byte record.
      const { data } = records(8, 2);
      assert.equal(detectAttendanceLayout(data, 1).size, 16);
    });

    // Record counts chosen so that several layouts divide the total and validation must decide.
    const scoringCases: [AttendanceRecordSize, number, AttendanceRecordSize[]][] = [
      [40, 2, [40, 16, 8]], // 80 bytes
      [40, 49, [40, 49, 8]], // 1960 bytes
      [49, 40, [40, 49, 8]], // 1960 bytes
      [16, 5, [40, 16, 8]], // 80 bytes
      [8, 15, [40, 8]], // 120 bytes
    ];
    for (const [size, k, dividing] of scoringCases) {
      for (const n of [0, null, k - 1, k + 1]) {
        it(`${size}-byte × ${k} (${k * size} bytes, divisible by ${dividing.join('/')}) with count ${n} → ${size}`, () => {
          const { inputs, data } = records(size, k);
          for (const s of dividing) assert.equal((k * size) % s, 0);
          const { layout, records: out } = decodeAttendanceRecords(data, n);
          assert.deepEqual(layout, { size, count: k, padding: 0 });
          assert.deepEqual(
            out.map((r) => r.time),
            inputs.map((r) => r.time),
          );
        });
      }
    }

    it('49 vs 40 ambiguity: 1960 bytes follow the device count when it divides exactly', () => {
      const { data: d40 } = records(40, 49);
      assert.deepEqual(detectAttendanceLayout(d40, 49), { size: 40, count: 49, padding: 0 });
      const { data: d49 } = records(49, 40);
      assert.deepEqual(detectAttendanceLayout(d49, 40), { size: 49, count: 40, padding: 0 });
    });

    it('off-by-one count on a small log does not let a padded layout swallow a record', () => {
      // 2 × 40 = 80 bytes, count 1: one 49-byte record + 31 pad bytes also "validates".
      const { data } = records(40, 2);
      assert.deepEqual(detectAttendanceLayout(data, 1), { size: 40, count: 2, padding: 0 });
      // 1 × 40 bytes, count 2: two 16-byte records + 8 pad bytes also "validate".
      const { data: one } = records(40, 1);
      assert.deepEqual(detectAttendanceLayout(one, 2), { size: 40, count: 1, padding: 0 });
    });

    it('trailing pad bytes are tolerated when the count agrees', () => {
      const { data } = records(40, 10);
      const padded = Buffer.concat([data, Buffer.alloc(3)]);
      assert.deepEqual(detectAttendanceLayout(padded, 10), { size: 40, count: 10, padding: 3 });
      const res = decodeAttendanceRecords(padded, 10);
      assert.equal(res.records.length, 10);
      assert.equal(res.layout.count * res.layout.size + res.layout.padding, padded.length);
    });

    it('pad bytes without an agreeing count are not guessed at', () => {
      const { data } = records(40, 10);
      expectUnknownSize(() => detectAttendanceLayout(Buffer.concat([data, Buffer.alloc(3)]), 0), '403 bytes');
    });

    it('unknown size → ZkProtocolError UNKNOWN_RECORD_SIZE naming the sizes and a hex sample', () => {
      const data = Buffer.alloc(37, 0x41);
      expectUnknownSize(() => detectAttendanceLayout(data, 3), '37 bytes', 'device count 3', '40/49/16/8', '41 41 41');
      expectUnknownSize(() => decodeAttendanceRecords(data, null), '37 bytes', 'device count unknown');
      try {
        detectAttendanceLayout(data, 3);
      } catch (e) {
        assert.deepEqual((e as ZkProtocolError).details, {
          totalSize: 37,
          deviceCount: 3,
          sample: (e as ZkProtocolError).details.sample,
        });
        assert.match(String((e as ZkProtocolError).details.sample), /^41 41/);
      }
    });

    it('records that fail validation (bad times, non-printable userIds) are not accepted by scoring', () => {
      // 3 × 49 = 147 bytes: only the 49-byte layout divides, so validation alone decides.
      const { data } = records(49, 3);
      assert.equal(detectAttendanceLayout(data, 0).size, 49);
      const badTime = Buffer.from(data);
      badTime.writeUInt32LE(encodeTime({ ...T2, month: 2, day: 31 }), 49 + 27);
      expectUnknownSize(() => detectAttendanceLayout(badTime, 0), '147 bytes');
      const badId = Buffer.from(data);
      badId[2 * 49 + 3] = 0x07; // BEL inside the userId
      expectUnknownSize(() => detectAttendanceLayout(badId, null), '147 bytes');
      const garbageAfterNul = Buffer.from(data);
      garbageAfterNul[20] = 0x41; // a byte after the userId's NUL
      expectUnknownSize(() => detectAttendanceLayout(garbageAfterNul, 0), '147 bytes');
      // Random bytes: nothing passes at ≥ 99 %.
      expectUnknownSize(() => detectAttendanceLayout(new Rng(99).bytes(400), 0), '400 bytes');
    });

    // Known gap (reported): with no usable count, 2k × 8-byte records also decode as k valid 16-byte
    // records (the 16-byte layout has no field that validation can reject), and the tie-break picks 16.
    it('8-byte records, even count, device count 0 → 8 (16-byte misreads land in the year 2000)', () => {
      const { data } = records(8, 10);
      assert.equal(detectAttendanceLayout(data, 0).size, 8);
    });
  });
});
