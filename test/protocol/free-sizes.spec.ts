import { strict as assert } from 'assert';
import { FreeSizesInput, decodeFreeSizes, encodeFreeSizes } from '../../lib/protocol';
import { ZkError, ZkProtocolError } from '../../lib/errors';

const sample: FreeSizesInput = {
  users: 70,
  fingers: 140,
  records: 100_000,
  opLogs: 12,
  admins: 2,
  passwords: 5,
  fingersCapacity: 3000,
  usersCapacity: 3000,
  recordsCapacity: 200_000,
  fingersAvailable: 2860,
  usersAvailable: 2930,
  recordsAvailable: 100_000,
};

describe('protocol/free-sizes: GET_FREE_SIZES reply (§5)', () => {
  it('92-byte form: documented offsets, faces included', () => {
    const b = encodeFreeSizes({ ...sample, faces: 33, facesCapacity: 400 }, true);
    assert.equal(b.length, 92);
    const at = (off: number) => b.readInt32LE(off);
    assert.deepEqual(
      [at(16), at(24), at(32), at(40), at(48), at(52), at(56), at(60), at(64), at(68), at(72), at(76), at(80), at(88)],
      [70, 140, 100_000, 12, 2, 5, 3000, 3000, 200_000, 2860, 2930, 100_000, 33, 400],
    );
    for (const off of [0, 4, 8, 12, 20, 28, 36, 44, 84]) assert.equal(at(off), 0, `reserved/unknown @${off}`);
    assert.deepEqual(decodeFreeSizes(b), { ...sample, faces: 33, facesCapacity: 400 });
  });

  it('80-byte form (ZK6): no face block', () => {
    const b = encodeFreeSizes(sample, false);
    assert.equal(b.length, 80);
    assert.deepEqual(decodeFreeSizes(b), { ...sample, faces: null, facesCapacity: null });
  });

  it('decodes by hand-written offsets (users @16, records @32, record capacity @64)', () => {
    const b = Buffer.alloc(92);
    b.writeInt32LE(7, 16);
    b.writeInt32LE(1234, 32);
    b.writeInt32LE(-1, 64); // i32: garbage stays visible as a negative number
    b.writeInt32LE(9, 80);
    const s = decodeFreeSizes(b);
    assert.deepEqual(
      [s.users, s.records, s.recordsCapacity, s.faces, s.facesCapacity, s.fingers],
      [7, 1234, -1, 9, 0, 0],
    );
  });

  it('81–91 bytes: the 80-byte fields, no faces; longer payloads: extra bytes ignored', () => {
    const b = encodeFreeSizes({ ...sample, faces: 1, facesCapacity: 2 }, true);
    assert.equal(decodeFreeSizes(b.subarray(0, 91)).faces, null);
    assert.equal(decodeFreeSizes(b.subarray(0, 91)).records, 100_000);
    assert.equal(decodeFreeSizes(Buffer.concat([b, Buffer.alloc(8, 0xff)])).facesCapacity, 2);
  });

  it('under 80 bytes → ZkProtocolError naming the size', () => {
    for (const len of [0, 68, 79]) {
      assert.throws(
        () => decodeFreeSizes(Buffer.alloc(len)),
        (e: unknown) => {
          assert.ok(e instanceof ZkProtocolError && e instanceof ZkError);
          assert.equal(e.code, 'PROTOCOL');
          assert.match(e.message, new RegExp(`has ${len} bytes; expected 80 or 92`));
          assert.equal(e.details.length, len);
          return true;
        },
      );
    }
  });
});
