import { strict as assert } from 'assert';
import * as net from 'net';
import { Cmd, Reply, encodePacket, frameTcp } from '../../lib/protocol';
import { ZkSimulator } from '../../lib/sim';
import { Prng } from '../../lib/sim/prng';
import { resourceCounts, leakedSince } from '../support/handles';
import { RawTcp, RawUdp } from './raw-client';
import { HOST, withSim } from './support';
import { sleep } from '../../support/wait';

function connectError(port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: HOST });
    s.on('connect', () => {
      s.destroy();
      resolve('connected');
    });
    s.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
  });
}

describe('sim: robustness', () => {
  it('closes a connection on a bad magic or length, counts it, and keeps serving', async () => {
    await withSim({}, async (sim, port) => {
      const a = await RawTcp.connectTo(port);
      a.socket.write(Buffer.from('GET / HTTP/1.1\r\n\r\n'));
      await a.closed;
      const b = await RawTcp.connectTo(port);
      b.socket.write(Buffer.from([0x50, 0x50, 0x82, 0x7d, 4, 0, 0, 0]));
      await b.closed;
      const huge = await RawTcp.connectTo(port);
      huge.socket.write(Buffer.from([0x50, 0x50, 0x82, 0x7d, 0xff, 0xff, 0xff, 0x7f]));
      await huge.closed;
      assert.equal(sim.counters.malformedFrames, 3);
      const ok = await RawTcp.connectTo(port);
      assert.equal((await ok.connect()).command, Reply.ACK_OK);
      await ok.close();
    });
  });

  it('survives random framed packets and random bytes on TCP and UDP', async () => {
    await withSim({ records: 50 }, async (sim, port) => {
      const rng = new Prng(1234);
      for (let conn = 0; conn < 20; conn++) {
        const c = await RawTcp.connectTo(port);
        if (conn % 2 === 0) await c.connect();
        for (let i = 0; i < 30; i++) {
          const payload = Buffer.alloc(rng.int(0, 40));
          for (let j = 0; j < payload.length; j++) payload[j] = rng.int(0, 255);
          const command = rng.pick([1503, 1504, 11, 12, 8, 18, 14, 202, 500, 2000, 1102, 1000, rng.int(0, 65535)]);
          c.socket.write(frameTcp(encodePacket({ command, session: c.session, replyId: i, payload })));
        }
        if (conn % 5 === 0) {
          const junk = Buffer.alloc(64);
          for (let j = 0; j < 64; j++) junk[j] = rng.int(0, 255);
          c.socket.write(junk);
        }
        await sleep(5);
        await c.close();
      }
      const u = await RawUdp.open(port);
      for (let i = 0; i < 100; i++) {
        const d = Buffer.alloc(rng.int(0, 60));
        for (let j = 0; j < d.length; j++) d[j] = rng.int(0, 255);
        if (i % 3 === 0 && d.length >= 2) d.writeUInt16LE(Cmd.CONNECT, 0);
        u.sendRaw(d);
      }
      await sleep(50);
      await u.close();
      const ok = await RawTcp.connectTo(port);
      assert.equal((await ok.connect()).command, Reply.ACK_OK);
      await ok.close();
      assert.ok(sim.counters.connections >= 21);
    });
  });

  it('a connection that sends nothing is fine, and stop() closes it and leaves no handles', async () => {
    // Mocha starts this test's own timeout timer right after calling the test function: let it exist
    // before taking the baseline, or it shows up as a "leak".
    await new Promise((r) => setImmediate(r));
    const baseline = resourceCounts();
    const sim = new ZkSimulator({
      host: HOST,
      port: 0,
      liveEveryMs: 10,
      faults: { requireEventAck: { resendMs: 5 }, interPacketGapMs: 1 },
    });
    const { port } = await sim.start();
    const silent = await RawTcp.connectTo(port);
    const busy = await RawTcp.connectTo(port);
    await busy.connect();
    await busy.request(Cmd.REG_EVENT, Buffer.from([1, 0, 0, 0]));
    const udp = await RawUdp.open(port);
    await udp.connect();
    await busy.next(); // a live event arrived
    await sim.stop();
    await silent.closed;
    await busy.closed;
    await udp.close();
    assert.deepEqual(await leakedSince(baseline), {}, 'sockets, servers or timers left behind');
    await sim.stop(); // idempotent
  });

  it("tcpMode 'refuse' gives ECONNREFUSED, 'blackhole' accepts and never answers; setFaults switches back", async () => {
    await withSim({ faults: { tcpMode: 'refuse' } }, async (sim, port) => {
      assert.equal(await connectError(port), 'ECONNREFUSED');
      await sim.setFaults({ tcpMode: 'blackhole' });
      const c = await RawTcp.connectTo(port);
      c.sendPacket(Cmd.CONNECT, Buffer.alloc(0), 0, 0);
      assert.ok(await c.silentFor(100));
      await c.close();
      await sim.setFaults({ tcpMode: undefined });
      const ok = await RawTcp.connectTo(port);
      assert.equal((await ok.connect()).command, Reply.ACK_OK);
      await ok.close();
    });
  });

  it("transports 'udp' has no TCP listener; 'tcp' has no UDP socket", async () => {
    await withSim({ transports: 'udp' }, async (_sim, port) => {
      assert.equal(await connectError(port), 'ECONNREFUSED');
      const u = await RawUdp.open(port);
      assert.equal((await u.connect()).command, Reply.ACK_OK);
      await u.close();
    });
    await withSim({ transports: 'tcp' }, async (_sim, port) => {
      const u = await RawUdp.open(port);
      u.sendPacket(Cmd.CONNECT, Buffer.alloc(0), 0, 0);
      assert.ok(await u.silentFor(100));
      await u.close();
    });
  });

  it("multiClient 'refuse' closes a second connection; restart() drops all and forgets registrations", async () => {
    await withSim({ faults: { multiClient: 'refuse' } }, async (sim, port) => {
      const a = await RawTcp.connectTo(port);
      await a.connect();
      await a.request(Cmd.REG_EVENT, Buffer.from([1, 0, 0, 0]));
      const b = await RawTcp.connectTo(port);
      await b.closed;
      assert.equal(sim.counters.refusedConnections, 1);
      sim.restart();
      await a.closed;
      const c = await RawTcp.connectTo(port);
      await c.connect();
      sim.punch({ userId: sim.users[0].userId });
      assert.ok(await c.silentFor(50), 'registrations are gone after a restart');
      await c.close();
    });
  });

  it('RESTART from a client: ACK_OK, then every connection is dropped', async () => {
    await withSim({}, async (_sim, port) => {
      const a = await RawTcp.connectTo(port);
      const b = await RawTcp.connectTo(port);
      await a.connect();
      await b.connect();
      assert.equal((await a.request(Cmd.RESTART)).command, Reply.ACK_OK);
      await Promise.all([a.closed, b.closed]);
    });
  });
});
