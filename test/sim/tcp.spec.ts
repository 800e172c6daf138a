import { strict as assert } from 'assert';
import {
  Cmd,
  Reply,
  ATTLOG_SELECTOR,
  USERS_SELECTOR,
  decodeAttendanceRecords,
  decodeUserRecords,
  decodeFreeSizes,
  decodeTime,
  encodeTime,
  makeCommKey,
  encodeReadBuffer,
  decodePrepareData,
  encodePrepareBuffer,
  decodeBufferStat,
  zkChecksum,
} from '../../lib/protocol';
import type { WriteMode } from '../../lib/sim';
import { RawTcp } from './raw-client';
import { assertSameAttendance, assertSameUsers } from '../support/expect-data';
import { HOST, withSim } from './support';

describe('sim: TCP', () => {
  it('answers CONNECT with a non-zero session id, echoes reply ids, sends valid checksums', async () => {
    await withSim({ seed: 3 }, async (sim, port) => {
      const c = await RawTcp.connectTo(port);
      try {
        c.replyId = 1; // node-zklib sends CONNECT with reply id 1
        c.sendPacket(Cmd.CONNECT, Buffer.alloc(0), 1, 0);
        const r = await c.next();
        assert.equal(r.command, Reply.ACK_OK);
        assert.notEqual(r.session, 0);
        assert.equal(r.replyId, 1);
        assert.ok(r.checksumOk);
        c.session = r.session;
        const t = await c.request(Cmd.GET_TIME);
        assert.equal(t.replyId, 2);
        assert.equal(t.session, r.session);
        assert.equal(t.payload.length, 4);
        // A second CONNECT keeps the session id.
        c.sendPacket(Cmd.CONNECT, Buffer.alloc(0), 3, r.session);
        assert.equal((await c.next()).session, r.session);
        // Sessions differ per connection.
        const d = await RawTcp.connectTo(port);
        const r2 = await d.connect();
        assert.notEqual(r2.session, r.session);
        await d.close();
      } finally {
        await c.close();
      }
      assert.equal(sim.counters.connections, 2);
    });
  });

  it('comm key: ACK_UNAUTH before auth, right key accepted, wrong key refused', async () => {
    await withSim({ commKey: 123456 }, async (_sim, port) => {
      const c = await RawTcp.connectTo(port);
      try {
        const r = await c.connect();
        assert.equal(r.command, Reply.ACK_UNAUTH);
        assert.notEqual(r.session, 0);
        assert.equal((await c.request(Cmd.GET_FREE_SIZES)).command, Reply.ACK_UNAUTH);
        assert.equal((await c.request(Cmd.AUTH, makeCommKey(654321, c.session))).command, Reply.ACK_UNAUTH);
        assert.equal((await c.request(Cmd.GET_TIME)).command, Reply.ACK_UNAUTH);
        assert.equal((await c.request(Cmd.AUTH, makeCommKey(123456, c.session, 0x77))).command, Reply.ACK_OK);
        assert.equal((await c.request(Cmd.GET_TIME)).command, Reply.ACK_OK);
      } finally {
        await c.close();
      }
    });
  });

  it('authWithZeroKey demands AUTH with key 0; commands before CONNECT are unauthorised', async () => {
    await withSim({ faults: { authWithZeroKey: true } }, async (_sim, port) => {
      const c = await RawTcp.connectTo(port);
      try {
        assert.equal((await c.request(Cmd.GET_TIME)).command, Reply.ACK_UNAUTH);
        const r = await c.connect(0);
        assert.equal(r.command, Reply.ACK_OK);
      } finally {
        await c.close();
      }
    });
  });

  it('answers the §4.2 commands; ACK_OK from the client gets no reply; EXIT closes', async () => {
    await withSim({ users: 7, records: 50, tz: 'UTC' }, async (sim, port) => {
      const c = await RawTcp.connectTo(port);
      try {
        await c.connect();
        const sizes = decodeFreeSizes((await c.request(Cmd.GET_FREE_SIZES)).payload);
        assert.equal(sizes.users, 7);
        assert.equal(sizes.records, 50);
        assert.equal(sizes.recordsAvailable, sizes.recordsCapacity - 50);
        assert.equal((await c.request(Cmd.GET_FREE_SIZES)).payload.length, 92);
        const opt = await c.request(Cmd.OPTIONS_RRQ, Buffer.from('~SerialNumber\0'));
        assert.equal(opt.payload.toString('latin1'), `~SerialNumber=${sim.serial}\0`);
        const noNul = await c.request(Cmd.OPTIONS_RRQ, Buffer.from('~DeviceName'));
        assert.equal(noNul.payload.toString('latin1'), '~DeviceName=SIM-TFT\0');
        assert.equal((await c.request(Cmd.OPTIONS_RRQ, Buffer.from('NoSuchKey\0'))).command, Reply.ACK_ERROR);
        assert.match((await c.request(Cmd.GET_VERSION)).payload.toString('latin1'), /^Ver .*\0$/);
        const pin = await c.request(Cmd.GET_PINWIDTH, Buffer.from([0x20, 0x50]));
        assert.equal(pin.payload.length, 1);
        assert.ok(pin.payload[0] > 0);
        for (const cmd of [60, 62, 1013, 1002, 1003, 500, 1017, 31]) {
          const payload = cmd === 1003 || cmd === 500 ? Buffer.alloc(4) : Buffer.alloc(0);
          assert.equal((await c.request(cmd, payload)).command, Reply.ACK_OK, `command ${cmd}`);
        }
        for (const cmd of [2001, 0xffff, 4242]) assert.equal((await c.request(cmd)).command, Reply.ACK_UNKNOWN);
        // SET_TIME with zkteco-js's 32-byte payload: only bytes 0–3 count.
        const set = Buffer.alloc(32, 0xee);
        set.writeUInt32LE(encodeTime({ year: 2024, month: 3, day: 15, hour: 13, minute: 45, second: 7 }), 0);
        assert.equal((await c.request(Cmd.SET_TIME, set)).command, Reply.ACK_OK);
        const got = decodeTime((await c.request(Cmd.GET_TIME)).payload.readUInt32LE(0));
        assert.deepEqual({ ...got, second: 0 }, { year: 2024, month: 3, day: 15, hour: 13, minute: 45, second: 0 });
        // Client ACK_OK: counted, not answered.
        c.sendPacket(Reply.ACK_OK, Buffer.alloc(0), 0);
        assert.ok(await c.silentFor(100));
        assert.equal(sim.counters.eventAcks, 1);
        assert.equal((await c.request(Cmd.CLEAR_ATTLOG)).command, Reply.ACK_OK);
        assert.equal(decodeFreeSizes((await c.request(Cmd.GET_FREE_SIZES)).payload).records, 0);
        assert.equal(sim.records.length, 0);
        assert.equal((await c.request(Cmd.EXIT)).command, Reply.ACK_OK);
        await c.closed;
      } finally {
        await c.close();
      }
      assert.equal(sim.counters.commandsSeen[Cmd.GET_FREE_SIZES], 3);
    });
  });

  it('downloads users and a small log through the direct DATA reply', async () => {
    await withSim({ users: 8, records: 20 }, async (sim, port) => {
      const c = await RawTcp.connectTo(port);
      try {
        await c.connect();
        const first = await c.request(Cmd.PREPARE_BUFFER, encodePrepareBuffer(ATTLOG_SELECTOR));
        assert.equal(first.command, Cmd.DATA, '4 + 20 × 40 = 804 ≤ 1024: direct reply');
        assert.equal(first.payload.length, 804);
        await c.request(Cmd.FREE_DATA);
        const users = decodeUserRecords(await c.download(USERS_SELECTOR), 8).users;
        assertSameUsers(users, sim.users);
        assert.equal(users[2].userId.length, 24);
        assertSameAttendance(decodeAttendanceRecords(await c.download(ATTLOG_SELECTOR), 20).records, sim.records);
      } finally {
        await c.close();
      }
      assert.equal(sim.counters.downloads, 3);
    });
  });

  const modes: WriteMode[] = ['separate', 'coalesced', 'mss536', 'mss1460', 'bytewise'];
  for (const writeMode of modes) {
    it(`buffered read in writeMode ${writeMode}`, async () => {
      const records = writeMode === 'bytewise' ? 60 : 3000;
      await withSim({ records, faults: { writeMode, maxPacketBytes: 1008 } }, async (sim, port) => {
        const c = await RawTcp.connectTo(port);
        try {
          await c.connect();
          const data = await c.download(ATTLOG_SELECTOR, 16384);
          assertSameAttendance(decodeAttendanceRecords(data, records).records, sim.records);
          // Check how the bytes were cut: reads never straddle frames in 'separate' mode.
          if (writeMode === 'coalesced')
            assert.ok(
              c.reads.some((r) => r.length > 1100),
              'a whole response in one read',
            );
          if (writeMode === 'bytewise') assert.ok(c.reads.filter((r) => r.length === 1).length > 100);
          // One write per packet with a yield between: the reader never gets two packets in one read.
          if (writeMode === 'separate')
            assert.ok(c.reads.length >= c.packets.length, `${c.reads.length} reads for ${c.packets.length} packets`);
        } finally {
          await c.close();
        }
      });
    });
  }

  it('answers pipelined 1504s strictly in order, including size 0, from the 1503 snapshot', async () => {
    await withSim({ records: 2000 }, async (sim, port) => {
      const c = await RawTcp.connectTo(port);
      try {
        await c.connect();
        const stat = await c.request(Cmd.PREPARE_BUFFER, encodePrepareBuffer(ATTLOG_SELECTOR));
        assert.equal(stat.command, Reply.ACK_OK);
        assert.equal(stat.payload.length, 13);
        const total = decodeBufferStat(stat.payload) as number;
        assert.equal(total, 4 + 2000 * 40);
        // The snapshot is fixed at 1503: a punch now must not change this download.
        sim.punch({ userId: sim.users[0].userId });
        const chunk = 30000;
        const ranges: [number, number][] = [];
        for (let s = 0; s < total; s += chunk) ranges.push([s, Math.min(chunk, total - s)]);
        ranges.push([total, 0]);
        const first = c.replyId + 1;
        // All requests in one write, like node-zklib.
        ranges.forEach(([start, size], i) => {
          c.replyId = first + i;
          c.sendPacket(Cmd.READ_BUFFER, encodeReadBuffer({ start, size }));
        });
        const parts: Buffer[] = [];
        for (let i = 0; i < ranges.length; i++) {
          const prep = await c.next();
          assert.equal(prep.command, Cmd.PREPARE_DATA);
          assert.equal(prep.replyId, first + i);
          assert.equal(prep.payload.length, 8);
          assert.equal(decodePrepareData(prep.payload)?.size, ranges[i][1]);
          parts.push(await c.readChunkBody(first + i, ranges[i][1]));
        }
        const buf = Buffer.concat(parts);
        assert.equal(buf.length, total);
        assertSameAttendance(decodeAttendanceRecords(buf.subarray(4), 2000).records, sim.records.slice(0, 2000));
        assert.equal(sim.records.length, 2001);
      } finally {
        await c.close();
      }
    });
  });

  it('checksums of received packets are verified and mismatches counted, not dropped', async () => {
    await withSim({}, async (sim, port) => {
      const c = await RawTcp.connectTo(port);
      try {
        await c.connect();
        const bad = Buffer.from([0xc9, 0x00, 0, 0, 0, 0, 5, 0]); // GET_TIME with a zero checksum
        bad.writeUInt16LE(c.session, 4);
        assert.notEqual(zkChecksum(bad), 0);
        const framed = Buffer.concat([Buffer.from([0x50, 0x50, 0x82, 0x7d, 8, 0, 0, 0]), bad]);
        c.socket.write(framed);
        assert.equal((await c.next()).command, Reply.ACK_OK);
        assert.equal(sim.counters.checksumMismatches, 1);
        assert.equal(sim.received[sim.received.length - 1].checksumOk, false);
      } finally {
        await c.close();
      }
    });
  });

  it('listens on the requested host only', async () => {
    await withSim({}, async (sim) => {
      assert.equal(sim.address.host, HOST);
      assert.ok(sim.address.port > 0);
    });
  });
});
