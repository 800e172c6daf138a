/**
 * Every fault knob of the simulator against our client: each either succeeds with exact data or fails
 * with the right typed error within its timeout, and leaves no socket or timer behind.
 */
import { strict as assert } from 'assert';
import * as http from 'http';
import * as net from 'net';
import { ZkClient, ZkClientOptions } from '../../lib/client';
import { ZkSimulator } from '../../lib/sim';
import type { SimFaults, SimOptions } from '../../lib/sim';
import {
  ZkBusyError,
  ZkConnectionError,
  ZkDeviceError,
  ZkError,
  ZkProtocolError,
  ZkTimeoutError,
} from '../../lib/errors';
import { Cmd } from '../../lib/protocol';
import { assertSameAttendance } from '../support/expect-data';
import { checkNoLeaks } from '../support/handles';

const HOST = '127.0.0.1';
type ErrorClass = new (...args: never[]) => ZkError;

interface Case {
  name: string;
  sim?: Partial<SimOptions>;
  faults: SimFaults;
  client?: Partial<ZkClientOptions>;
  /** Expected outcome of attendance(): exact data, or this error class within `withinMs`. */
  expect: 'exact' | { error: ErrorClass; withinMs: number };
}

const fast = { timeoutMs: 800, chunkTimeoutMs: 800, ackGraceMs: 200 };

const cases: Case[] = [
  { name: 'writeMode coalesced', faults: { writeMode: 'coalesced' }, expect: 'exact' },
  { name: 'writeMode mss536', faults: { writeMode: 'mss536', maxPacketBytes: 1008 }, expect: 'exact' },
  { name: 'writeMode mss1460', faults: { writeMode: 'mss1460' }, expect: 'exact' },
  { name: 'writeMode bytewise', sim: { records: 150 }, faults: { writeMode: 'bytewise' }, expect: 'exact' },
  { name: '1008-byte DATA packets', faults: { maxPacketBytes: 1008 }, expect: 'exact' },
  {
    name: 'inter-packet gap 3 ms',
    sim: { records: 300 },
    faults: { interPacketGapMs: 3, maxPacketBytes: 1008 },
    expect: 'exact',
  },
  {
    name: 'direct replies up to 64 KiB',
    sim: { records: 1000 },
    faults: { directReplyMaxBytes: 65536 },
    expect: 'exact',
  },
  {
    name: 'every buffer through the stat path',
    sim: { records: 3 },
    faults: { directReplyMaxBytes: 0 },
    expect: 'exact',
  },
  {
    name: 'reply delayed within the timeout',
    faults: { replyDelayMs: { [Cmd.GET_FREE_SIZES]: 300 } },
    expect: 'exact',
  },
  {
    name: 'reply delayed past the timeout',
    faults: { replyDelayMs: { [Cmd.PREPARE_BUFFER]: 3000 } },
    client: fast,
    expect: { error: ZkTimeoutError, withinMs: 2500 },
  },
  {
    name: 'reply dropped always',
    faults: { dropReply: { [Cmd.PREPARE_BUFFER]: 'always' } },
    client: fast,
    expect: { error: ZkTimeoutError, withinMs: 2500 },
  },
  {
    name: 'late reply to GET_FREE_SIZES after the timeout',
    faults: { lateReply: { [Cmd.GET_FREE_SIZES]: 1200 } },
    client: fast,
    expect: { error: ZkTimeoutError, withinMs: 2500 },
  },
  {
    name: 'wrong reply id on PREPARE_BUFFER',
    faults: { wrongReplyId: [Cmd.PREPARE_BUFFER] },
    client: fast,
    expect: { error: ZkTimeoutError, withinMs: 2500 },
  },
  { name: 'bad checksums (lenient default)', faults: { badChecksum: 'all' }, expect: 'exact' },
  {
    name: 'bad checksums with strictChecksum',
    faults: { badChecksum: [Cmd.PREPARE_BUFFER] },
    client: { ...fast, strictChecksum: true },
    expect: { error: ZkProtocolError, withinMs: 2500 },
  },
  { name: 'duplicate replies', faults: { duplicateReply: 'all' }, expect: 'exact' },
  {
    name: 'ACK_ERROR on the data request',
    faults: { prepareBufferResult: 'ackError' },
    client: fast,
    expect: { error: ZkDeviceError, withinMs: 2500 },
  },
  {
    name: 'no reply to the data request',
    faults: { prepareBufferResult: 'noReply' },
    client: fast,
    expect: { error: ZkTimeoutError, withinMs: 2500 },
  },
  {
    name: 'short DATA in every chunk',
    faults: { chunkFaults: 'shortData' },
    client: fast,
    expect: { error: ZkProtocolError, withinMs: 4000 },
  },
  {
    name: 'extra DATA in every chunk',
    faults: { chunkFaults: 'extraData' },
    client: fast,
    expect: { error: ZkProtocolError, withinMs: 4000 },
  },
  { name: 'missing trailing ACK_OK', faults: { chunkFaults: 'missingAck' }, client: fast, expect: 'exact' },
  {
    name: 'wrong PREPARE_DATA size',
    faults: { chunkFaults: 'wrongPrepareSize' },
    client: fast,
    expect: { error: ZkProtocolError, withinMs: 4000 },
  },
  {
    name: 'close (FIN) mid-download',
    faults: { closeMidDownload: { afterBytes: 20000, mode: 'fin' } },
    client: fast,
    expect: { error: ZkConnectionError, withinMs: 2500 },
  },
  {
    name: 'stall mid-download',
    faults: { closeMidDownload: { afterBytes: 20000, mode: 'stall' } },
    client: fast,
    expect: { error: ZkTimeoutError, withinMs: 4000 },
  },
  { name: 'counts off by one', faults: { countsMode: 'offByOne' }, expect: 'exact' },
  { name: 'counts zero with data present', faults: { countsMode: 'zero' }, expect: 'exact' },
  {
    name: 'events during commands',
    sim: { liveEveryMs: 5 },
    faults: { eventTiming: 'duringCommand' },
    expect: 'exact',
  },
  {
    name: 'events inside multi-packet responses',
    sim: { liveEveryMs: 5 },
    faults: { eventTiming: 'insideResponse', maxPacketBytes: 1008 },
    expect: 'exact',
  },
  {
    name: 'UDP with 5% datagram loss',
    sim: { records: 1500 },
    faults: { udpLoss: 0.05 },
    client: { transport: 'udp', timeoutMs: 300, chunkTimeoutMs: 300, chunkRetries: 20, ackGraceMs: 100 },
    expect: 'exact',
  },
];

describe('ZkClient against every simulator fault', function () {
  this.timeout(20000);
  checkNoLeaks();

  for (const tc of cases) {
    it(`${tc.name}: ${tc.expect === 'exact' ? 'exact data' : tc.expect.error.name}`, async () => {
      const sim = new ZkSimulator({
        host: HOST,
        port: 0,
        seed: 5,
        users: 20,
        records: 2500,
        ...tc.sim,
        faults: tc.faults,
      });
      const { port } = await sim.start();
      const c = new ZkClient({ host: HOST, port, ...tc.client });
      try {
        // UDP loss can hit CONNECT itself: retry the connect a few times, as an application would.
        for (let i = 0; ; i++) {
          try {
            await c.connect();
            break;
          } catch (err) {
            if (!(tc.faults.udpLoss && err instanceof ZkTimeoutError && i < 5)) throw err;
          }
        }
        const t0 = Date.now();
        if (tc.expect === 'exact') {
          const before = sim.records.length;
          const att = await c.attendance();
          // Live punches may land before the device snapshots its log: the read is exact up to its length.
          assert.ok(att.records.length >= before, `got ${att.records.length} records, the device had ${before}`);
          assertSameAttendance(att.records, sim.records.slice(0, att.records.length));
        } else {
          const { error, withinMs } = tc.expect;
          await assert.rejects(c.attendance(), (err: Error) => {
            assert.ok(err instanceof error, `expected ${error.name}, got ${err.name}: ${err.message}`);
            assert.match(err.message, new RegExp(`127\\.0\\.0\\.1:${port}`), 'the error names the device');
            return true;
          });
          assert.ok(Date.now() - t0 < withinMs, `failed after ${Date.now() - t0} ms, allowed ${withinMs}`);
        }
      } finally {
        await c.close();
        await sim.stop();
      }
    });
  }

  it('dropReply once: that command times out, the next one on the same connection works', async () => {
    const sim = new ZkSimulator({
      host: HOST,
      port: 0,
      records: 100,
      faults: { dropReply: { [Cmd.GET_TIME]: 'once' } },
    });
    const { port } = await sim.start();
    const c = new ZkClient({ host: HOST, port, timeoutMs: 500 });
    try {
      await c.connect();
      await assert.rejects(c.getTime(), ZkTimeoutError);
      const t = await c.getTime();
      assert.ok(t.year >= 2024);
    } finally {
      await c.close();
      await sim.stop();
    }
  });

  it('a late reply is dropped as stale and does not shift later replies', async () => {
    const sim = new ZkSimulator({
      host: HOST,
      port: 0,
      records: 100,
      faults: { lateReply: { [Cmd.GET_FREE_SIZES]: 700 } },
    });
    const { port } = await sim.start();
    const c = new ZkClient({ host: HOST, port, timeoutMs: 400 });
    try {
      await c.connect();
      await assert.rejects(c.freeSizes(), ZkTimeoutError);
      sim.setFaults({ lateReply: undefined });
      // The next commands run while the late reply arrives; each must get its own answer.
      const deadline = Date.now() + 1000;
      while (Date.now() < deadline) {
        const t = await c.getTime();
        assert.ok(t.year >= 2024);
      }
      assert.equal((await c.freeSizes()).records, 100);
      assert.ok((c.stats?.stalePackets ?? 0) >= 1, 'the late reply was counted as stale');
    } finally {
      await c.close();
      await sim.stop();
    }
  });

  it('refuse a second connection: ZkBusyError or ZkConnectionError for the second client, the first keeps working', async () => {
    const sim = new ZkSimulator({ host: HOST, port: 0, records: 100, faults: { multiClient: 'refuse' } });
    const { port } = await sim.start();
    const a = new ZkClient({ host: HOST, port, timeoutMs: 1000 });
    const b = new ZkClient({ host: HOST, port, timeoutMs: 1000 });
    try {
      await a.connect();
      await assert.rejects(b.connect(), (err: Error) => err instanceof ZkBusyError || err instanceof ZkConnectionError);
      assertSameAttendance((await a.attendance()).records, sim.records);
    } finally {
      await a.close();
      await b.close();
      await sim.stop();
    }
  });

  it('TCP refused: auto falls back to UDP; tcp-only fails with ZkConnectionError', async () => {
    const sim = new ZkSimulator({ host: HOST, port: 0, profile: 'zk6', records: 200, faults: { tcpMode: 'refuse' } });
    const { port } = await sim.start();
    try {
      const tcp = new ZkClient({ host: HOST, port, transport: 'tcp' });
      await assert.rejects(
        tcp.connect(),
        (err: Error) => err instanceof ZkConnectionError && /refused/.test(err.message),
      );
      const auto = new ZkClient({ host: HOST, port, transport: 'auto' });
      await auto.connect();
      try {
        assert.equal(auto.transport, 'udp');
        assertSameAttendance((await auto.attendance()).records, sim.records);
      } finally {
        await auto.close();
      }
    } finally {
      await sim.stop();
    }
  });

  it('TCP blackhole: CONNECT times out within the timeout', async () => {
    const sim = new ZkSimulator({ host: HOST, port: 0, records: 10, faults: { tcpMode: 'blackhole' } });
    const { port } = await sim.start();
    const c = new ZkClient({ host: HOST, port, timeoutMs: 500 });
    try {
      const t0 = Date.now();
      await assert.rejects(c.connect(), ZkTimeoutError);
      assert.ok(Date.now() - t0 < 1500);
    } finally {
      await c.close();
      await sim.stop();
    }
  });

  it('a port that answers HTTP: the error says so (a push-mode device or a web page), not a bad frame', async () => {
    const web = http.createServer((_req, res) => res.end('hello'));
    await new Promise<void>((r) => web.listen(0, HOST, () => r()));
    const { port } = web.address() as net.AddressInfo;
    const c = new ZkClient({ host: HOST, port, transport: 'tcp', timeoutMs: 2000 });
    try {
      await assert.rejects(c.connect(), (err: Error) => {
        assert.ok(err instanceof ZkProtocolError, `${err.name}: ${err.message}`);
        assert.match(
          err.message,
          new RegExp(
            `^127\\.0\\.0\\.1:${port} answers HTTP \\("HTTP/1\\.1 400 Bad Request"\\), not the ZK protocol: perhaps a push-mode`,
          ),
        );
        assert.doesNotMatch(err.message, /magic/);
        return true;
      });
    } finally {
      await c.close();
      await new Promise<void>((r) => web.close(() => r()));
    }
  });

  it('an HTTP answer split across reads is still recognised', async () => {
    const sockets = new Set<net.Socket>();
    const srv = net.createServer((s) => {
      sockets.add(s);
      s.once('data', () => {
        s.write('HTT');
        setImmediate(() => s.write('P/1.0 200 OK\r\nContent-Type: text/html\r\n\r\n<html>'));
      });
    });
    await new Promise<void>((r) => srv.listen(0, HOST, () => r()));
    const { port } = srv.address() as net.AddressInfo;
    const c = new ZkClient({ host: HOST, port, transport: 'tcp', timeoutMs: 2000 });
    try {
      await assert.rejects(
        c.connect(),
        (err: Error) => err instanceof ZkProtocolError && /answers HTTP \("HTTP\/1\.0 200 OK"\)/.test(err.message),
      );
    } finally {
      await c.close();
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => srv.close(() => r()));
    }
  });

  it('invalid timestamps are returned as they are, never rolled over', async () => {
    const sim = new ZkSimulator({ host: HOST, port: 0, records: 50, faults: { invalidTimestamps: 'feb31' } });
    const { port } = await sim.start();
    const c = new ZkClient({ host: HOST, port });
    try {
      await c.connect();
      const { records } = await c.attendance();
      assert.equal(records.length, 50);
      const bad = records.filter((r) => r.time.month === 2 && r.time.day === 31);
      assert.ok(bad.length >= 1, 'the Feb 31 record comes back as Feb 31');
    } finally {
      await c.close();
      await sim.stop();
    }
  });

  it('clock offset shows as clock drift', async () => {
    const sim = new ZkSimulator({ host: HOST, port: 0, records: 1, clockOffsetSec: -3600, tz: 'UTC' });
    const { port } = await sim.start();
    const c = new ZkClient({ host: HOST, port, tz: 'UTC' });
    try {
      await c.connect();
      const info = await c.info();
      assert.ok(info.clockDriftSec !== null && Math.abs(info.clockDriftSec + 3600) <= 2, `drift ${info.clockDriftSec}`);
    } finally {
      await c.close();
      await sim.stop();
    }
  });
});
