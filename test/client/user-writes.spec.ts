import { strict as assert } from 'assert';
import { ZkClient } from '../../lib/client';
import { ZkSimulator } from '../../lib/sim';
import type { SimOptions, SimProfileName } from '../../lib/sim';
import { Cmd } from '../../lib/protocol';
import type { DeviceUser, UserWrite } from '../../lib/protocol';
import { ZkDeviceError, ZkError, ZkWriteNotKeptError } from '../../lib/errors';
import { checkNoLeaks } from '../support/handles';

const HOST = '127.0.0.1';

interface Device {
  sim: ZkSimulator;
  client: ZkClient;
}

async function withDevice<T>(
  simOpts: SimOptions,
  clientOpts: { transport?: 'tcp' | 'udp'; commKey?: number; nameEncoding?: 'utf8' | 'latin1' | 'cp1252' | 'gbk' },
  fn: (d: Device) => Promise<T>,
): Promise<T> {
  const sim = new ZkSimulator({ host: HOST, port: 0, records: 5, ...simOpts });
  const { port } = await sim.start();
  const client = new ZkClient({ host: HOST, port, timeoutMs: 2000, ...clientOpts });
  try {
    await client.connect();
    return await fn({ sim, client });
  } finally {
    await client.close();
    await sim.stop();
  }
}

/** Writes the sim saw for a command code since `before`. */
function sent(sim: ZkSimulator, before: Record<number, number>, cmd: number): number {
  return (sim.counters.commandsSeen[cmd] ?? 0) - (before[cmd] ?? 0);
}

function pick(u: DeviceUser): Omit<DeviceUser, 'uid'> {
  const { uid: _uid, ...rest } = u;
  return rest;
}

describe('ZkClient user writes ↔ simulator over real sockets', function () {
  checkNoLeaks();

  const matrix: { profile: SimProfileName; transport: 'tcp' | 'udp'; commKey: number }[] = [
    { profile: 'tft', transport: 'tcp', commKey: 0 },
    { profile: 'tft', transport: 'udp', commKey: 0 },
    { profile: 'tft', transport: 'tcp', commKey: 4242 },
    { profile: 'tft', transport: 'udp', commKey: 4242 },
    { profile: 'zk6', transport: 'tcp', commKey: 0 },
    { profile: 'zk6', transport: 'udp', commKey: 77 },
    { profile: 'compact8', transport: 'udp', commKey: 0 },
    { profile: 'compact8', transport: 'tcp', commKey: 5 },
  ];
  for (const { profile, transport, commKey } of matrix) {
    const layout = profile === 'tft' ? 72 : 28;
    it(`${profile} (${layout}-byte users) over ${transport.toUpperCase()}${commKey ? ' with a comm key' : ''}: add, update, disable, delete, read back`, async () => {
      await withDevice({ profile, users: 5, commKey, seed: 3 }, { transport, commKey }, async ({ sim, client }) => {
        const short = layout === 28;
        const list: UserWrite[] = [
          {
            userId: '9001',
            name: short ? 'Ana' : 'Ana Lima',
            password: '1234',
            cardNo: 4000000000,
            group: 2,
            privilege: 14,
          },
          { userId: '9002', name: 'Bo', enabled: false },
          { userId: '9003' },
        ];
        const r = await client.upsertUsers(list);
        assert.deepEqual(r.failed, []);
        assert.equal(r.written.length, 3);
        const byId = new Map((await client.users()).map((u) => [u.userId, u]));
        assert.equal(byId.size, 8, 'five generated users and three new ones');
        assert.deepEqual(pick(byId.get('9001') as DeviceUser), {
          userId: '9001',
          name: short ? 'Ana' : 'Ana Lima',
          password: '1234',
          cardNo: 4000000000,
          group: 2,
          privilege: 14,
          enabled: true,
        });
        assert.deepEqual(pick(byId.get('9002') as DeviceUser), {
          userId: '9002',
          name: 'Bo',
          password: '',
          cardNo: 0,
          group: 1,
          privilege: 1,
          enabled: false,
        });
        assert.deepEqual(pick(byId.get('9003') as DeviceUser), {
          userId: '9003',
          name: '',
          password: '',
          cardNo: 0,
          group: 1,
          privilege: 0,
          enabled: true,
        });
        const uids = new Set([...byId.values()].map((u) => u.uid));
        assert.equal(uids.size, 8, 'every user has its own slot');

        // Update: only the fields given change; the uid stays.
        const uid1 = (byId.get('9001') as DeviceUser).uid;
        const upd = await client.upsertUsers([{ userId: '9001', cardNo: 7, enabled: false }, { userId: '9003' }]);
        assert.deepEqual(upd.failed, []);
        assert.deepEqual(upd.unchanged, ['9003']);
        assert.equal(upd.written.length, 1);
        assert.deepEqual(upd.written[0], {
          uid: uid1,
          userId: '9001',
          name: short ? 'Ana' : 'Ana Lima',
          password: '1234',
          cardNo: 7,
          group: 2,
          privilege: 15,
          enabled: false,
        });

        // Delete, with one PIN the device does not have.
        const del = await client.deleteUsers(['9002', '123456']);
        assert.deepEqual(del, { deleted: ['9002'], notFound: ['123456'], failed: [] });
        assert.equal(
          sim.users.some((u) => u.userId === '9002'),
          false,
        );
        assert.equal(await client.deleteUser('9002'), false);
      });
    });
  }

  it('the same list twice: the second call sends no write and no REFRESHDATA', async () => {
    await withDevice({ users: 0 }, {}, async ({ sim, client }) => {
      const list: UserWrite[] = Array.from({ length: 50 }, (_, i) => ({
        userId: `E${i}`,
        name: `Employee ${i}`,
        cardNo: 1000 + i,
      }));
      const first = await client.upsertUsers(list);
      assert.equal(first.written.length, 50);
      const before = sim.counters.commandsSeen;
      const second = await client.upsertUsers(list);
      assert.deepEqual(second, { written: [], failed: [], unchanged: list.map((u) => u.userId) });
      assert.equal(sent(sim, before, Cmd.USER_WRQ), 0);
      assert.equal(sent(sim, before, Cmd.REFRESHDATA), 0);
      assert.equal(sent(sim, before, Cmd.DELETE_USER), 0);
    });
  });

  it('planUsers reports added, updated (with the fields) and unchanged users and writes nothing', async () => {
    await withDevice({ users: 0 }, {}, async ({ sim, client }) => {
      await client.upsertUsers([
        { userId: 'P1', name: 'One' },
        { userId: 'P2', name: 'Two' },
      ]);
      const before = sim.counters.commandsSeen;
      const plan = await client.planUsers([
        { userId: 'P1', name: 'One' },
        { userId: 'P2', name: 'Deux', enabled: false },
        { userId: 'P3' },
        { userId: '' },
      ]);
      assert.deepEqual(
        plan.add.map((u) => [u.userId, u.uid]),
        [['P3', 3]],
      );
      assert.deepEqual(
        plan.update.map((x) => [x.user.userId, x.fields]),
        [['P2', ['name', 'enabled']]],
      );
      assert.deepEqual(plan.unchanged, ['P1']);
      assert.equal(plan.failed[0].code, 'BAD_INPUT');
      for (const cmd of [Cmd.USER_WRQ, Cmd.DELETE_USER, Cmd.REFRESHDATA]) assert.equal(sent(sim, before, cmd), 0);
    });
  });

  it('allocates the lowest free slots and reports progress', async () => {
    await withDevice({ users: 0 }, {}, async ({ sim, client }) => {
      sim.addUser({ uid: 1, userId: 'A' });
      sim.addUser({ uid: 3, userId: 'B' });
      const progress: [number, number][] = [];
      const r = await client.upsertUsers([{ userId: 'C' }, { userId: 'D' }, { userId: 'E' }], {
        onProgress: (d, t) => progress.push([d, t]),
      });
      assert.deepEqual(
        r.written.map((u) => [u.userId, u.uid]),
        [
          ['C', 2],
          ['D', 4],
          ['E', 5],
        ],
      );
      assert.deepEqual(progress, [
        [1, 3],
        [2, 3],
        [3, 3],
      ]);
    });
  });

  it('refuses what the 28-byte layout cannot hold, naming the device and the field, and writes the rest', async () => {
    await withDevice({ profile: 'zk6', users: 2 }, {}, async ({ sim, client }) => {
      const before = sim.counters.commandsSeen;
      const r = await client.upsertUsers([
        { userId: 'AB-12' },
        { userId: '0042' },
        { userId: '77', name: 'Maximilian' },
        { userId: '78', password: '123456' },
        { userId: '79', privilege: 3 },
        { userId: '80', cardNo: 2 ** 32 },
        { userId: '81', name: 'Ok' },
      ]);
      assert.deepEqual(
        r.written.map((u) => u.userId),
        ['81'],
      );
      const reasons = new Map(r.failed.map((f) => [f.userId, f]));
      for (const id of ['AB-12', '0042', '77', '78', '79', '80']) {
        const f = reasons.get(id);
        assert.ok(f, `failure for ${id}`);
        assert.equal(f.code, 'BAD_INPUT');
        assert.ok(f.reason.startsWith(`${HOST}:${sim.port}:`), f.reason);
      }
      assert.match(reasons.get('AB-12')?.reason ?? '', /28-byte user layout holds numeric PINs only/);
      assert.match(reasons.get('77')?.reason ?? '', /name "Maximilian" is 10 bytes.*holds 7/);
      assert.match(reasons.get('78')?.reason ?? '', /password/);
      assert.match(reasons.get('79')?.reason ?? '', /privilege 3/);
      assert.match(reasons.get('80')?.reason ?? '', /card number/);
      assert.equal(sent(sim, before, Cmd.USER_WRQ), 1, 'only the valid user was written');
      await assert.rejects(
        client.setUser({ userId: 'X1' }),
        (e: unknown) => e instanceof ZkError && e.code === 'BAD_INPUT' && /numeric PINs/.test(e.message),
      );
    });
  });

  it('a 72-byte device takes 24-character PINs; 25 is refused', async () => {
    await withDevice({ users: 0 }, {}, async ({ client }) => {
      const id24 = 'ABCDEFGHIJKLMNOPQRSTUVWX';
      const u = await client.setUser({ userId: id24, name: 'Long Pin' });
      assert.equal(u.userId, id24);
      await assert.rejects(client.setUser({ userId: id24 + 'Y' }), /1–24 printable ASCII/);
    });
  });

  it('names in the device code page (latin1, cp1252 and gbk) round-trip', async () => {
    for (const [enc, name] of [
      ['latin1', 'Jürgen Çelik'],
      ['cp1252', 'Renée Çelik'],
      ['gbk', '张伟'],
    ] as const) {
      await withDevice(
        { users: 0, faults: { nameEncoding: enc === 'cp1252' ? 'latin1' : enc } },
        { nameEncoding: enc },
        async ({ client }) => {
          const u = await client.setUser({ userId: '5', name });
          assert.equal(u.name, name);
          const again = (await client.users()).find((x) => x.userId === '5');
          assert.equal(again?.name, name);
        },
      );
    }
    await withDevice({ users: 0 }, { nameEncoding: 'latin1' }, async ({ client }) => {
      await assert.rejects(client.setUser({ userId: '6', name: '张伟' }), /not in the latin1 code page/);
    });
  });

  it('an update keeps the bytes we do not model (the user time-zone fields)', async () => {
    await withDevice({ users: 0 }, {}, async ({ sim, client }) => {
      await client.setUser({ userId: '10', name: 'Tz User' });
      // Put time-zone bytes (offsets 40–47) into the stored record, as the device's own menu would.
      const raw = (sim as unknown as { state: { userBytes: Buffer[] } }).state.userBytes[0];
      raw.writeUInt16LE(1, 40);
      raw.writeUInt16LE(3, 42);
      await client.setUser({ userId: '10', name: 'Tz Renamed' });
      const after = (sim as unknown as { state: { userBytes: Buffer[] } }).state.userBytes[0];
      assert.equal(after.readUInt16LE(40), 1);
      assert.equal(after.readUInt16LE(42), 3);
    });
  });

  it('dropUserWrites: the device said OK but does not hold the user → NOT_KEPT naming device, user and field', async () => {
    await withDevice({ users: 3 }, {}, async ({ sim, client }) => {
      await sim.setFaults({ dropUserWrites: ['B2'] });
      const r = await client.upsertUsers([{ userId: 'B1' }, { userId: 'B2', name: 'Dropped' }, { userId: 'B3' }]);
      assert.deepEqual(
        r.written.map((u) => u.userId),
        ['B1', 'B3'],
      );
      assert.equal(r.failed.length, 1);
      assert.equal(r.failed[0].code, 'NOT_KEPT');
      assert.match(
        r.failed[0].reason,
        new RegExp(`${HOST}:${sim.port} acknowledged the write of user "B2" but did not keep the user`),
      );
      assert.match(r.failed[0].reason, /restart the device/);

      // An update that is dropped names the field that was not kept.
      await sim.setFaults({ dropUserWrites: true });
      await assert.rejects(
        client.setUser({ userId: 'B1', cardNo: 99 }),
        (e: unknown) =>
          e instanceof ZkWriteNotKeptError && e.code === 'NOT_KEPT' && /"B1" but did not keep cardNo/.test(e.message),
      );
      const del = await client.deleteUsers(['B3']);
      assert.deepEqual(del.deleted, []);
      assert.equal(del.failed[0].code, 'NOT_KEPT');
      assert.match(del.failed[0].reason, /did not keep the deletion/);
      await sim.setFaults({ dropUserWrites: undefined });
      assert.deepEqual((await client.deleteUsers(['B3'])).deleted, ['B3']);
    });
  });

  it('errorReplyFor USER_WRQ: each refusal is reported as DEVICE_ERROR, the device is re-enabled, nothing is half-done', async () => {
    await withDevice({ users: 2 }, {}, async ({ sim, client }) => {
      await sim.setFaults({ errorReplyFor: [Cmd.USER_WRQ] });
      const before = sim.counters.commandsSeen;
      const r = await client.upsertUsers([{ userId: 'Z1' }, { userId: 'Z2' }]);
      assert.deepEqual(r.written, []);
      assert.deepEqual(
        r.failed.map((f) => [f.userId, f.code]),
        [
          ['Z1', 'DEVICE_ERROR'],
          ['Z2', 'DEVICE_ERROR'],
        ],
      );
      assert.match(r.failed[0].reason, /refused user "Z1" with ACK_ERROR/);
      assert.equal(sent(sim, before, Cmd.REFRESHDATA), 0, 'nothing acknowledged, nothing to refresh');
      assert.equal(sent(sim, before, Cmd.ENABLEDEVICE), 1);
      await assert.rejects(
        client.setUser({ userId: 'Z3' }),
        (e: unknown) => e instanceof ZkDeviceError && /refused user "Z3"/.test(e.message),
      );
      await sim.setFaults({ errorReplyFor: [Cmd.DELETE_USER] });
      const del = await client.deleteUsers([sim.users[0].userId]);
      assert.equal(del.failed[0].code, 'DEVICE_ERROR');
      assert.equal(sim.users.length, 2);
    });
  });

  it('reports NO_SLOT when the device is full and writes the users that fit', async () => {
    await withDevice({ profile: 'compact8', users: 1498 }, {}, async ({ client }) => {
      const r = await client.upsertUsers([{ userId: '900001' }, { userId: '900002' }, { userId: '900003' }]);
      assert.deepEqual(
        r.written.map((u) => u.userId),
        ['900001', '900002'],
      );
      assert.equal(r.failed[0].code, 'NO_SLOT');
      assert.match(r.failed[0].reason, /no free user slot \(1500 of 1500 used\)/);
    });
  });

  it('pipelined writes: replies in request order, duplicated replies counted once, a window of 1 works too', async () => {
    await withDevice({ users: 0 }, {}, async ({ sim, client }) => {
      const session = (client as unknown as { session: import('../../lib/client/session').Session }).session;
      // uid 0 is refused by the device: the refusals must land at exactly those indexes.
      const payloads = Array.from({ length: 40 }, (_, i) => {
        const b = Buffer.alloc(72);
        b.writeUInt16LE(i % 7 === 3 ? 0 : i + 1, 0);
        b.write(`P${i}`, 48, 'latin1');
        return b;
      });
      await sim.setFaults({ duplicateReply: [Cmd.USER_WRQ] });
      for (const window of [8, 1, 64]) {
        const seen: number[] = [];
        const replies = await session.pipeline(Cmd.USER_WRQ, payloads, window, 2000, (d) => seen.push(d));
        assert.deepEqual(
          replies.map((r) => r.command === 2000),
          payloads.map((_, i) => i % 7 !== 3),
          `window ${window}`,
        );
        assert.deepEqual(
          seen,
          payloads.map((_, i) => i + 1),
        );
      }
      await sim.setFaults({ duplicateReply: undefined });
      assert.equal(
        (await client.upsertUsers([{ userId: 'after' }])).written.length,
        1,
        'the session still matches replies after the duplicates',
      );
    });
  });

  it('bad input never crashes: not an array, null entries, duplicates', async () => {
    await withDevice({ users: 0 }, {}, async ({ client }) => {
      const r = await client.upsertUsers([
        null as unknown as UserWrite,
        { userId: 'Q' },
        { userId: 'Q', name: 'again' },
        { userId: 5 } as unknown as UserWrite,
      ]);
      assert.deepEqual(
        r.written.map((u) => u.userId),
        ['Q'],
      );
      assert.deepEqual(
        r.failed.map((f) => f.code),
        ['BAD_INPUT', 'BAD_INPUT', 'BAD_INPUT'],
      );
      assert.match(r.failed[1].reason, /appears twice/);
      assert.deepEqual(await client.upsertUsers('nope' as unknown as UserWrite[]), {
        written: [],
        failed: [],
        unchanged: [],
      });
    });
  });
});
