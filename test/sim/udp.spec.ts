import { strict as assert } from 'assert';
import {
  Cmd,
  Reply,
  ATTLOG_SELECTOR,
  USERS_SELECTOR,
  encodePrepareBuffer,
  decodeAttendanceRecords,
  decodeUserRecords,
  decodeEvent,
  makeCommKey,
  AttendanceEvent,
} from '../../lib/protocol';
import { RawUdp } from './raw-client';
import { assertSameAttendance, assertSameUsers } from '../support/expect-data';
import { withSim } from './support';

describe('sim: UDP', () => {
  it('shares the TCP port number and serves a zk6 download in ≤ 1024-byte DATA packets', async () => {
    await withSim(
      { profile: 'zk6', users: 12, records: 1500, faults: { directReplyMaxBytes: 0 } },
      async (sim, port) => {
        const c = await RawUdp.open(port);
        try {
          const r = await c.connect();
          assert.equal(r.command, Reply.ACK_OK);
          assert.notEqual(r.session, 0);
          assertSameUsers(decodeUserRecords(await c.download(USERS_SELECTOR, 16384), 12).users, sim.users);
          const data = await c.download(ATTLOG_SELECTOR, 16384);
          assertSameAttendance(decodeAttendanceRecords(data, 1500).records, sim.records);
          assert.ok(
            c.datagrams.every((d) => d.length <= 1032),
            'datagrams ≤ 1032 bytes',
          );
          assert.equal((await c.request(Cmd.EXIT)).command, Reply.ACK_OK);
        } finally {
          await c.close();
        }
        assert.equal(sim.counters.openConnections, 0);
      },
    );
  });

  it('uses the direct reply up to 1016 bytes by default', async () => {
    await withSim({ profile: 'zk6', records: 60 }, async (_sim, port) => {
      const c = await RawUdp.open(port);
      try {
        await c.connect();
        const r = await c.request(Cmd.PREPARE_BUFFER, encodePrepareBuffer(ATTLOG_SELECTOR));
        assert.equal(r.command, Cmd.DATA);
        assert.equal(r.payload.length, 4 + 60 * 16);
      } finally {
        await c.close();
      }
    });
  });

  it('comm key over UDP; unknown peers get ACK_UNAUTH; short datagrams are dropped', async () => {
    await withSim({ profile: 'zk6', commKey: 999999 }, async (sim, port) => {
      const stranger = await RawUdp.open(port);
      const c = await RawUdp.open(port);
      try {
        assert.equal((await stranger.request(Cmd.GET_TIME)).command, Reply.ACK_UNAUTH);
        stranger.sendRaw(Buffer.from([1, 2, 3]));
        const r = await c.connect();
        assert.equal(r.command, Reply.ACK_UNAUTH);
        assert.equal((await c.request(Cmd.AUTH, makeCommKey(999999, c.session))).command, Reply.ACK_OK);
        assert.equal((await c.request(Cmd.GET_TIME)).command, Reply.ACK_OK);
        assert.equal(sim.counters.shortDatagrams, 1);
      } finally {
        await stranger.close();
        await c.close();
      }
    });
  });

  it('sends 10-byte EF_ATTLOG events (zk6) to the registering address and port', async () => {
    await withSim({ profile: 'zk6', users: 5, records: 3 }, async (sim, port) => {
      const c = await RawUdp.open(port);
      const other = await RawUdp.open(port);
      try {
        await c.connect();
        await other.connect();
        assert.equal((await c.request(Cmd.REG_EVENT, Buffer.from([1, 0, 0, 0]))).command, Reply.ACK_OK);
        const u = sim.users[3];
        const rec = sim.punch({ userId: u.userId, verify: 1, state: 1 });
        const ev = await c.next();
        assert.equal(ev.command, Cmd.REG_EVENT);
        assert.equal(ev.session, 1);
        assert.equal(ev.replyId, 0);
        assert.equal(ev.payload.length, 10);
        const [d] = decodeEvent(ev.session, ev.payload) as AttendanceEvent[];
        assert.equal(d.userNumber, u.uid, 'the u16 user field carries the uid');
        assert.deepEqual(d.time, rec.time);
        assert.ok(await other.silentFor(100), 'unregistered peer gets nothing');
      } finally {
        await c.close();
        await other.close();
      }
    });
  });

  it('udpLoss drops datagrams reproducibly', async () => {
    await withSim({ profile: 'zk6', seed: 9, faults: { udpLoss: 1 } }, async (sim, port) => {
      const c = await RawUdp.open(port);
      try {
        c.sendPacket(Cmd.CONNECT, Buffer.alloc(0), 0, 0);
        assert.ok(await c.silentFor(100));
        assert.equal(sim.counters.udpDropped, 1);
      } finally {
        await c.close();
      }
    });
  });
});
