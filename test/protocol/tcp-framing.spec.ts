import { strict as assert } from 'assert';
import {
  Cmd,
  Reply,
  TcpFrameSplitter,
  DEFAULT_MAX_FRAME_BYTES,
  encodePacket,
  frameTcp,
  encodePrepareData,
  encodeAttendanceRecord,
} from '../../lib/protocol';
import { ZkError, ZkProtocolError } from '../../lib/errors';
import { Rng, hex } from '../support/prng';

/** The packets of one §7.7 chunk response: PREPARE_DATA, 4 DATA packets (1008/1008/1008/980), ACK_OK. */
function chunkResponse(): Buffer[] {
  const records: Buffer[] = [];
  for (let i = 0; i < 100; i++) {
    records.push(
      encodeAttendanceRecord(
        {
          uid: i + 1,
          userId: String(1000 + i),
          verify: 1,
          state: 0,
          time: { year: 2024, month: 3, day: 15, hour: 8, minute: i % 60, second: 0 },
        },
        40,
      ),
    );
  }
  const total = Buffer.alloc(4);
  total.writeUInt32LE(4000, 0);
  const buffer = Buffer.concat([total, ...records]);
  const packets = [
    encodePacket({ command: Cmd.PREPARE_DATA, session: 0x1234, replyId: 6, payload: encodePrepareData(4004, 1008) }),
  ];
  for (let off = 0; off < buffer.length; off += 1008) {
    packets.push(
      encodePacket({ command: Cmd.DATA, session: 0x1234, replyId: 6, payload: buffer.subarray(off, off + 1008) }),
    );
  }
  packets.push(encodePacket({ command: Reply.ACK_OK, session: 0x1234, replyId: 6, payload: Buffer.alloc(0) }));
  return packets;
}

/** Feeds `stream` in pieces cut at the given sizes (the last size repeats) and collects the packets. */
function feed(splitter: TcpFrameSplitter, stream: Buffer, sizes: number[]): Buffer[] {
  const out: Buffer[] = [];
  let off = 0;
  let i = 0;
  while (off < stream.length) {
    const n = sizes[Math.min(i++, sizes.length - 1)];
    out.push(...splitter.push(stream.subarray(off, off + n)));
    off += n;
  }
  return out;
}

function assertSamePackets(actual: Buffer[], expected: Buffer[]): void {
  assert.equal(actual.length, expected.length, 'packet count');
  for (let i = 0; i < expected.length; i++) assert.ok(actual[i].equals(expected[i]), `packet ${i} differs`);
}

function expectBadFrame(fn: () => unknown, messagePart: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof ZkProtocolError && e instanceof ZkError && e instanceof Error);
    assert.equal(e.code, 'BAD_FRAME');
    assert.match(e.message, messagePart);
    return true;
  });
}

describe('protocol/tcp-framing: TcpFrameSplitter (§2.6)', () => {
  const packets = chunkResponse();
  const stream = Buffer.concat(packets.map(frameTcp));

  it('the §7.7 chunk response has the expected shape', () => {
    assert.deepEqual(
      packets.map((p) => p.length - 8),
      [8, 1008, 1008, 1008, 980, 0],
    );
    assert.equal(hex(packets[1].subarray(8, 12)), 'A0 0F 00 00');
  });

  it('all frames of a response in one read', () => {
    const s = new TcpFrameSplitter();
    assertSamePackets(s.push(stream), packets);
    assert.equal(s.buffered, 0);
  });

  it('byte-at-a-time delivery', () => {
    const s = new TcpFrameSplitter();
    const out = feed(s, stream, [1]);
    assertSamePackets(out, packets);
    assert.equal(s.buffered, 0);
  });

  for (const mss of [536, 1460]) {
    it(`${mss}-byte segments (MSS-sized splits)`, () => {
      const s = new TcpFrameSplitter();
      assertSamePackets(feed(s, stream, [mss]), packets);
      assert.equal(s.buffered, 0);
    });
  }

  it('a split at every position inside the prefix of the first and of a later frame', () => {
    const second = frameTcp(packets[0]).length; // offset of frame 2's prefix
    for (const base of [0, second]) {
      for (let k = 1; k < 8; k++) {
        const s = new TcpFrameSplitter();
        const out = [...s.push(stream.subarray(0, base + k))];
        assert.equal(out.length, base === 0 ? 0 : 1, `nothing complete yet (base ${base}, k ${k})`);
        assert.equal(s.buffered, k, 'the partial prefix is kept');
        out.push(...s.push(stream.subarray(base + k)));
        assertSamePackets(out, packets);
      }
    }
  });

  it('keeps a partial trailing frame across reads', () => {
    const s = new TcpFrameSplitter();
    const cut = stream.length - 100;
    const first = s.push(stream.subarray(0, cut));
    assert.equal(first.length, 4, 'PREPARE_DATA and the first three DATA packets');
    assert.equal(s.buffered, cut - packets.slice(0, 4).reduce((a, p) => a + p.length + 8, 0));
    assertSamePackets([...first, ...s.push(stream.subarray(cut))], packets);
  });

  it('random split points give the same packets (seeded)', () => {
    const rng = new Rng(1460);
    for (let round = 0; round < 200; round++) {
      const s = new TcpFrameSplitter();
      const out: Buffer[] = [];
      for (let off = 0; off < stream.length;) {
        const n = rng.range(1, 1600);
        out.push(...s.push(stream.subarray(off, off + n)));
        off += n;
      }
      assertSamePackets(out, packets);
    }
  });

  it('returned packets are copies, independent of the read buffer', () => {
    const s = new TcpFrameSplitter();
    const input = Buffer.from(stream);
    const out = s.push(input);
    input.fill(0);
    assertSamePackets(out, packets);
  });

  it('an 8-byte packet (no payload) is a valid frame', () => {
    const s = new TcpFrameSplitter();
    const p = encodePacket({ command: Reply.ACK_OK, session: 1, replyId: 1, payload: Buffer.alloc(0) });
    assertSamePackets(s.push(frameTcp(p)), [p]);
  });

  describe('strict mode errors', () => {
    it('bad magic → ZkProtocolError BAD_FRAME, and the buffer is dropped', () => {
      const s = new TcpFrameSplitter();
      const bad = Buffer.from(stream.subarray(0, 40));
      bad[1] = 0x51;
      expectBadFrame(() => s.push(bad), /magic 50 50 82 7d, got 50 51 82 7d/);
      assert.equal(s.buffered, 0);
    });

    it('bad magic after a good frame in the same read still throws (strict: the stream is unusable)', () => {
      const s = new TcpFrameSplitter();
      expectBadFrame(() => s.push(Buffer.concat([frameTcp(packets[0]), Buffer.from('GET / HTTP/1.1\r\n')])), /magic/);
    });

    it('waits for 8 bytes before judging the magic (§2.6 step 2)', () => {
      const s = new TcpFrameSplitter();
      assert.deepEqual(s.push(Buffer.from('GET / H')), []);
      assert.equal(s.buffered, 7);
      expectBadFrame(() => s.push(Buffer.from('T')), /magic/);
    });

    for (const n of [0, 1, 7]) {
      it(`length ${n} (< 8) → BAD_FRAME`, () => {
        const s = new TcpFrameSplitter();
        const prefix = Buffer.from([0x50, 0x50, 0x82, 0x7d, 0, 0, 0, 0]);
        prefix.writeUInt32LE(n, 4);
        expectBadFrame(() => s.push(prefix), new RegExp(`length ${n} `));
      });
    }

    it('length > maxFrameBytes → BAD_FRAME as soon as the prefix arrives; = max is accepted', () => {
      const s = new TcpFrameSplitter({ maxFrameBytes: 100 });
      const ok = encodePacket({ command: Cmd.DATA, session: 1, replyId: 1, payload: Buffer.alloc(92) });
      assertSamePackets(s.push(frameTcp(ok)), [ok]);
      const tooBig = frameTcp(encodePacket({ command: Cmd.DATA, session: 1, replyId: 1, payload: Buffer.alloc(93) }));
      expectBadFrame(() => s.push(tooBig.subarray(0, 8)), /length 101 \(allowed 8…100\)/);
    });

    it('default maximum is 1 MiB; a u32 length of 0xFFFFFFFF is rejected', () => {
      assert.equal(DEFAULT_MAX_FRAME_BYTES, 1024 * 1024);
      const s = new TcpFrameSplitter();
      const prefix = Buffer.from([0x50, 0x50, 0x82, 0x7d, 0, 0, 0, 0]);
      prefix.writeUInt32LE(DEFAULT_MAX_FRAME_BYTES, 4);
      assert.deepEqual(s.push(prefix), [], '1 MiB itself is allowed: it waits for the body');
      const s2 = new TcpFrameSplitter();
      prefix.writeUInt32LE(DEFAULT_MAX_FRAME_BYTES + 1, 4);
      expectBadFrame(() => s2.push(prefix), /length 1048577/);
      const s3 = new TcpFrameSplitter();
      prefix.writeUInt32LE(0xffffffff, 4);
      expectBadFrame(() => s3.push(prefix), /length 4294967295/);
    });
  });

  describe('lenient mode', () => {
    const garbage1 = Buffer.from('garbage!\r\n\x00\x01\x02'); // 13 bytes
    const partialMagic = Buffer.from([0x50, 0x50, 0x82, 0x00, 0x50]); // looks like a magic, is not

    it('skips garbage before, between and after frames and counts the skipped bytes', () => {
      const s = new TcpFrameSplitter({ lenient: true });
      const input = Buffer.concat([garbage1, frameTcp(packets[0]), partialMagic, frameTcp(packets[5]), garbage1]);
      const out = s.push(input);
      assertSamePackets(out, [packets[0], packets[5]]);
      // The trailing garbage is skipped except for the last 3 bytes, which could start a magic.
      assert.equal(s.skippedBytes, 13 + 5 + 10);
      assert.equal(s.buffered, 3);
    });

    it('gives the same result byte-at-a-time', () => {
      const s = new TcpFrameSplitter({ lenient: true });
      const input = Buffer.concat([garbage1, frameTcp(packets[0]), partialMagic, ...packets.slice(1).map(frameTcp)]);
      assertSamePackets(feed(s, input, [1]), packets);
      assert.equal(s.skippedBytes, 13 + 5);
      assert.equal(s.buffered, 0);
    });

    it('skips a magic with an impossible length and resynchronises on the next frame', () => {
      const s = new TcpFrameSplitter({ lenient: true, maxFrameBytes: 2000 });
      const badShort = Buffer.from([0x50, 0x50, 0x82, 0x7d, 3, 0, 0, 0]);
      const badLong = Buffer.from([0x50, 0x50, 0x82, 0x7d, 0xd1, 0x07, 0, 0]); // 2001
      const out = s.push(Buffer.concat([badShort, frameTcp(packets[0]), badLong, frameTcp(packets[5])]));
      assertSamePackets(out, [packets[0], packets[5]]);
      assert.equal(s.skippedBytes, 16);
      assert.equal(s.buffered, 0);
    });

    it('never throws on random input and accounts for every byte (seeded)', () => {
      const rng = new Rng(42);
      for (let round = 0; round < 300; round++) {
        const s = new TcpFrameSplitter({ lenient: true, maxFrameBytes: 4096 });
        const parts: Buffer[] = [];
        for (let i = rng.range(1, 6); i > 0; i--)
          parts.push(rng.bool() ? frameTcp(rng.pick(packets)) : rng.bytes(rng.range(0, 40)));
        const input = Buffer.concat(parts);
        let emitted = 0;
        for (let off = 0; off < input.length;) {
          const n = rng.range(1, 700);
          for (const p of s.push(input.subarray(off, off + n))) emitted += 8 + p.length;
          off += n;
        }
        assert.equal(emitted + s.skippedBytes + s.buffered, input.length);
      }
    });
  });

  it('reset() drops a partial frame', () => {
    const s = new TcpFrameSplitter();
    s.push(stream.subarray(0, 20));
    assert.equal(s.buffered, 20);
    s.reset();
    assert.equal(s.buffered, 0);
    assertSamePackets(s.push(stream), packets);
  });
});
