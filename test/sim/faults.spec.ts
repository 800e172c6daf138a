import { strict as assert } from 'assert';
import {
  Cmd,
  Reply,
  ATTLOG_SELECTOR,
  USERS_SELECTOR,
  encodePrepareBuffer,
  encodeReadBuffer,
  decodeBufferStat,
  decodePrepareData,
  decodeFreeSizes,
  decodeAttendanceRecord,
  decodeUserRecords,
  DecodedPacket,
} from '../../lib/protocol';
import type { ChunkFault } from '../../lib/sim';
import { RawTcp } from './raw-client';
import { withSim } from './support';

async function connected(port: number): Promise<RawTcp> {
  const c = await RawTcp.connectTo(port);
  await c.connect();
  return c;
}

/** 1503 + one 1504 for the whole buffer; returns the packets of the 1504 response. */
async function oneChunk(
  c: RawTcp,
  until: (p: DecodedPacket[]) => boolean,
): Promise<{ total: number; packets: DecodedPacket[] }> {
  const stat = await c.request(Cmd.PREPARE_BUFFER, encodePrepareBuffer(ATTLOG_SELECTOR));
  const total = decodeBufferStat(stat.payload) as number;
  const packets = [await c.request(Cmd.READ_BUFFER, encodeReadBuffer({ start: 0, size: total }))];
  while (!until(packets)) packets.push(await c.next(500));
  return { total, packets };
}

const dataBytes = (ps: DecodedPacket[]): number =>
  ps.filter((p) => p.command === Cmd.DATA).reduce((n, p) => n + p.payload.length, 0);

describe('sim: fault knobs', () => {
  it('dropReply once/always, replyDelayMs, lateReply', async () => {
    await withSim(
      { faults: { dropReply: { [Cmd.GET_TIME]: 'once' }, replyDelayMs: { [Cmd.GET_VERSION]: 150 } } },
      async (sim, port) => {
        const c = await connected(port);
        try {
          c.replyId++;
          c.sendPacket(Cmd.GET_TIME);
          assert.ok(await c.silentFor(80), 'first GET_TIME dropped');
          assert.equal((await c.request(Cmd.GET_TIME)).command, Reply.ACK_OK, 'only once');
          const t0 = Date.now();
          await c.request(Cmd.GET_VERSION);
          assert.ok(Date.now() - t0 >= 140);
          await sim.setFaults({ lateReply: { [Cmd.GET_FREE_SIZES]: 150 } });
          c.replyId++;
          const lateId = c.replyId;
          c.sendPacket(Cmd.GET_FREE_SIZES);
          const next = await c.request(Cmd.GET_TIME);
          assert.equal(next.replyId, lateId + 1, 'later request answered first');
          const late = await c.next();
          assert.equal(late.replyId, lateId);
          assert.equal(late.payload.length, 92);
        } finally {
          await c.close();
        }
      },
    );
  });

  it('wrongReplyId, badChecksum and duplicateReply act on the chosen commands', async () => {
    await withSim(
      { faults: { wrongReplyId: [Cmd.GET_TIME], badChecksum: [Cmd.GET_VERSION], duplicateReply: [Cmd.FREE_DATA] } },
      async (_sim, port) => {
        const c = await connected(port);
        try {
          const t = await c.request(Cmd.GET_TIME);
          assert.equal(t.replyId, c.replyId + 1);
          assert.ok(t.checksumOk);
          assert.equal((await c.request(Cmd.GET_VERSION)).checksumOk, false);
          const f = await c.request(Cmd.FREE_DATA);
          const dup = await c.next();
          assert.equal(dup.replyId, f.replyId);
          assert.equal((await c.request(Cmd.ENABLEDEVICE)).checksumOk, true);
        } finally {
          await c.close();
        }
      },
    );
  });

  it('prepareBufferResult ackError / noReply', async () => {
    await withSim({ faults: { prepareBufferResult: 'ackError' } }, async (sim, port) => {
      const c = await connected(port);
      try {
        assert.equal(
          (await c.request(Cmd.PREPARE_BUFFER, encodePrepareBuffer(ATTLOG_SELECTOR))).command,
          Reply.ACK_ERROR,
        );
        await sim.setFaults({ prepareBufferResult: 'noReply' });
        c.replyId++;
        c.sendPacket(Cmd.PREPARE_BUFFER, encodePrepareBuffer(ATTLOG_SELECTOR));
        assert.ok(await c.silentFor(80));
        assert.equal(sim.counters.downloads, 2);
      } finally {
        await c.close();
      }
    });
  });

  const chunkCases: [ChunkFault, (total: number, ps: DecodedPacket[]) => void][] = [
    ['shortData', (total, ps) => assert.equal(dataBytes(ps), total - 1)],
    ['extraData', (total, ps) => assert.equal(dataBytes(ps), total + 1)],
    ['wrongPrepareSize', (total, ps) => assert.equal(decodePrepareData(ps[0].payload)?.size, total + 1)],
  ];
  for (const [fault, check] of chunkCases) {
    it(`chunkFaults ${fault}`, async () => {
      await withSim({ records: 100, faults: { chunkFaults: fault } }, async (_sim, port) => {
        const c = await connected(port);
        try {
          const { total, packets } = await oneChunk(c, (ps) => ps[ps.length - 1].command === Reply.ACK_OK);
          check(total, packets);
        } finally {
          await c.close();
        }
      });
    });
  }

  it('chunkFaults missingAck', async () => {
    await withSim({ records: 100, faults: { chunkFaults: 'missingAck' } }, async (_sim, port) => {
      const c = await connected(port);
      try {
        const { packets } = await oneChunk(c, (ps) => ps.some((p) => p.command === Cmd.DATA));
        assert.ok(await c.silentFor(80), 'no trailing ACK_OK');
        assert.ok(packets.every((p) => p.command !== Reply.ACK_OK));
      } finally {
        await c.close();
      }
    });
  });

  it("closeMidDownload 'fin' closes after N bytes; 'stall' goes silent and keeps the socket", async () => {
    await withSim(
      { records: 2000, faults: { closeMidDownload: { afterBytes: 20000, mode: 'fin' } } },
      async (sim, port) => {
        const c = await connected(port);
        const stat = await c.request(Cmd.PREPARE_BUFFER, encodePrepareBuffer(ATTLOG_SELECTOR));
        c.replyId++;
        c.sendPacket(Cmd.READ_BUFFER, encodeReadBuffer({ start: 0, size: decodeBufferStat(stat.payload) as number }));
        await c.closed;
        const received = c.reads.reduce((n, r) => n + r.length, 0);
        assert.ok(received > 19000 && received < 20000 + 200, `got ${received} bytes`);
        await sim.setFaults({ closeMidDownload: { afterBytes: 5000, mode: 'stall' } });
        const d = await connected(port);
        try {
          const s2 = await d.request(Cmd.PREPARE_BUFFER, encodePrepareBuffer(ATTLOG_SELECTOR));
          d.replyId++;
          d.sendPacket(Cmd.READ_BUFFER, encodeReadBuffer({ start: 0, size: decodeBufferStat(s2.payload) as number }));
          await d.silentFor(100);
          d.replyId++;
          d.sendPacket(Cmd.GET_TIME);
          const n = d.packets.length;
          await d.silentFor(100);
          assert.equal(d.packets.length, n);
          assert.equal(d.isClosed(), false);
        } finally {
          await d.close();
        }
      },
    );
  });

  it('countsMode offByOne / zero', async () => {
    await withSim({ users: 4, records: 10, faults: { countsMode: 'offByOne' } }, async (sim, port) => {
      const c = await connected(port);
      try {
        let s = decodeFreeSizes((await c.request(Cmd.GET_FREE_SIZES)).payload);
        assert.deepEqual([s.users, s.records], [5, 11]);
        await sim.setFaults({ countsMode: 'zero' });
        s = decodeFreeSizes((await c.request(Cmd.GET_FREE_SIZES)).payload);
        assert.deepEqual([s.users, s.records], [0, 0]);
      } finally {
        await c.close();
      }
    });
  });

  it('invalidTimestamps puts an impossible date in the last generated record and in punches', async () => {
    await withSim({ records: 5, faults: { invalidTimestamps: 'feb31' } }, async (sim, port) => {
      sim.punch({ userId: sim.users[0].userId });
      const c = await connected(port);
      try {
        const data = await c.download(ATTLOG_SELECTOR);
        const last = decodeAttendanceRecord(data, 5 * 40, 40);
        assert.equal(last.time.month, 2);
        assert.equal(last.time.day, 31);
        assert.equal(decodeAttendanceRecord(data, 4 * 40, 40).time.day, 31);
        assert.equal(
          decodeAttendanceRecord(data, 3 * 40, 40).time.month === 2 &&
            decodeAttendanceRecord(data, 3 * 40, 40).time.day === 31,
          false,
        );
      } finally {
        await c.close();
      }
    });
  });

  it('nameEncoding latin1 and gbk write the names in that code page', async () => {
    for (const enc of ['latin1', 'gbk'] as const) {
      await withSim({ users: 4, records: 0, faults: { nameEncoding: enc } }, async (sim, port) => {
        const c = await connected(port);
        try {
          const { users } = decodeUserRecords(await c.download(USERS_SELECTOR), 4, enc);
          assert.deepEqual(
            users.map((u) => u.name),
            sim.users.map((u) => u.name),
          );
          assert.ok(
            sim.users.some((u) => /[^\x20-\x7e]/.test(u.name ?? '')),
            'has non-ASCII names',
          );
        } finally {
          await c.close();
        }
      });
    }
  });
});
