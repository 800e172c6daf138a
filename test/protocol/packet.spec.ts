import { strict as assert } from 'assert';
import {
  Cmd,
  Reply,
  codeName,
  nextReplyId,
  REPLY_ID_MODULUS,
  encodePacket,
  decodePacket,
  frameTcp,
  zkChecksum,
  makeCommKey,
  encodeTime,
} from '../../lib/protocol';
import { hex, normHex, unhex } from '../support/prng';

function u32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v >>> 0, 0);
  return b;
}

describe('protocol/packet: header, encodePacket/decodePacket, frameTcp (§2.3–2.5)', () => {
  // Every row of §2.5, built from fields with the codec and compared byte for byte.
  const rows: { name: string; command: number; session: number; replyId: number; payload: Buffer; wire: string }[] = [
    {
      name: 'CONNECT, session 0, reply id 1',
      command: Cmd.CONNECT,
      session: 0,
      replyId: 1,
      payload: Buffer.alloc(0),
      wire: '50 50 82 7D 08 00 00 00 E8 03 16 FC 00 00 01 00',
    },
    {
      name: 'ACK_OK, session 0x1234, reply id 1',
      command: Reply.ACK_OK,
      session: 0x1234,
      replyId: 1,
      payload: Buffer.alloc(0),
      wire: '50 50 82 7D 08 00 00 00 D0 07 FA E5 34 12 01 00',
    },
    {
      name: 'ACK_UNAUTH, session 0xFFFF, reply id 0',
      command: Reply.ACK_UNAUTH,
      session: 0xffff,
      replyId: 0,
      payload: Buffer.alloc(0),
      wire: '50 50 82 7D 08 00 00 00 D5 07 2A F8 FF FF 00 00',
    },
    {
      name: 'AUTH, session 0xFFFF, reply id 1, key 123456',
      command: Cmd.AUTH,
      session: 0xffff,
      replyId: 1,
      payload: makeCommKey(123456, 0xffff),
      wire: '50 50 82 7D 0C 00 00 00 4E 04 55 76 FF FF 01 00 29 7F 32 06',
    },
    {
      name: 'ACK_OK to GET_TIME, 2024-03-15 13:45:07',
      command: Reply.ACK_OK,
      session: 0x1234,
      replyId: 7,
      payload: u32(encodeTime({ year: 2024, month: 3, day: 15, hour: 13, minute: 45, second: 7 })),
      wire: '50 50 82 7D 0C 00 00 00 D0 07 32 74 34 12 07 00 63 43 5F 2E',
    },
    {
      name: 'REG_EVENT flags = 1, reply id 9',
      command: Cmd.REG_EVENT,
      session: 0x1234,
      replyId: 9,
      payload: u32(1),
      wire: '50 50 82 7D 0C 00 00 00 F4 01 CD EB 34 12 09 00 01 00 00 00',
    },
    {
      name: 'client ACK_OK for an event, reply id 0',
      command: Reply.ACK_OK,
      session: 0x1234,
      replyId: 0,
      payload: Buffer.alloc(0),
      wire: '50 50 82 7D 08 00 00 00 D0 07 FB E5 34 12 00 00',
    },
  ];

  describe('§2.5 computed packets: encode', () => {
    for (const r of rows) {
      it(r.name, () => {
        const frame = frameTcp(
          encodePacket({ command: r.command, session: r.session, replyId: r.replyId, payload: r.payload }),
        );
        assert.equal(hex(frame), normHex(r.wire));
      });
    }
  });

  describe('§2.5 computed packets: decode', () => {
    for (const r of rows) {
      it(r.name, () => {
        const p = decodePacket(unhex(r.wire).subarray(8));
        assert.ok(p);
        assert.equal(p.command, r.command);
        assert.equal(p.session, r.session);
        assert.equal(p.replyId, r.replyId);
        assert.equal(hex(p.payload), hex(r.payload));
        assert.equal(p.checksumOk, true);
        assert.equal(p.checksum, unhex(r.wire).readUInt16LE(10));
      });
    }
  });

  it('§2.4 vector 1 built with encodePacket puts 5A 17 at bytes 2–3', () => {
    const p = encodePacket({
      command: Cmd.OPTIONS_RRQ,
      session: 0x8df3,
      replyId: 3,
      payload: Buffer.from('ZKFaceVersion\0', 'latin1'),
    });
    assert.equal(hex(p), normHex('0B 00 5A 17 F3 8D 03 00 5A 4B 46 61 63 65 56 65 72 73 69 6F 6E 00'));
  });

  it('§2.4 vector 2 built with encodePacket puts 29 6A at bytes 2–3', () => {
    const p = encodePacket({ command: Reply.ACK_OK, session: 0x8df3, replyId: 10, payload: Buffer.from([0x09]) });
    assert.equal(hex(p), normHex('D0 07 29 6A F3 8D 0A 00 09'));
  });

  it('frameTcp writes the magic and the packet length as u32 LE', () => {
    const packet = encodePacket({ command: Reply.ACK_OK, session: 1, replyId: 2, payload: Buffer.alloc(70_000, 0xab) });
    const frame = frameTcp(packet);
    assert.equal(hex(frame.subarray(0, 4)), '50 50 82 7D');
    // 70,008 > 65,535: all four length bytes matter (node-zklib writes only two).
    assert.equal(frame.readUInt32LE(4), 70_008);
    assert.equal(frame[6], 0x01);
    assert.ok(frame.subarray(8).equals(packet));
  });

  it('decodePacket flags a corrupted packet but still decodes it', () => {
    const wire = unhex(rows[3].wire).subarray(8);
    const bad = Buffer.from(wire);
    bad[bad.length - 1] ^= 0x01;
    const p = decodePacket(bad);
    assert.ok(p);
    assert.equal(p.checksumOk, false);
    assert.equal(p.checksum, 0x7655);
    assert.equal(p.command, Cmd.AUTH);
    assert.equal(hex(p.payload), '29 7F 32 07');
  });

  it('decodePacket: null under 8 bytes, empty payload at exactly 8', () => {
    for (let n = 0; n < 8; n++) assert.equal(decodePacket(Buffer.alloc(n)), null, `length ${n}`);
    const p = decodePacket(encodePacket({ command: 1, session: 2, replyId: 3, payload: Buffer.alloc(0) }));
    assert.ok(p);
    assert.equal(p.payload.length, 0);
    assert.equal(p.checksumOk, true);
  });

  it('encodePacket → decodePacket round-trips any header values and payload', () => {
    for (const [command, session, replyId, len] of [
      [0, 0, 0, 0],
      [0xffff, 0xffff, 65534, 1],
      [Cmd.DATA, 0x8df3, 12345, 1008],
      [500, 1, 0, 37],
    ]) {
      const payload = Buffer.alloc(len, len & 0xff);
      const p = decodePacket(encodePacket({ command, session, replyId, payload }));
      assert.ok(p);
      assert.deepEqual([p.command, p.session, p.replyId, p.checksumOk], [command, session, replyId, true]);
      assert.ok(p.payload.equals(payload));
      assert.equal(p.checksum, zkChecksum(encodePacket({ command, session, replyId, payload })));
    }
  });

  describe('reply id (§3.3)', () => {
    it('nextReplyId counts up and wraps 65534 → 0', () => {
      assert.equal(REPLY_ID_MODULUS, 65535);
      assert.equal(nextReplyId(0), 1);
      assert.equal(nextReplyId(65533), 65534);
      assert.equal(nextReplyId(65534), 0);
    });

    it('a long run of ids never leaves 0…65534 and every id encodes', () => {
      let id = 65530;
      const seen: number[] = [];
      for (let i = 0; i < 10; i++) {
        id = nextReplyId(id);
        seen.push(id);
        const p = decodePacket(
          encodePacket({ command: Cmd.GET_TIME, session: 0x1234, replyId: id, payload: Buffer.alloc(0) }),
        );
        assert.equal(p?.replyId, id);
      }
      assert.deepEqual(seen, [65531, 65532, 65533, 65534, 0, 1, 2, 3, 4, 5]);
    });
  });

  it('codeName names commands and replies, and falls back for unknown codes', () => {
    assert.equal(codeName(2000), 'ACK_OK');
    assert.equal(codeName(1503), 'PREPARE_BUFFER');
    assert.equal(codeName(0xffff), 'ACK_UNKNOWN');
    assert.equal(codeName(4242), 'CMD_4242');
  });
});
