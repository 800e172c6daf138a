import { strict as assert } from 'assert';
import { once } from 'events';
import { ZkClient, LiveSession } from '../../lib/client';
import { ZkSimulator } from '../../lib/sim';
import type { SimOptions } from '../../lib/sim';
import type { ZkEvent, AttendanceEvent } from '../../lib/protocol';
import { Cmd } from '../../lib/protocol';
import { ZkConnectionError, ZkError, ZkTimeoutError } from '../../lib/errors';
import { checkNoLeaks } from '../support/handles';
import { sleep, until } from '../../support/wait';

const HOST = '127.0.0.1';
const at = { year: 2026, month: 3, day: 2, hour: 9, minute: 15, second: 30 };

function nextEvents(live: LiveSession, n: number, timeoutMs = 3000): Promise<ZkEvent[]> {
  return new Promise((resolve, reject) => {
    const got: ZkEvent[] = [];
    const timer = setTimeout(() => {
      live.off('event', onEvent);
      reject(new Error(`only ${got.length} of ${n} events within ${timeoutMs} ms`));
    }, timeoutMs);
    const onEvent = (e: ZkEvent) => {
      got.push(e);
      if (got.length === n) {
        clearTimeout(timer);
        live.off('event', onEvent);
        resolve(got);
      }
    };
    live.on('event', onEvent);
  });
}

async function withLive(
  opts: SimOptions,
  transport: 'tcp' | 'udp',
  fn: (sim: ZkSimulator, live: LiveSession, c: ZkClient) => Promise<void>,
  heartbeatMs = 30000,
): Promise<void> {
  const sim = new ZkSimulator({ host: HOST, port: 0, users: 10, records: 10, ...opts });
  const { port } = await sim.start();
  const c = new ZkClient({ host: HOST, port, transport, heartbeatMs, timeoutMs: 1000 });
  try {
    await c.connect();
    const live = await c.live({ resolveUsers: true });
    await fn(sim, live, c);
  } finally {
    await c.close();
    await sim.stop();
  }
}

describe('ZkClient live events', function () {
  this.timeout(15000);
  checkNoLeaks();

  it('punches that arrive before anyone listens are kept and handed to the first listener, in order', async () => {
    await withLive({ profile: 'tft' }, 'tcp', async (sim, live) => {
      const userId = sim.users[1].userId;
      sim.punch({ userId, state: 0, at });
      sim.punch({ userId, state: 1, at: { ...at, minute: 16 } });
      // Both events are on our side of the socket (acknowledged) before a listener exists.
      await until(() => sim.counters.eventAcks >= 2, 5000, 'both events acknowledged');
      assert.equal(sim.counters.eventAcks, 2);
      const got = (await nextEvents(live, 2)) as AttendanceEvent[];
      assert.deepEqual(
        got.map((e) => e.state),
        [0, 1],
      );
    });
  });

  for (const transport of ['tcp', 'udp'] as const) {
    it(`${transport.toUpperCase()}: punches arrive decoded and each is ACKed once`, async () => {
      await withLive({ profile: transport === 'udp' ? 'zk6' : 'tft' }, transport, async (sim, live) => {
        const userId = sim.users[2].userId;
        const pending = nextEvents(live, 2);
        sim.punch({ userId, verify: 1, state: 0, at });
        sim.punch({ userId, verify: 15, state: 1, at: { ...at, minute: 16 } });
        const [a, b] = (await pending) as AttendanceEvent[];
        assert.equal(a.kind, 'attendance');
        assert.equal(a.userId, userId);
        assert.equal(a.state, 0);
        assert.equal(a.verify, 1);
        assert.deepEqual(a.time, at);
        assert.equal(b.state, 1);
        assert.equal(b.time.minute, 16);
        await sleep(50);
        assert.equal(sim.counters.eventAcks, 2, 'one ACK per event');
      });
    });
  }

  for (const len of [10, 12, 14, 32, 36, 37, 52, 104]) {
    it(`EF_ATTLOG body of ${len} bytes decodes`, async () => {
      await withLive({ profile: 'zk6', faults: { eventBodyLength: len } }, 'tcp', async (sim, live) => {
        const user = sim.users[1];
        // A 104-byte body from the simulator is one punch plus a zero slice, which is padding.
        const pending = nextEvents(live, 1);
        sim.punch({ userId: user.userId, verify: 2, state: 1, at });
        const events = (await pending) as AttendanceEvent[];
        for (const e of events) {
          assert.equal(e.kind, 'attendance');
          assert.equal(e.userId, user.userId, 'uid-only bodies are resolved through the user table');
          assert.equal(e.state, 1);
          assert.deepEqual(e.time, at);
        }
      });
    });
  }

  for (const len of [0, 7, 20, 31, 45]) {
    it(`an odd ${len}-byte event body becomes a raw event, never a crash`, async () => {
      await withLive({ profile: 'tft', faults: { eventBodyLength: len } }, 'tcp', async (sim, live, c) => {
        const pending = nextEvents(live, 1);
        sim.punch({ userId: sim.users[0].userId, verify: 1, state: 0, at });
        const [e] = await pending;
        assert.equal(e.kind, 'raw');
        if (e.kind === 'raw') assert.equal(e.body.length, len);
        // The connection is still usable.
        assert.ok((await c.getTime()).year >= 2024);
      });
    });
  }

  it('events between replies do not disturb commands', async () => {
    await withLive(
      { profile: 'tft', records: 2000, liveEveryMs: 3, faults: { eventTiming: 'duringCommand' } },
      'tcp',
      async (_sim, live, c) => {
        let events = 0;
        live.on('event', () => events++);
        // Commands for a while, so that live punches (every 3 ms) land between and during them.
        const until = Date.now() + 300;
        while (Date.now() < until || events === 0) assert.ok((await c.getTime()).year >= 2024);
        const att = await c.attendance();
        assert.ok(att.records.length >= 2000);
        assert.ok(events > 0, 'events kept arriving');
      },
    );
  });

  it('requireEventAck: the device resends until ACKed; our ACK stops it', async () => {
    await withLive({ profile: 'tft', faults: { requireEventAck: { resendMs: 100 } } }, 'tcp', async (sim, live) => {
      let count = 0;
      live.on('event', () => count++);
      sim.punch({ userId: sim.users[0].userId, verify: 1, state: 0, at });
      // A resend would come 100 ms after the event: it must never come, so there is no signal to wait for.
      await sleep(500);
      assert.equal(count, 1, 'ACKed at once, so never resent');
    });
  });

  it('a silently dead link is reported within one heartbeat period', async () => {
    await withLive(
      { profile: 'tft' },
      'tcp',
      async (sim, live) => {
        // The device stops answering anything: a pulled cable, no FIN.
        sim.setFaults({ dropReply: { [Cmd.GET_TIME]: 'always' } });
        const t0 = Date.now();
        let timer: NodeJS.Timeout | undefined;
        const [err] = (await Promise.race([
          once(live, 'error'),
          new Promise((_r, reject) => (timer = setTimeout(() => reject(new Error('no error reported')), 3000))),
        ]).finally(() => clearTimeout(timer))) as [ZkError];
        const elapsed = Date.now() - t0;
        assert.ok(err instanceof ZkTimeoutError, `got ${(err as Error).name}`);
        // The bound is one period after the last sign of life (before t0), plus scheduling slack on a busy machine.
        assert.ok(elapsed <= 600 + 300, `reported after ${elapsed} ms, heartbeat 600 ms`);
        assert.equal(live.active, false);
      },
      600,
    );
  });

  it('a device restart ends the live session with an error, promptly', async () => {
    await withLive({ profile: 'tft' }, 'tcp', async (sim, live) => {
      const errors: ZkError[] = [];
      live.on('error', (e: ZkError) => errors.push(e));
      const closed = new Promise<ZkError | null>((resolve) => live.once('close', resolve));
      sim.restart();
      const err = await closed;
      assert.ok(err instanceof ZkConnectionError, `close reason ${String(err)}`);
      assert.equal(errors.length, 1, 'one error event before close');
    });
  });
});
