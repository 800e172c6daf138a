import { strict as assert } from 'assert';
import { makeCommKey, verifyCommKey, DEFAULT_AUTH_TICKS } from '../../lib/protocol';
import { Rng, hex, normHex, unhex } from '../support/prng';

describe('protocol/commkey: CMD_AUTH payload (§3.4)', () => {
  const vectors = [
    { key: 0, session: 0, payload: '61 7D 32 79' },
    { key: 123456, session: 0xffff, payload: '29 7F 32 06' },
    { key: 999999, session: 0xfffe, payload: '22 81 32 96' },
  ];

  for (const v of vectors) {
    it(`key ${v.key}, session 0x${v.session.toString(16)} → ${v.payload}`, () => {
      assert.equal(hex(makeCommKey(v.key, v.session)), normHex(v.payload));
      assert.equal(hex(makeCommKey(v.key, v.session, 50)), normHex(v.payload));
    });

    it(`verifyCommKey accepts the vector for key ${v.key}`, () => {
      assert.equal(verifyCommKey(unhex(v.payload), v.key, v.session), true);
    });
  }

  it('default ticks are 50 (0x32), carried in clear in byte 2', () => {
    assert.equal(DEFAULT_AUTH_TICKS, 50);
    assert.equal(makeCommKey(4711, 0x1234)[2], 0x32);
    assert.equal(makeCommKey(4711, 0x1234, 0x1ab)[2], 0xab, 'ticks is one byte');
  });

  it('key + session wraps at 2^32 (key 131071, session 0x8000 ≡ key 0, session 0)', () => {
    // bitrev(0x0001FFFF) = 0xFFFF8000; + 0x8000 = 2^32 → 0.
    assert.equal(hex(makeCommKey(131071, 0x8000)), normHex('61 7D 32 79'));
  });

  it('verifyCommKey rejects a wrong key, a wrong session, any altered byte and short payloads', () => {
    const good = unhex('29 7F 32 06');
    assert.equal(verifyCommKey(good, 123457, 0xffff), false);
    assert.equal(verifyCommKey(good, 0, 0xffff), false);
    assert.equal(verifyCommKey(good, 123456, 0xfeff), false);
    // The low byte of k (key + session) is never transmitted (§3.4 step 5), so a session that differs
    // only in bits that do not carry into bit 8 is indistinguishable: documented, not a codec bug.
    assert.equal(verifyCommKey(good, 123456, 0xfffe), true);
    for (const i of [0, 1, 3]) {
      const bad = Buffer.from(good);
      bad[i] ^= 0x01;
      assert.equal(verifyCommKey(bad, 123456, 0xffff), false, `byte ${i} altered`);
    }
    // Changing only the ticks byte changes what bytes 0, 1 and 3 must be.
    const otherTicks = Buffer.from(good);
    otherTicks[2] = 0x33;
    assert.equal(verifyCommKey(otherTicks, 123456, 0xffff), false);
    assert.equal(verifyCommKey(good.subarray(0, 3), 123456, 0xffff), false);
    assert.equal(verifyCommKey(Buffer.alloc(0), 0, 0), false);
  });

  it('verifyCommKey works with any ticks byte the client chose (seeded)', () => {
    const rng = new Rng(3);
    for (let i = 0; i < 500; i++) {
      const key = rng.int(1_000_000);
      const session = rng.int(0x10000);
      const ticks = rng.int(256);
      const p = makeCommKey(key, session, ticks);
      assert.equal(p[2], ticks);
      assert.equal(verifyCommKey(p, key, session), true);
      assert.equal(verifyCommKey(p, key ^ (1 << rng.int(20)), session), false);
    }
  });
});
