import { strict as assert } from 'assert';
import {
  ATTLOG_SELECTOR,
  USERS_SELECTOR,
  Cmd,
  Reply,
  chunkRanges,
  decodeAttendanceRecords,
  decodeBufferStat,
  decodePacket,
  decodePrepareBuffer,
  decodePrepareData,
  decodeReadBuffer,
  encodeAttendanceRecord,
  encodeBufferStat,
  encodePacket,
  encodePrepareBuffer,
  encodePrepareData,
  encodeReadBuffer,
  frameTcp,
  TcpFrameSplitter,
} from '../../lib/protocol';
import { Rng, hex, normHex, unhex } from '../support/prng';

const S = 0x1234;
const frame = (command: number, replyId: number, payload: Buffer) =>
  frameTcp(encodePacket({ command, session: S, replyId, payload }));

describe('protocol/buffered: 1503/1504/1500 payloads (§7)', () => {
  describe('§7.7 computed frames (100 × 40-byte records, L = 4004)', () => {
    const v = {
      prepare: '50 50 82 7D 13 00 00 00 DF 05 E6 DA 34 12 05 00 01 0D 00 00 00 00 00 00 00 00 00',
      stat: '50 50 82 7D 15 00 00 00 D0 07 D7 9D 34 12 05 00 00 A4 0F 00 00 A4 0F 00 00 00 00 00 00',
      read: '50 50 82 7D 10 00 00 00 E0 05 41 D8 34 12 06 00 00 00 00 00 A4 0F 00 00',
      prepData: '50 50 82 7D 10 00 00 00 DC 05 55 D4 34 12 06 00 A4 0F 00 00 F0 03 00 00',
    };

    it('1503 request, reply 5: encode', () => {
      assert.equal(hex(frame(Cmd.PREPARE_BUFFER, 5, encodePrepareBuffer(ATTLOG_SELECTOR))), normHex(v.prepare));
    });
    it('1503 request: decode', () => {
      assert.deepEqual(decodePrepareBuffer(decodePacket(unhex(v.prepare).subarray(8))!.payload), ATTLOG_SELECTOR);
    });

    it('ACK_OK stat reply, reply 5: encode', () => {
      assert.equal(hex(frame(Reply.ACK_OK, 5, encodeBufferStat(4004))), normHex(v.stat));
    });
    it('ACK_OK stat reply: decode L = 4004', () => {
      const p = decodePacket(unhex(v.stat).subarray(8))!;
      assert.deepEqual([p.command, p.replyId, p.checksumOk, p.payload.length], [Reply.ACK_OK, 5, true, 13]);
      assert.equal(decodeBufferStat(p.payload), 4004);
    });

    it('1504 (0, 4004), reply 6: encode', () => {
      assert.equal(hex(frame(Cmd.READ_BUFFER, 6, encodeReadBuffer({ start: 0, size: 4004 }))), normHex(v.read));
    });
    it('1504: decode', () => {
      assert.deepEqual(decodeReadBuffer(decodePacket(unhex(v.read).subarray(8))!.payload), { start: 0, size: 4004 });
    });

    it('PREPARE_DATA (4004, 1008), reply 6: encode', () => {
      assert.equal(hex(frame(Cmd.PREPARE_DATA, 6, encodePrepareData(4004, 1008))), normHex(v.prepData));
    });
    it('PREPARE_DATA: decode', () => {
      assert.deepEqual(decodePrepareData(decodePacket(unhex(v.prepData).subarray(8))!.payload), {
        size: 4004,
        maxPacket: 1008,
      });
    });

    it('the whole exchange through the splitter: DATA 1008/1008/1008/980 reassemble to 100 records', () => {
      const recs: Buffer[] = [];
      for (let i = 0; i < 100; i++) {
        recs.push(
          encodeAttendanceRecord(
            {
              uid: i + 1,
              userId: String(i + 1),
              verify: 1,
              state: i % 2,
              time: { year: 2024, month: 3, day: 15, hour: 8, minute: i % 60, second: i % 60 },
            },
            40,
          ),
        );
      }
      const total = Buffer.alloc(4);
      total.writeUInt32LE(4000, 0);
      const buffer = Buffer.concat([total, ...recs]);
      const ranges = chunkRanges(buffer.length, 1008);
      assert.deepEqual(
        ranges.map((r) => r.size),
        [1008, 1008, 1008, 980],
      );
      const stream = Buffer.concat([
        frame(Cmd.PREPARE_DATA, 6, encodePrepareData(4004, 1008)),
        ...ranges.map((r) => frame(Cmd.DATA, 6, buffer.subarray(r.start, r.start + r.size))),
        frame(Reply.ACK_OK, 6, Buffer.alloc(0)),
      ]);
      const packets = new TcpFrameSplitter().push(stream).map((b) => decodePacket(b)!);
      assert.deepEqual(
        packets.map((p) => [p.command, p.replyId, p.checksumOk]),
        [
          [1500, 6, true],
          [1501, 6, true],
          [1501, 6, true],
          [1501, 6, true],
          [1501, 6, true],
          [2000, 6, true],
        ],
      );
      assert.equal(hex(packets[1].payload.subarray(0, 4)), 'A0 0F 00 00');
      const data = Buffer.concat(packets.slice(1, 5).map((p) => p.payload));
      assert.equal(data.length, decodePrepareData(packets[0].payload)!.size);
      assert.equal(4 + data.readUInt32LE(0), data.length);
      const { layout, records } = decodeAttendanceRecords(data.subarray(4), 100);
      assert.deepEqual(layout, { size: 40, count: 100, padding: 0 });
      assert.deepEqual(
        records.map((r) => r.userId),
        recs.map((_, i) => String(i + 1)),
      );
    });
  });

  it('§7.2 selector payloads: attendance and users', () => {
    assert.equal(hex(encodePrepareBuffer(ATTLOG_SELECTOR)), normHex('01 0D 00 00 00 00 00 00 00 00 00'));
    assert.equal(hex(encodePrepareBuffer(USERS_SELECTOR)), normHex('01 09 00 05 00 00 00 00 00 00 00'));
    assert.deepEqual(decodePrepareBuffer(unhex('01 09 00 05 00 00 00 00 00 00 00')), USERS_SELECTOR);
    assert.deepEqual(decodePrepareBuffer(encodePrepareBuffer({ command: 7, fct: 2, ext: -1 })), {
      command: 7,
      fct: 2,
      ext: -1,
    });
  });

  it('round-trips random values for every payload (seeded)', () => {
    const rng = new Rng(1504);
    for (let i = 0; i < 1000; i++) {
      const L = rng.u32();
      assert.equal(decodeBufferStat(encodeBufferStat(L)), L);
      const r = { start: rng.u32(), size: rng.u32() };
      assert.deepEqual(decodeReadBuffer(encodeReadBuffer(r)), r);
      const size = rng.u32();
      const maxPacket = rng.u32();
      assert.deepEqual(decodePrepareData(encodePrepareData(size, maxPacket)), { size, maxPacket });
      const sel = { command: rng.range(-32768, 32767), fct: rng.u32() | 0, ext: rng.u32() | 0 };
      assert.deepEqual(decodePrepareBuffer(encodePrepareBuffer(sel)), sel);
    }
  });

  it('stat payload: L twice, first byte 0, last 4 bytes 0', () => {
    assert.equal(hex(encodeBufferStat(0x01020304)), normHex('00 04 03 02 01 04 03 02 01 00 00 00 00'));
  });

  it('short payloads decode to null (or partial fields), never throw', () => {
    assert.equal(decodePrepareBuffer(unhex('01 0D')), null);
    assert.deepEqual(decodePrepareBuffer(unhex('01 0D 00')), { command: 13, fct: 0, ext: 0 });
    assert.deepEqual(decodePrepareBuffer(unhex('01 09 00 05 00 00 00')), { command: 9, fct: 5, ext: 0 });
    assert.equal(decodeBufferStat(unhex('00 A4 0F 00')), null);
    assert.equal(decodeBufferStat(unhex('00 A4 0F 00 00')), 4004, 'node-zklib reads only offset 1');
    assert.equal(decodeReadBuffer(Buffer.alloc(7)), null);
    assert.equal(decodePrepareData(Buffer.alloc(3)), null);
    assert.deepEqual(decodePrepareData(unhex('A4 0F 00 00')), { size: 4004, maxPacket: 0 });
  });

  it('chunkRanges covers 0…L−1 exactly, with no empty chunk', () => {
    assert.deepEqual(chunkRanges(0, 65472), []);
    assert.deepEqual(chunkRanges(65472, 65472), [{ start: 0, size: 65472 }]);
    assert.deepEqual(chunkRanges(65473, 65472), [
      { start: 0, size: 65472 },
      { start: 65472, size: 1 },
    ]);
    const rng = new Rng(8);
    for (let i = 0; i < 200; i++) {
      const L = rng.int(300_000);
      const chunk = rng.range(1, 70_000);
      let next = 0;
      for (const r of chunkRanges(L, chunk)) {
        assert.equal(r.start, next);
        assert.ok(r.size > 0 && r.size <= chunk);
        next += r.size;
      }
      assert.equal(next, L);
    }
  });
});
