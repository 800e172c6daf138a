import { strict as assert } from 'assert';
import { ZkClient } from '../../lib/client';
import { ZkSimulator } from '../../lib/sim';
import type { SimOptions, SimProfileName } from '../../lib/sim';
import { ZkAuthError } from '../../lib/errors';
import { assertSameAttendance, assertSameUsers } from '../support/expect-data';
import { checkNoLeaks } from '../support/handles';

const HOST = '127.0.0.1';

async function withDevice<T>(opts: SimOptions, fn: (sim: ZkSimulator, port: number) => Promise<T>): Promise<T> {
  const sim = new ZkSimulator({ host: HOST, port: 0, ...opts });
  const { port } = await sim.start();
  try {
    return await fn(sim, port);
  } finally {
    await sim.stop();
  }
}

describe('ZkClient ↔ simulator over real sockets', function () {
  checkNoLeaks();

  const cases: { profile: SimProfileName; transport: 'tcp' | 'udp' }[] = [
    { profile: 'tft', transport: 'tcp' },
    { profile: 'tft49', transport: 'tcp' },
    { profile: 'zk6', transport: 'tcp' },
    { profile: 'compact8', transport: 'tcp' },
    { profile: 'tft', transport: 'udp' },
    { profile: 'zk6', transport: 'udp' },
    { profile: 'compact8', transport: 'udp' },
  ];
  for (const { profile, transport } of cases) {
    it(`${profile} over ${transport.toUpperCase()}: info, users and every record exactly`, async () => {
      await withDevice({ profile, seed: 11, users: 30, records: 3000 }, async (sim, port) => {
        const c = new ZkClient({ host: HOST, port, transport, timeoutMs: 3000 });
        await c.connect();
        try {
          const info = await c.info();
          assert.equal(info.serial, sim.serial);
          assert.equal(info.counts.records, 3000);
          assert.equal(info.counts.users, 30);
          assert.ok(info.capacity.records >= 3000);
          assert.ok(info.deviceTime, 'device time present');
          assert.ok(info.clockDriftSec !== null && Math.abs(info.clockDriftSec) <= 2, `drift ${info.clockDriftSec}`);
          assertSameUsers(await c.users(), sim.users);
          const progress: number[] = [];
          const att = await c.attendance({ onProgress: (p) => progress.push(p.bytes) });
          assertSameAttendance(att.records, sim.records);
          assert.equal(att.deviceCount, 3000);
          assert.ok(
            progress.length > 0 && progress[progress.length - 1] === att.bytes,
            'progress reaches the buffer size',
          );
        } finally {
          await c.close();
        }
      });
    });
  }

  it('reads 0, 1 and 100 records (direct DATA reply and stat path)', async () => {
    for (const records of [0, 1, 100]) {
      for (const directReplyMaxBytes of [1024, 0]) {
        await withDevice({ seed: records, users: 5, records, faults: { directReplyMaxBytes } }, async (sim, port) => {
          const c = new ZkClient({ host: HOST, port });
          await c.connect();
          try {
            assertSameAttendance((await c.attendance()).records, sim.records);
          } finally {
            await c.close();
          }
        });
      }
    }
  });

  it('keeps 24-character user ids whole', async () => {
    await withDevice({ profile: 'tft', seed: 3, users: 10, records: 200 }, async (sim, port) => {
      const long = sim.users.find((u) => u.userId.length === 24);
      assert.ok(long, 'the simulator has a 24-character user id');
      const c = new ZkClient({ host: HOST, port });
      await c.connect();
      try {
        const users = await c.users();
        assert.ok(users.some((u) => u.userId === long.userId));
        const att = await c.attendance();
        assertSameAttendance(att.records, sim.records);
      } finally {
        await c.close();
      }
    });
  });

  for (const transport of ['tcp', 'udp'] as const) {
    describe(`comm key over ${transport.toUpperCase()}`, () => {
      it('right key: connects and reads', async () => {
        await withDevice({ commKey: 123456, records: 50, users: 5 }, async (sim, port) => {
          const c = new ZkClient({ host: HOST, port, transport, commKey: 123456 });
          await c.connect();
          try {
            assertSameAttendance((await c.attendance()).records, sim.records);
          } finally {
            await c.close();
          }
        });
      });
      it('wrong key: ZkAuthError naming the host, quickly', async () => {
        await withDevice({ commKey: 123456, records: 5 }, async (_sim, port) => {
          const c = new ZkClient({ host: HOST, port, transport, commKey: 654321, timeoutMs: 2000 });
          const t0 = Date.now();
          await assert.rejects(c.connect(), (err: Error) => {
            assert.ok(err instanceof ZkAuthError, `got ${err.name}: ${err.message}`);
            assert.match(err.message, new RegExp(`127\\.0\\.0\\.1:${port}`));
            assert.match(err.message, /comm key/);
            return true;
          });
          assert.ok(Date.now() - t0 < 2000, 'the refusal is an answer, not a timeout');
          await c.close();
        });
      });
      it('missing key: ZkAuthError saying a key is required', async () => {
        await withDevice({ commKey: 99, records: 5 }, async (_sim, port) => {
          const c = new ZkClient({ host: HOST, port, transport });
          await assert.rejects(
            c.connect(),
            (err: Error) => err instanceof ZkAuthError && /requires a comm key/.test(err.message),
          );
        });
      });
    });
  }

  it('authWithZeroKey: a device that demands AUTH with key 0 still connects', async () => {
    await withDevice({ records: 10, faults: { authWithZeroKey: true } }, async (sim, port) => {
      const c = new ZkClient({ host: HOST, port });
      await c.connect();
      try {
        assertSameAttendance((await c.attendance()).records, sim.records);
      } finally {
        await c.close();
      }
    });
  });

  it('re-enables the device and frees the buffer after a download', async () => {
    await withDevice({ records: 2000 }, async (sim, port) => {
      const c = new ZkClient({ host: HOST, port });
      await c.connect();
      try {
        await c.attendance();
      } finally {
        await c.close();
      }
      const seen = sim.counters.commandsSeen;
      assert.equal(seen[1003], 1, 'DISABLEDEVICE once');
      assert.equal(seen[1002], 1, 'ENABLEDEVICE once');
      assert.equal(seen[1502], 1, 'FREE_DATA once');
      assert.equal(seen[1001], 1, 'EXIT once');
    });
  });

  it('setTime and clearAttendance work when asked explicitly', async () => {
    await withDevice({ records: 20 }, async (_sim, port) => {
      const c = new ZkClient({ host: HOST, port });
      await c.connect();
      try {
        await c.setTime({ year: 2030, month: 6, day: 1, hour: 8, minute: 0, second: 0 });
        const t = await c.getTime();
        assert.equal(t.year, 2030);
        assert.equal(t.month, 6);
        await c.clearAttendance();
        assert.equal((await c.attendance()).records.length, 0);
      } finally {
        await c.close();
      }
    });
  });

  it('crosses the reply-id wrap (65534 → 0) on one connection', async () => {
    await withDevice({ records: 300 }, async (sim, port) => {
      const c = new ZkClient({ host: HOST, port, replyIdStart: 65530 });
      await c.connect();
      try {
        for (let i = 0; i < 10; i++) await c.getTime();
        assertSameAttendance((await c.attendance()).records, sim.records);
      } finally {
        await c.close();
      }
      const ids = sim.received.map((p) => p.replyId);
      assert.ok(ids.includes(65534) && ids.includes(0), `reply ids seen: ${ids.slice(0, 20).join(',')}`);
      assert.ok(!ids.some((id) => id > 65534), 'never 65535');
    });
  });
});
