/**
 * syncDevice against the simulator over real sockets (TCP and UDP, with a comm key, both user layouts): the
 * device ends equal to the list; a write the firmware acknowledged but did not keep is reported in `failed`
 * (never counted as added); an error reply fails only the users it hit; delete and leave policies.
 */
import { strict as assert } from 'assert';
import { ZkClient } from '../../lib/client';
import { Cmd } from '../../lib/protocol';
import { ZkSimulator } from '../../lib/sim';
import type { SimOptions } from '../../lib/sim';
import { asUserDevice } from '../../lib/users/client';
import { parseMasterList, syncDevice } from '../../lib/users';

async function withClient<T>(
  sim: SimOptions,
  client: { transport?: 'tcp' | 'udp'; commKey?: number },
  fn: (c: ZkClient, s: ZkSimulator) => Promise<T>,
): Promise<T> {
  const s = new ZkSimulator({ host: '127.0.0.1', port: 0, records: 0, ...sim });
  const { port } = await s.start();
  const c = new ZkClient({ host: '127.0.0.1', port, timeoutMs: 3000, ...client });
  try {
    await c.connect();
    return await fn(c, s);
  } finally {
    await c.close();
    await s.stop();
  }
}

const list = parseMasterList([
  { userId: '3001', name: 'Ana', card: 77, privilege: 'admin', enabled: true },
  { userId: '3002', name: 'Bo', enabled: false },
  { userId: '3003', name: 'Cy', card: 4000000000 },
]);

describe('users: syncDevice over real sockets', function () {
  this.timeout(30_000);

  for (const [profile, transport, commKey] of [
    ['tft', 'tcp', 0],
    ['tft', 'udp', 1234],
    ['zk6', 'tcp', 1234],
    ['zk6', 'udp', 0],
  ] as const) {
    it(`${profile} (${profile === 'tft' ? 72 : 28}-byte users) over ${transport}${commKey ? ' with a comm key' : ''}: equal to the list, and nothing the second time`, async () => {
      await withClient({ profile, users: 4, seed: 21, commKey }, { transport, commKey }, async (c, s) => {
        const r = await syncDevice(asUserDevice(c), list, { missing: 'disable' });
        assert.deepEqual([r.added, r.failed, r.disabled.length], [['3001', '3002', '3003'], [], 4]);
        const byId = new Map((await c.users()).map((u) => [u.userId, u]));
        assert.deepEqual(
          [byId.get('3001')?.privilege, byId.get('3001')?.cardNo, byId.get('3002')?.enabled, byId.get('3003')?.cardNo],
          [6, 77, false, 4000000000],
        );
        const before = s.counters.commandsSeen[Cmd.USER_WRQ] ?? 0;
        const again = await syncDevice(asUserDevice(c), list, { missing: 'disable' });
        assert.deepEqual([again.added, again.updated, again.disabled, again.unchanged.length], [[], [], [], 7]);
        assert.equal(s.counters.commandsSeen[Cmd.USER_WRQ] ?? 0, before);
      });
    });
  }

  it('a write the device acknowledged but did not keep is failed, with the reason; the others are added', async () => {
    await withClient({ users: 2, seed: 4, faults: { dropUserWrites: ['3002'] } }, {}, async (c) => {
      const r = await syncDevice(asUserDevice(c), list, { missing: 'leave' });
      assert.deepEqual(r.added, ['3001', '3003']);
      assert.deepEqual(
        r.failed.map((f) => f.userId),
        ['3002'],
      );
      assert.match(r.failed[0].reason, /acknowledged|not kept|restart/i);
    });
  });

  it('an error reply to the user writes fails those users, not the device', async () => {
    await withClient({ users: 2, seed: 4, faults: { errorReplyFor: [Cmd.USER_WRQ] } }, {}, async (c) => {
      const r = await syncDevice(asUserDevice(c), list, { missing: 'leave' });
      assert.deepEqual([r.added, r.failed.map((f) => f.userId)], [[], ['3001', '3002', '3003']]);
    });
  });

  it('delete removes users not in the list; a dry run reports it and writes nothing', async () => {
    await withClient({ users: 3, seed: 6 }, {}, async (c, s) => {
      const gen = (await c.users()).map((u) => u.userId);
      const dry = await syncDevice(asUserDevice(c), list, { missing: 'delete', dryRun: true });
      assert.deepEqual(
        [
          dry.deleted,
          dry.added.length,
          s.counters.commandsSeen[Cmd.DELETE_USER] ?? 0,
          s.counters.commandsSeen[Cmd.USER_WRQ] ?? 0,
        ],
        [gen, 3, 0, 0],
      );
      const r = await syncDevice(asUserDevice(c), list, { missing: 'delete' });
      assert.deepEqual([r.deleted, r.failed], [gen, []]);
      assert.deepEqual((await c.users()).map((u) => u.userId).sort(), ['3001', '3002', '3003']);
    });
  });
});
