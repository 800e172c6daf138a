import { strict as assert } from 'assert';
import {
  UserInput,
  UserRecordSize,
  decodeUserRecord,
  decodeUserRecords,
  detectUserLayout,
  encodeUserRecord,
} from '../../lib/protocol';
import { ZkError, ZkProtocolError } from '../../lib/errors';
import { Rng, unhex } from '../support/prng';

function users(size: UserRecordSize, k: number, rng = new Rng(k * 10 + size)): { inputs: UserInput[]; data: Buffer } {
  const inputs: UserInput[] = [];
  for (let i = 0; i < k; i++) {
    inputs.push({
      uid: i + 1,
      userId: size === 72 && i % 3 === 0 ? `00${100 + i}` : String(1 + rng.int(1_000_000)),
      name: size === 72 ? `Zoë ${i}` : `N${i}`,
      privilege: rng.pick([0, 1, 2, 6, 14, 15]),
      password: String(rng.int(1000)),
      cardNo: rng.u32(),
      group: rng.int(256),
    });
  }
  return { inputs, data: Buffer.concat(inputs.map((u) => encodeUserRecord(u, size))) };
}

function expectUnknownUserSize(fn: () => unknown, ...parts: string[]): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof ZkProtocolError && e instanceof ZkError);
    assert.equal(e.code, 'UNKNOWN_USER_SIZE');
    for (const p of parts) assert.ok(e.message.includes(p), `message should mention "${p}": ${e.message}`);
    return true;
  });
}

describe('protocol/users: user records (§8.5–8.6) and layout detection (§8.8)', () => {
  describe('72-byte layout', () => {
    it('decodes every field from the documented offsets', () => {
      const b = Buffer.alloc(72);
      b.writeUInt16LE(513, 0);
      b[2] = 15; // super admin, disabled
      b.write('1234\0xyz', 3, 'latin1'); // bytes after the NUL are garbage (§8.5)
      b.write('Ana María', 11, 'utf8');
      b.writeUInt32LE(0xdeadbeef, 35);
      b[39] = 3;
      b.write('ABCDEFGHIJKLMNOPQRSTUVWX', 48, 'latin1'); // 24 characters, no NUL
      const u = decodeUserRecord(b, 0, 72);
      assert.deepEqual(u, {
        uid: 513,
        privilege: 15,
        enabled: false,
        password: '1234',
        name: 'Ana María',
        cardNo: 0xdeadbeef,
        group: 3,
        userId: 'ABCDEFGHIJKLMNOPQRSTUVWX',
      });
    });

    it('encodes to the documented offsets', () => {
      const b = encodeUserRecord(
        { uid: 0x0201, userId: '00042', name: 'Ümit', privilege: 6, password: 'pw', cardNo: 7, group: 2 },
        72,
      );
      assert.equal(b.length, 72);
      assert.equal(b.readUInt16LE(0), 0x0201);
      assert.equal(b[2], 6);
      assert.equal(b.subarray(3, 6).toString('latin1'), 'pw\0');
      assert.equal(b.subarray(11, 17).toString('utf8'), 'Ümit\0');
      assert.equal(b.readUInt32LE(35), 7);
      assert.equal(b[39], 2);
      assert.equal(b.subarray(48, 54).toString('latin1'), '00042\0');
      assert.ok(b.subarray(54).equals(Buffer.alloc(18)));
    });

    it('round-trips a 24-character userId, leading zeros and UTF-8 names (up to exactly 24 bytes)', () => {
      for (const [userId, name] of [
        ['ABCDEFGHIJKLMNOPQRSTUVWX', 'Zoë Ångström'],
        ['000123', '日本語テキスト日'], // 8 × 3 = 24 bytes, no NUL
        ['0', ''],
        ['123456789012', 'Ωμέγα 😀'],
      ]) {
        const input = { uid: 65535, userId, name, privilege: 14, password: '12345678', cardNo: 0xffffffff, group: 255 };
        const u = decodeUserRecord(encodeUserRecord(input, 72), 0, 72);
        assert.deepEqual(u, { ...input, enabled: true });
      }
    });

    it('refuses fields that do not fit (25-character userId, 25-byte name, 9-character password)', () => {
      assert.throws(() => encodeUserRecord({ uid: 1, userId: 'A'.repeat(25) }, 72), RangeError);
      assert.throws(() => encodeUserRecord({ uid: 1, userId: '1', name: 'é'.repeat(13) }, 72), RangeError);
      assert.throws(() => encodeUserRecord({ uid: 1, userId: '1', password: '123456789' }, 72), RangeError);
    });

    it('defaults: privilege 0 (enabled), group 1, empty password, name and card', () => {
      const u = decodeUserRecord(encodeUserRecord({ uid: 5, userId: '5' }, 72), 0, 72);
      assert.deepEqual(u, {
        uid: 5,
        userId: '5',
        name: '',
        privilege: 0,
        enabled: true,
        password: '',
        cardNo: 0,
        group: 1,
      });
    });

    it('decodes GBK names when asked to', () => {
      const b = encodeUserRecord({ uid: 1, userId: '1' }, 72);
      unhex('D5 C5 C8 FD').copy(b, 11);
      assert.equal(decodeUserRecord(b, 0, 72, 'gbk').name, '张三');
    });
  });

  describe('28-byte layout', () => {
    it('decodes every field from the documented offsets', () => {
      const b = Buffer.alloc(28);
      b.writeUInt16LE(9, 0);
      b[2] = 1;
      b.write('4321', 3, 'latin1');
      b.write('JOHN DOE', 8, 'latin1'); // exactly 8 bytes, no NUL
      b.writeUInt32LE(123456789, 16);
      b[21] = 4;
      b.writeUInt16LE(0xffff, 22);
      b.writeUInt32LE(102999, 24);
      assert.deepEqual(decodeUserRecord(b, 0, 28), {
        uid: 9,
        privilege: 1,
        enabled: false,
        password: '4321',
        name: 'JOHN DOE',
        cardNo: 123456789,
        group: 4,
        userId: '102999',
      });
    });

    it('round-trips numeric userIds up to u32 and short names', () => {
      for (const userId of ['0', '1', '102999', '4294967295']) {
        const input = { uid: 300, userId, name: 'Zoë', privilege: 2, password: '12345', cardNo: 99, group: 7 };
        assert.deepEqual(decodeUserRecord(encodeUserRecord(input, 28), 0, 28), { ...input, enabled: true });
      }
    });

    it('refuses userIds it cannot store (leading zeros, letters) and names over 8 bytes', () => {
      assert.throws(() => encodeUserRecord({ uid: 1, userId: '007' }, 28), RangeError);
      assert.throws(() => encodeUserRecord({ uid: 1, userId: 'A7' }, 28), RangeError);
      assert.throws(() => encodeUserRecord({ uid: 1, userId: '7', name: 'NINE CHAR' }, 28), RangeError);
    });
  });

  describe('layout detection and decodeUserRecords', () => {
    it('empty buffer: no users', () => {
      assert.deepEqual(decodeUserRecords(Buffer.alloc(0), 0), { size: 72, users: [] });
    });

    for (const size of [72, 28] as const) {
      for (const [label, count] of [
        ['exact count', 14],
        ['count 0', 0],
        ['count null', null],
        ['count − 1', 13],
        ['count + 1', 15],
      ] as const) {
        it(`${size}-byte × 14 with ${label} → ${size}`, () => {
          const { inputs, data } = users(size, 14);
          const res = decodeUserRecords(data, count);
          assert.equal(res.size, size);
          assert.deepEqual(
            res.users.map((u) => [u.uid, u.userId, u.name]),
            inputs.map((u) => [u.uid, u.userId, u.name]),
          );
        });
      }
    }

    it('504 bytes (7 × 72 = 18 × 28): validation tells the layouts apart with no count', () => {
      assert.equal(detectUserLayout(users(72, 7).data, 0), 72);
      assert.equal(detectUserLayout(users(28, 18).data, 0), 28);
    });

    it('the exact count decides when it divides (7 → 72, 18 → 28)', () => {
      const { data } = users(72, 7);
      assert.equal(detectUserLayout(data, 7), 72);
      assert.equal(detectUserLayout(data, 18), 28);
    });

    it('uid 0 and non-printable userIds fail validation', () => {
      const { data } = users(72, 3); // 216 bytes: only 72 divides
      const uid0 = Buffer.from(data);
      uid0.writeUInt16LE(0, 72);
      expectUnknownUserSize(() => detectUserLayout(uid0, 0), '216 bytes');
      const ctl = Buffer.from(data);
      ctl[2 * 72 + 48] = 0x01;
      expectUnknownUserSize(() => detectUserLayout(ctl, null), '216 bytes', 'device count unknown');
    });

    it('unknown size → ZkProtocolError UNKNOWN_USER_SIZE naming the sizes', () => {
      expectUnknownUserSize(
        () => detectUserLayout(Buffer.alloc(100, 1), 3),
        '100 bytes',
        'device count 3',
        '72',
        '28',
        '01 01 01',
      );
      expectUnknownUserSize(() => decodeUserRecords(Buffer.alloc(71, 1), 1), '71 bytes');
    });

    it('decodes in the device encoding', () => {
      const { data } = users(72, 2);
      assert.deepEqual(decodeUserRecords(data, 2, 'latin1').users[0].name, 'ZoÃ« 0', 'UTF-8 bytes read as Latin-1');
    });
  });
});
