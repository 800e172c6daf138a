import { strict as assert } from 'assert';
import {
  Cmd,
  Reply,
  ATTLOG_SELECTOR,
  encodePrepareBuffer,
  encodeReadBuffer,
  decodeBufferStat,
  decodeEvent,
  decodeFreeSizes,
  AttendanceEvent,
  DecodedPacket,
} from '../../lib/protocol';
import type { SimProfileName } from '../../lib/sim';
import { RawTcp } from './raw-client';
import { withSim } from './support';

const REG = Buffer.from([1, 0, 0, 0]);

async function registered(port: number): Promise<RawTcp> {
  const c = await RawTcp.connectTo(port);
  await c.connect();
  const ack = await c.request(Cmd.REG_EVENT, REG);
  assert.equal(ack.command, Reply.ACK_OK);
  return c;
}

function isEvent(p: DecodedPacket): boolean {
  return p.command === Cmd.REG_EVENT && p.replyId === 0;
}

describe('sim: realtime events', () => {
  const bodies: [SimProfileName, number][] = [
    ['tft', 32],
    ['zk6', 12],
    ['compact8', 10],
    ['tft49', 52],
  ];
  for (const [profile, length] of bodies) {
    it(`${profile}: punch() appends a record and sends a ${length}-byte EF_ATTLOG body over TCP`, async () => {
      await withSim({ profile, users: 5, records: 10 }, async (sim, port) => {
        const c = await registered(port);
        const quiet = await RawTcp.connectTo(port);
        try {
          await quiet.connect();
          const u = sim.users[1];
          const rec = sim.punch({ userId: u.userId, verify: 15, state: 4 });
          const ev = await c.next();
          assert.ok(isEvent(ev));
          assert.equal(ev.session, 1, 'event code EF_ATTLOG in the session field');
          assert.ok(ev.checksumOk);
          assert.equal(ev.payload.length, length);
          const [d] = decodeEvent(ev.session, ev.payload) as AttendanceEvent[];
          assert.equal(d.kind, 'attendance');
          if (length === 10) assert.equal(d.userNumber, u.uid);
          else assert.equal(d.userId, u.userId);
          assert.deepEqual(d.time, rec.time);
          assert.equal(d.state, 4);
          assert.equal(d.verify, 15);
          assert.equal(sim.records.length, 11);
          assert.equal(decodeFreeSizes((await c.request(Cmd.GET_FREE_SIZES)).payload).records, 11);
          assert.ok(await quiet.silentFor(50), 'an unregistered connection gets nothing');
          assert.equal(sim.counters.eventsSent, 1);
        } finally {
          await c.close();
          await quiet.close();
        }
      });
    });
  }

  it('eventBodyLength overrides the body length', async () => {
    await withSim({ faults: { eventBodyLength: 52 } }, async (sim, port) => {
      const c = await registered(port);
      try {
        sim.punch({ userId: sim.users[0].userId });
        assert.equal((await c.next()).payload.length, 52);
      } finally {
        await c.close();
      }
    });
  });

  async function eventDuringDownload(timing: 'normal' | 'insideResponse'): Promise<DecodedPacket[]> {
    const out: DecodedPacket[] = [];
    await withSim({ records: 500, faults: { maxPacketBytes: 1008, eventTiming: timing } }, async (sim, port) => {
      const c = await registered(port);
      try {
        const stat = await c.request(Cmd.PREPARE_BUFFER, encodePrepareBuffer(ATTLOG_SELECTOR));
        const total = decodeBufferStat(stat.payload) as number;
        // Queue the event before the multi-packet response starts.
        c.replyId++;
        c.sendPacket(Cmd.READ_BUFFER, encodeReadBuffer({ start: 0, size: total }));
        const first = await c.next();
        out.push(first);
        sim.punch({ userId: sim.users[0].userId });
        for (;;) {
          const p = await c.next();
          out.push(p);
          if (isEvent(p) && out.some((q) => q.command === Reply.ACK_OK)) break;
          if (p.command === Reply.ACK_OK && out.some(isEvent)) break;
        }
      } finally {
        await c.close();
      }
    });
    return out;
  }

  it('normal timing: an event never interleaves inside a multi-packet response', async () => {
    const seq = await eventDuringDownload('normal');
    const ev = seq.findIndex(isEvent);
    const ack = seq.findIndex((p) => p.command === Reply.ACK_OK);
    assert.ok(ev > ack, `event at ${ev}, trailing ACK_OK at ${ack}`);
  });

  it("eventTiming 'insideResponse' puts the event between the response's packets", async () => {
    const seq = await eventDuringDownload('insideResponse');
    const ev = seq.findIndex(isEvent);
    const ack = seq.findIndex((p) => p.command === Reply.ACK_OK);
    assert.ok(ev > 0 && ev < ack, `event at ${ev}, trailing ACK_OK at ${ack}`);
  });

  it("eventTiming 'duringCommand' sends the event between the next request and its reply", async () => {
    await withSim({ faults: { eventTiming: 'duringCommand' } }, async (sim, port) => {
      const c = await registered(port);
      try {
        sim.punch({ userId: sim.users[0].userId });
        assert.ok(await c.silentFor(50), 'held until a request arrives');
        const first = await c.request(Cmd.GET_TIME);
        assert.ok(isEvent(first));
        assert.equal((await c.next()).command, Reply.ACK_OK);
      } finally {
        await c.close();
      }
    });
  });

  it("eventTiming 'afterRegAck' sends an event right after the REG_EVENT ACK", async () => {
    await withSim({ records: 5, faults: { eventTiming: 'afterRegAck' } }, async (sim, port) => {
      const c = await registered(port);
      try {
        assert.ok(isEvent(await c.next()));
        assert.equal(sim.records.length, 6, 'the event is a real punch');
      } finally {
        await c.close();
      }
    });
  });

  it('requireEventAck resends until the client ACKs', async () => {
    await withSim({ faults: { requireEventAck: { resendMs: 30 } } }, async (sim, port) => {
      const c = await registered(port);
      try {
        sim.punch({ userId: sim.users[0].userId });
        const a = await c.next();
        const b = await c.next();
        assert.ok(isEvent(a) && isEvent(b));
        assert.deepEqual(a.payload, b.payload);
        c.sendPacket(Reply.ACK_OK, Buffer.alloc(0), 0);
        await c.silentFor(40);
        const n = c.packets.length;
        assert.ok(await c.silentFor(100), 'no resends after the ACK');
        assert.equal(c.packets.length, n);
        assert.equal(sim.counters.eventAcks, 1);
      } finally {
        await c.close();
      }
    });
  });

  it('liveEveryMs punches periodically; REG_EVENT 0 stops events; muteSecond silences the second client', async () => {
    await withSim({ liveEveryMs: 20, records: 0, faults: { multiClient: 'muteSecond' } }, async (sim, port) => {
      const c = await registered(port);
      const second = await registered(port);
      try {
        const ev = await c.next();
        assert.ok(isEvent(ev));
        assert.ok(sim.records.length >= 1);
        // Turn events off; events already queued may still arrive before the ACK.
        c.replyId++;
        c.sendPacket(Cmd.REG_EVENT, Buffer.alloc(4));
        let p = await c.next();
        while (isEvent(p)) p = await c.next();
        assert.equal(p.command, Reply.ACK_OK);
        const before = sim.records.length;
        const afterOff = c.packets.length;
        await c.silentFor(80);
        assert.ok(sim.records.length > before, 'punches go on');
        assert.equal(c.packets.length, afterOff, 'no events after REG_EVENT 0');
        assert.ok(
          second.packets.every((p) => !isEvent(p)),
          'muted',
        );
      } finally {
        await c.close();
        await second.close();
      }
    });
  });
});
