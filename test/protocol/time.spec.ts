import { strict as assert } from 'assert';
import {
  WallClock,
  decodeTime,
  encodeTime,
  decodeEventTime,
  encodeEventTime,
  isValidWallClock,
  MAX_ENCODED_TIME,
  formatWallClock,
  parseWallClock,
  wallClockSeconds,
  wallClockFromEpoch,
} from '../../lib/protocol';
import { Rng, hex, normHex, unhex } from '../support/prng';

const wc = (year: number, month: number, day: number, hour = 0, minute = 0, second = 0): WallClock => ({
  year,
  month,
  day,
  hour,
  minute,
  second,
});

function wire(t: number): string {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(t, 0);
  return hex(b);
}

describe('protocol/time (§6)', () => {
  const vectors = [
    { w: wc(2018, 6, 25, 17, 50, 35), t: 594064235, hex: '6B B3 68 23' },
    { w: wc(2024, 3, 15, 13, 45, 7), t: 0x2e5f4363, hex: '63 43 5F 2E' },
  ];

  for (const v of vectors) {
    it(`u32 form: ${formatWallClock(v.w)} ⇄ 0x${v.t.toString(16).toUpperCase()} (${v.hex})`, () => {
      assert.equal(encodeTime(v.w), v.t);
      assert.equal(wire(encodeTime(v.w)), normHex(v.hex));
      assert.deepEqual(decodeTime(unhex(v.hex).readUInt32LE(0)), v.w);
    });
  }

  it('range ends: 0 = 2000-01-01 00:00:00, 0xBF92F7FF = 2099-12-31 23:59:59', () => {
    assert.deepEqual(decodeTime(0), wc(2000, 1, 1));
    assert.equal(MAX_ENCODED_TIME, 0xbf92f7ff);
    assert.deepEqual(decodeTime(MAX_ENCODED_TIME), wc(2099, 12, 31, 23, 59, 59));
    assert.equal(encodeTime(wc(2099, 12, 31, 23, 59, 59)), MAX_ENCODED_TIME);
  });

  it('decodeTime treats its input as unsigned 32-bit', () => {
    assert.deepEqual(decodeTime(-1), decodeTime(0xffffffff));
    assert.equal(isValidWallClock(decodeTime(0xffffffff)), false, 'beyond 2099');
  });

  it('6-byte event form: 2024-03-15 13:45:07 ⇄ 18 03 0F 0D 2D 07', () => {
    const w = wc(2024, 3, 15, 13, 45, 7);
    assert.equal(hex(encodeEventTime(w)), normHex('18 03 0F 0D 2D 07'));
    assert.deepEqual(decodeEventTime(unhex('18 03 0F 0D 2D 07')), w);
    assert.deepEqual(decodeEventTime(unhex('FF FF 18 03 0F 0D 2D 07'), 2), w, 'at an offset');
  });

  describe('validation', () => {
    it('Feb 31 is representable but invalid, and is not rolled over into March', () => {
      const t = encodeTime(wc(2024, 2, 31, 10));
      const back = decodeTime(t);
      assert.deepEqual(back, wc(2024, 2, 31, 10));
      assert.equal(isValidWallClock(back), false);
      assert.equal(t + 86400, encodeTime(wc(2024, 3, 1, 10)), 'every month counts as 31 days');
    });

    it('Feb 29: valid in leap years (2024, 2000), invalid otherwise (2023, 2100 is out of range anyway)', () => {
      assert.equal(isValidWallClock(wc(2024, 2, 29)), true);
      assert.equal(isValidWallClock(wc(2000, 2, 29)), true);
      assert.equal(isValidWallClock(wc(2023, 2, 29)), false);
      assert.equal(isValidWallClock(wc(2023, 2, 28, 23, 59, 59)), true);
      assert.equal(isValidWallClock(decodeTime(encodeTime(wc(2023, 2, 29)))), false);
    });

    it("2063 is a calendar-valid time that round-trips exactly (its plausibility is the client's check)", () => {
      const w = wc(2063, 7, 4, 12, 0, 1);
      assert.deepEqual(decodeTime(encodeTime(w)), w);
      assert.equal(isValidWallClock(w), true);
      assert.ok(encodeTime(w) > encodeTime(wc(2024, 3, 15)));
    });

    it('30-day months, field ranges and the 2000–2099 window', () => {
      assert.equal(isValidWallClock(wc(2024, 4, 31)), false);
      assert.equal(isValidWallClock(wc(2024, 4, 30)), true);
      assert.equal(isValidWallClock(wc(2024, 12, 31, 23, 59, 59)), true);
      for (const bad of [
        wc(2024, 0, 1),
        wc(2024, 13, 1),
        wc(2024, 1, 0),
        wc(2024, 1, 1, 24),
        wc(2024, 1, 1, 0, 60),
        wc(2024, 1, 1, 0, 0, 60),
        wc(1999, 12, 31),
        wc(2100, 1, 1),
        wc(2024.5, 1, 1),
      ]) {
        assert.equal(isValidWallClock(bad), false, JSON.stringify(bad));
      }
    });

    it('impossible event-time bytes decode as they are and fail validation', () => {
      const w = decodeEventTime(unhex('18 02 1F 19 3C 3C')); // 2024-02-31 25:60:60
      assert.deepEqual(w, wc(2024, 2, 31, 25, 60, 60));
      assert.equal(isValidWallClock(w), false);
    });
  });

  it('round-trips random valid times both ways (seeded)', () => {
    const rng = new Rng(2024);
    for (let i = 0; i < 5000; i++) {
      const t = rng.int(MAX_ENCODED_TIME + 1);
      assert.equal(encodeTime(decodeTime(t)), t);
      const w = wallClockFromEpoch(Date.UTC(2000, 0, 1) + rng.int(100 * 365.2425 * 86400) * 1000);
      assert.deepEqual(decodeTime(encodeTime(w)), w);
      assert.deepEqual(decodeEventTime(encodeEventTime(w)), w);
      assert.equal(isValidWallClock(w), true);
    }
  });

  it('format/parse wall clocks without any time zone', () => {
    assert.equal(formatWallClock(wc(2024, 3, 5, 3, 4, 7)), '2024-03-05T03:04:07');
    assert.deepEqual(parseWallClock('2024-03-05T03:04:07'), wc(2024, 3, 5, 3, 4, 7));
    assert.deepEqual(parseWallClock(' 2024-03-05 03:04 '), wc(2024, 3, 5, 3, 4, 0));
    assert.deepEqual(parseWallClock('2024-03-05'), wc(2024, 3, 5));
    assert.equal(parseWallClock('2024-02-30'), null);
    assert.equal(parseWallClock('2024-3-5'), null);
    assert.equal(wallClockSeconds(wc(2000, 1, 1)), 946684800);
    assert.deepEqual(wallClockFromEpoch(Date.UTC(2024, 1, 29, 23, 59, 59)), wc(2024, 2, 29, 23, 59, 59));
  });
});
