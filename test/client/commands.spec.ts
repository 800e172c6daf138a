import { strict as assert } from 'assert';
import { ZkClient } from '../../lib/client';
import { ZkSimulator } from '../../lib/sim';
import type { SimOptions } from '../../lib/sim';
import { Cmd } from '../../lib/protocol/constants';
import { formatWallClock, wallClockSeconds } from '../../lib/protocol/time';
import { instantToWallClock } from '../../lib/record/zone';
import type { DeviceAttendance } from '../../lib/protocol/attendance';
import { ZkAuthError, ZkDeviceError, ZkError } from '../../lib/errors';
import { assertSameAttendance } from '../support/expect-data';
import { checkNoLeaks } from '../support/handles';
import { until } from '../../support/wait';

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

async function withClient<T>(
  sim: ZkSimulator,
  port: number,
  o: { transport?: 'tcp' | 'udp'; commKey?: number; tz?: string },
  fn: (c: ZkClient) => Promise<T>,
): Promise<T> {
  const c = new ZkClient({
    host: HOST,
    port,
    transport: o.transport ?? 'tcp',
    commKey: o.commKey ?? sim.commKey,
    timeoutMs: 3000,
    tz: o.tz ?? 'UTC',
  });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.close();
  }
}

/** Device clock minus the host clock in `tz`, seconds. */
function simDrift(sim: ZkSimulator, tz: string): number {
  return wallClockSeconds(sim.now()) - wallClockSeconds(instantToWallClock(Date.now(), tz));
}

const seen = (sim: ZkSimulator, cmd: number): number => sim.counters.commandsSeen[cmd] ?? 0;

describe('device commands: clock, safe clear, unlock, restart (client ↔ simulator)', function () {
  checkNoLeaks();

  for (const transport of ['tcp', 'udp'] as const) {
    for (const commKey of [0, 424242]) {
      const label = `${transport.toUpperCase()}${commKey ? ', comm key' : ''}`;

      it(`${label}: syncClock sets a drifted clock in the device's zone and leaves a close one alone`, async () => {
        const tz = 'Asia/Kolkata';
        await withDevice({ seed: 2, users: 5, records: 10, commKey, tz, clockOffsetSec: -5400 }, async (sim, port) => {
          await withClient(sim, port, { transport, tz }, async (c) => {
            const r = await c.syncClock({ thresholdSec: 60 });
            assert.equal(r.set, true);
            assert.ok(r.driftSec !== null && Math.abs(r.driftSec + 5400) <= 2, `drift before ${r.driftSec}`);
            assert.equal(r.tz, tz);
            assert.ok(Math.abs(simDrift(sim, tz)) <= 2, `device now ${formatWallClock(sim.now())}`);
            assert.equal(seen(sim, Cmd.SET_TIME), 1);
            const again = await c.syncClock({ thresholdSec: 60 });
            assert.equal(again.set, false);
            assert.ok(again.driftSec !== null && Math.abs(again.driftSec) <= 2);
            assert.equal(seen(sim, Cmd.SET_TIME), 1, 'no second SET_TIME inside the threshold');
          });
        });
      });

      it(`${label}: safeClear downloads, waits for the confirmation, clears, re-enables`, async () => {
        await withDevice({ seed: 3, users: 8, records: 250, commKey }, async (sim, port) => {
          const before = [...sim.records];
          await withClient(sim, port, { transport }, async (c) => {
            let given: DeviceAttendance[] = [];
            const r = await c.safeClear({
              confirmStored: async (records) => {
                given = records;
                assert.equal(seen(sim, Cmd.CLEAR_ATTLOG), 0, 'nothing cleared before the confirmation');
                return true;
              },
            });
            assert.deepEqual(r, { cleared: true, downloaded: 250, countAtCheck: 250, arrived: 0, reason: null });
            assertSameAttendance(given, before);
            assert.equal(sim.records.length, 0);
            assert.equal(
              seen(sim, Cmd.ENABLEDEVICE),
              seen(sim, Cmd.DISABLEDEVICE),
              'every disable was followed by an enable',
            );
          });
        });
      });

      it(`${label}: unlock opens the door for N seconds; restart drops the link and the device comes back`, async () => {
        await withDevice(
          { seed: 4, users: 3, records: 5, commKey, faults: { restartDownMs: 300 } },
          async (sim, port) => {
            await withClient(sim, port, { transport }, async (c) => {
              await c.unlock(5);
              assert.deepEqual(
                sim.doorUnlocks.map((u) => u.seconds),
                [5],
              );
              await c.restart();
              assert.equal(c.connected, false, 'the client is closed after a restart');
            });
            await until(() => sim.restarts === 1, 5000, 'the restart');
            await sim.waitUntilUp();
            await withClient(sim, port, { transport }, async (c) => {
              assert.equal((await c.info()).serial, sim.serial, 'reachable again after the restart');
            });
          },
        );
      });
    }
  }

  it('restart downtime: TCP refused and UDP silent until the device is back, then both answer', async () => {
    await withDevice({ seed: 15, users: 1, records: 1, faults: { restartDownMs: 2000 } }, async (sim, port) => {
      await withClient(sim, port, {}, (c) => c.restart());
      await until(() => sim.restarts === 1, 5000, 'the restart');
      assert.equal(sim.isDown, true);
      const tcp = new ZkClient({ host: HOST, port, timeoutMs: 500 });
      await assert.rejects(tcp.connect(), (err: Error) => err instanceof ZkError && err.code === 'CONNECTION');
      const udp = new ZkClient({ host: HOST, port, transport: 'udp', timeoutMs: 300 });
      await assert.rejects(udp.connect(), (err: Error) => err instanceof ZkError && err.code === 'TIMEOUT');
      await Promise.all([tcp.close(), udp.close()]);
      await sim.waitUntilUp();
      assert.equal(sim.isDown, false);
      for (const transport of ['tcp', 'udp'] as const)
        await withClient(sim, port, { transport }, async (c) => assert.equal((await c.info()).serial, sim.serial));
    });
  });

  it('a device that answers the connect with 6001 gets an error naming the code and the comm key', async () => {
    for (const transport of ['tcp', 'udp'] as const) {
      await withDevice({ seed: 5, users: 1, records: 1, faults: { connectReply: 6001 } }, async (_sim, port) => {
        const c = new ZkClient({ host: HOST, port, transport, timeoutMs: 2000 });
        await assert.rejects(c.connect(), (err: Error) => {
          assert.ok(err instanceof ZkAuthError, `got ${err.name}`);
          assert.match(err.message, /6001/);
          assert.match(err.message, /comm key/);
          assert.match(err.message, new RegExp(`127\\.0\\.0\\.1:${port}`));
          return true;
        });
        assert.equal(c.connected, false);
        await c.close();
      });
    }
  });

  it('16-byte records (zk6) get their uid from the user table; an unknown PIN keeps uid null', async () => {
    for (const transport of ['tcp', 'udp'] as const) {
      await withDevice({ profile: 'zk6', seed: 6, users: 12, records: 40 }, async (sim, port) => {
        sim.punch({ userId: '987654321' });
        await withClient(sim, port, { transport }, async (c) => {
          const { records, layout } = await c.attendance();
          assert.equal(layout.size, 16);
          const uidOf = new Map(sim.users.map((u) => [u.userId, u.uid]));
          for (const r of records.slice(0, 40)) assert.equal(r.uid, uidOf.get(r.userId), `uid of ${r.userId}`);
          assert.ok(records.slice(0, 40).every((r) => r.uid !== null));
          assert.equal(records[40].userId, '987654321');
          assert.equal(records[40].uid, null);
        });
      });
    }
  });

  describe('refusals and bad input', () => {
    it('unlock takes 1 to 60 whole seconds and sends nothing otherwise', async () => {
      await withDevice({ seed: 7, users: 1, records: 1 }, async (sim, port) => {
        await withClient(sim, port, {}, async (c) => {
          for (const bad of [0, -1, 61, 1.5, Number.NaN]) {
            await assert.rejects(
              c.unlock(bad),
              (err: Error) =>
                err instanceof ZkError && err.code === 'BAD_INPUT' && /door unlock on 127\.0\.0\.1/.test(err.message),
            );
          }
          assert.equal(seen(sim, Cmd.UNLOCK), 0);
          await c.unlock(60);
          assert.deepEqual(
            sim.doorUnlocks.map((u) => u.seconds),
            [60],
          );
        });
      });
    });

    it('syncClock refuses a bad threshold or zone before touching the clock', async () => {
      await withDevice({ seed: 8, users: 1, records: 1, clockOffsetSec: 900 }, async (sim, port) => {
        await withClient(sim, port, {}, async (c) => {
          await assert.rejects(c.syncClock({ thresholdSec: -1 }), /drift threshold/);
          await assert.rejects(c.syncClock({ thresholdSec: Number.NaN }), /drift threshold/);
          await assert.rejects(c.syncClock({ thresholdSec: 5, tz: 'Mars/Olympus' }), /Mars\/Olympus/);
          assert.equal(seen(sim, Cmd.SET_TIME), 0);
          assert.equal(seen(sim, Cmd.GET_TIME), 0);
        });
      });
    });

    it('error replies: unlock, SET_TIME, RESTART and CLEAR_ATTLOG answered with ACK_ERROR fail and change nothing', async () => {
      await withDevice(
        {
          seed: 9,
          users: 4,
          records: 30,
          clockOffsetSec: 7200,
          faults: { errorReplyFor: [Cmd.UNLOCK, Cmd.SET_TIME, Cmd.RESTART, Cmd.CLEAR_ATTLOG] },
        },
        async (sim, port) => {
          await withClient(sim, port, {}, async (c) => {
            await assert.rejects(
              c.unlock(3),
              (err: Error) => err instanceof ZkDeviceError && /UNLOCK with ACK_ERROR/.test(err.message),
            );
            assert.equal(sim.doorUnlocks.length, 0);
            await assert.rejects(
              c.syncClock({ thresholdSec: 10 }),
              (err: Error) => err instanceof ZkDeviceError && /SET_TIME/.test(err.message),
            );
            assert.ok(Math.abs(simDrift(sim, 'UTC') - 7200) <= 2, 'clock untouched');
            await assert.rejects(c.restart(), ZkDeviceError);
            assert.equal(sim.restarts, 0);
            assert.equal(c.connected, true, 'a refused restart keeps the link');
            await assert.rejects(
              c.safeClear({ confirmStored: async () => true }),
              (err: Error) => err instanceof ZkDeviceError && /CLEAR_ATTLOG/.test(err.message),
            );
            assert.equal(sim.records.length, 30, 'log untouched');
            assert.equal(
              seen(sim, Cmd.ENABLEDEVICE),
              seen(sim, Cmd.DISABLEDEVICE),
              're-enabled after the refused clear',
            );
          });
        },
      );
    });

    it('a clock set that is acknowledged but not kept is an error (read back)', async () => {
      await withDevice(
        { seed: 10, users: 1, records: 1, clockOffsetSec: -3600, faults: { ignoreSetTime: true } },
        async (sim, port) => {
          await withClient(sim, port, {}, async (c) => {
            await assert.rejects(
              c.syncClock({ thresholdSec: 30 }),
              (err: Error) => err instanceof ZkError && err.code === 'DEVICE' && /did not keep it/.test(err.message),
            );
            assert.equal(seen(sim, Cmd.SET_TIME), 1);
          });
        },
      );
    });

    it('a clear that is acknowledged but not done is an error (count read back), and the device is re-enabled', async () => {
      await withDevice({ seed: 11, users: 2, records: 20, faults: { ignoreClear: true } }, async (sim, port) => {
        await withClient(sim, port, {}, async (c) => {
          await assert.rejects(c.safeClear({ confirmStored: async () => true }), /still counts 20 records/);
          assert.equal(seen(sim, Cmd.ENABLEDEVICE), seen(sim, Cmd.DISABLEDEVICE));
        });
      });
    });
  });

  describe('safe clear never loses a punch made during the clear window', () => {
    async function run(opts: SimOptions, arrange: (sim: ZkSimulator) => void, confirm?: (sim: ZkSimulator) => void) {
      return withDevice({ seed: 12, users: 6, records: 100, ...opts }, async (sim, port) => {
        arrange(sim);
        return withClient(sim, port, {}, async (c) => {
          const r = await c.safeClear({
            confirmStored: async () => {
              confirm?.(sim);
              return true;
            },
          });
          return { r, records: [...sim.records], clears: seen(sim, Cmd.CLEAR_ATTLOG), sim };
        });
      });
    }

    it('a punch while the records are being stored: not cleared, the punch is still on the device', async () => {
      const { r, records, clears } = await run(
        {},
        () => undefined,
        (sim) => sim.punch({ userId: sim.users[0].userId, silent: true }),
      );
      assert.equal(r.cleared, false);
      assert.equal(r.arrived, 1);
      assert.match(r.reason ?? '', /1 record\(s\) arrived .* run the safe clear again/);
      assert.equal(clears, 0);
      assert.equal(records.length, 101);
    });

    it('a punch just before the device is disabled for the check: not cleared, the punch is still there', async () => {
      const { r, records, clears } = await run({}, (sim) => {
        // The 1st DISABLEDEVICE is the download's, the 2nd opens the check-and-clear window.
        sim.onCommand(Cmd.DISABLEDEVICE, (n) => {
          if (n === 2) sim.punch({ userId: sim.users[1].userId, silent: true });
        });
      });
      assert.equal(r.cleared, false);
      assert.equal(r.countAtCheck, 101);
      assert.equal(clears, 0);
      assert.equal(records.length, 101);
    });

    it('a punch at the count check itself: counted, so not cleared', async () => {
      const { r, clears, records } = await run({}, (sim) => {
        sim.onCommand(Cmd.GET_FREE_SIZES, (n) => {
          if (n === 2) sim.punch({ userId: sim.users[2].userId, silent: true });
        });
      });
      assert.equal(r.cleared, false);
      assert.equal(clears, 0);
      assert.equal(records.length, 101);
    });

    it('a punch between the check and the clear (device disabled) is logged after the enable, not cleared away', async () => {
      let punchedAt = '';
      const { r, records } = await run({ faults: { disabledPunches: 'defer' } }, (sim) => {
        sim.onCommand(Cmd.CLEAR_ATTLOG, () => {
          punchedAt = formatWallClock(sim.now());
          sim.punch({ userId: sim.users[3].userId, silent: true });
        });
      });
      assert.equal(r.cleared, true);
      assert.equal(records.length, 1, 'the punch made in the window survived the clear');
      assert.equal(formatWallClock(records[0].time), punchedAt);
    });

    it('a full log (a punch overwrites the oldest record, same count): the log is compared again, nothing cleared', async () => {
      const { r, records, clears, sim } = await run({ records: 50, faults: { wrapAtRecords: 50 } }, (s) => {
        s.onCommand(Cmd.DISABLEDEVICE, (n) => {
          if (n === 2) s.punch({ userId: s.users[4].userId, silent: true });
        });
      });
      assert.equal(r.cleared, false);
      assert.equal(r.countAtCheck, 50, 'the count did not change');
      assert.match(r.reason ?? '', /is full \(50 of 50\) and changed after the download/);
      assert.equal(clears, 0);
      assert.equal(records.length, 50);
      assert.equal(records[49].userId, sim.users[4].userId, 'the new punch is still on the device');
    });

    it('a full log that did not change is cleared (compared again, equal)', async () => {
      const { r, records } = await run({ records: 40, faults: { wrapAtRecords: 40 } }, () => undefined);
      assert.equal(r.cleared, true);
      assert.equal(records.length, 0);
    });

    it('not confirmed as stored: nothing is cleared and no clear window is opened', async () => {
      await withDevice({ seed: 13, users: 2, records: 10 }, async (sim, port) => {
        await withClient(sim, port, {}, async (c) => {
          const r = await c.safeClear({ confirmStored: async () => false });
          assert.equal(r.cleared, false);
          assert.match(r.reason ?? '', /not confirmed as stored/);
          assert.equal(seen(sim, Cmd.CLEAR_ATTLOG), 0);
          assert.equal(seen(sim, Cmd.DISABLEDEVICE), 1, 'only the download disabled the device');
          assert.equal(sim.records.length, 10);
        });
      });
    });

    it('a device whose count disagrees with what it sent is never cleared', async () => {
      await withDevice({ seed: 14, users: 2, records: 10, faults: { countsMode: 'offByOne' } }, async (sim, port) => {
        await withClient(sim, port, {}, async (c) => {
          const r = await c.safeClear({ confirmStored: async () => true });
          assert.equal(r.cleared, false);
          assert.match(r.reason ?? '', /reported 11 records but sent 10/);
          assert.equal(seen(sim, Cmd.CLEAR_ATTLOG), 0);
        });
      });
    });
  });
});
