import { strict as assert } from 'assert';
import { zkChecksum } from '../../lib/protocol';
import { Rng, unhex } from '../support/prng';

/**
 * Independent reference for the ones'-complement sum (docs/zk-protocol.md §2.4): folds the carry after every
 * word, so the accumulator never exceeds 17 bits whatever the packet size.
 */
function referenceChecksum(p: Uint8Array): number {
  let acc = 0;
  for (let i = 0; i < p.length; i += 2) {
    if (i === 2) continue;
    acc += p[i] | ((i + 1 < p.length ? p[i + 1] : 0) << 8);
    if (acc > 0xffff) acc = (acc & 0xffff) + 1;
  }
  return ~acc & 0xffff;
}

describe('protocol/checksum (§2.4)', () => {
  const vector1 = '0B 00 00 00 F3 8D 03 00 5A 4B 46 61 63 65 56 65 72 73 69 6F 6E 00';
  const vector2 = 'D0 07 00 00 F3 8D 0A 00 09';

  it('vector 1: OPTIONS_RRQ "ZKFaceVersion\\0" → 0x175A', () => {
    assert.equal(zkChecksum(unhex(vector1)), 0x175a);
  });

  it('vector 2: ACK_OK with a 1-byte payload (odd length) → 0x6A29', () => {
    assert.equal(zkChecksum(unhex(vector2)), 0x6a29);
  });

  it('ignores whatever is in the checksum field (bytes 2–3 count as zero)', () => {
    const p = unhex(vector1);
    p.writeUInt16LE(0x175a, 2);
    assert.equal(zkChecksum(p), 0x175a);
    p.writeUInt16LE(0xbeef, 2);
    assert.equal(zkChecksum(p), 0x175a);
  });

  it("a packet carrying its checksum sums to 0xFFFF (ones' complement property)", () => {
    const p = unhex(vector1);
    p.writeUInt16LE(zkChecksum(p), 2);
    let acc = 0;
    for (let i = 0; i < p.length; i += 2) acc += p[i] | ((p[i + 1] ?? 0) << 8);
    while (acc > 0xffff) acc = (acc & 0xffff) + Math.floor(acc / 0x10000);
    assert.equal(acc, 0xffff);
  });

  it('edge lengths: empty, 1, 2, 3 and 4 bytes', () => {
    assert.equal(zkChecksum(Buffer.alloc(0)), 0xffff);
    assert.equal(zkChecksum(Buffer.from([0x01])), 0xfffe);
    assert.equal(zkChecksum(Buffer.from([0x01, 0x02])), ~0x0201 & 0xffff);
    // Byte 2 is part of the checksum field even when the packet ends there.
    assert.equal(zkChecksum(Buffer.from([0x01, 0x02, 0x03])), ~0x0201 & 0xffff);
    assert.equal(zkChecksum(Buffer.from([0x01, 0x02, 0x03, 0x04])), ~0x0201 & 0xffff);
  });

  it('stays correct when the raw sum exceeds 2^32 (packets of a few hundred KiB)', () => {
    // 100,000 words of 0xFFFF sum to ~6.5e9: `acc >>> 16` would truncate (regression test).
    const p = Buffer.alloc(200_000, 0xff);
    assert.equal(zkChecksum(p), 0x0000);
    assert.equal(zkChecksum(p), referenceChecksum(p));
    const big = new Rng(7).bytes(1024 * 1024);
    assert.equal(zkChecksum(big), referenceChecksum(big));
  });

  it('matches the reference on random packets of every small length', () => {
    const rng = new Rng(0x5eed);
    for (let len = 0; len < 300; len++) {
      for (let k = 0; k < 5; k++) {
        const p = rng.bytes(len);
        assert.equal(zkChecksum(p), referenceChecksum(p), `length ${len}`);
      }
    }
  });
});
