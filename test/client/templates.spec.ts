import { strict as assert } from 'assert';
import { randomBytes } from 'crypto';
import { ZkClient } from '../../lib/client';
import { ZkSimulator } from '../../lib/sim';
import type { SimOptions, SimProfileName } from '../../lib/sim';
import { Cmd } from '../../lib/protocol';
import type { FingerTemplate } from '../../lib/protocol';
import { ZkDeviceError, ZkError, ZkTimeoutError, ZkWriteNotKeptError } from '../../lib/errors';
import { checkNoLeaks } from '../support/handles';
import { Prng } from '../../lib/sim/prng';

const HOST = '127.0.0.1';

async function withDevice<T>(
  simOpts: SimOptions,
  clientOpts: { transport?: 'tcp' | 'udp'; commKey?: number; timeoutMs?: number },
  fn: (sim: ZkSimulator, client: ZkClient) => Promise<T>,
): Promise<T> {
  const sim = new ZkSimulator({ host: HOST, port: 0, records: 5, ...simOpts });
  const { port } = await sim.start();
  const client = new ZkClient({ host: HOST, port, timeoutMs: 2000, ...clientOpts });
  try {
    await client.connect();
    return await fn(sim, client);
  } finally {
    await client.close();
    await sim.stop();
  }
}

/** Deterministic opaque template bytes of a realistic size (0.5–1.6 KB). */
function templateBytes(rng: Prng): Buffer {
  const n = rng.int(500, 1600);
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = rng.int(0, 255);
  return b;
}

function sent(sim: ZkSimulator, before: Record<number, number>, cmd: number): number {
  return (sim.counters.commandsSeen[cmd] ?? 0) - (before[cmd] ?? 0);
}

const simple = (t: FingerTemplate): [string, number, number, string] => [
  t.userId,
  t.finger,
  t.flag,
  t.data.toString('hex'),
];

describe('ZkClient fingerprint templates ↔ simulator over real sockets', function () {
  checkNoLeaks();

  const matrix: { profile: SimProfileName; transport: 'tcp' | 'udp'; commKey: number }[] = [
    { profile: 'tft', transport: 'tcp', commKey: 0 },
    { profile: 'tft', transport: 'udp', commKey: 0 },
    { profile: 'tft', transport: 'tcp', commKey: 99 },
    { profile: 'zk6', transport: 'udp', commKey: 99 },
    { profile: 'zk6', transport: 'tcp', commKey: 0 },
  ];
  for (const { profile, transport, commKey } of matrix) {
    it(`${profile} over ${transport.toUpperCase()}${commKey ? ' with a comm key' : ''}: read all and per user, write, delete one finger`, async () => {
      await withDevice({ profile, users: 4, commKey, seed: 8 }, { transport, commKey }, async (sim, client) => {
        const rng = new Prng(5);
        const [a, b] = sim.users;
        sim.addTemplate({ userId: a.userId, finger: 0, data: templateBytes(rng) });
        sim.addTemplate({ userId: a.userId, finger: 6, data: templateBytes(rng), flag: 3 });
        const all = await client.templates();
        assert.deepEqual(all.map(simple), sim.templates.map(simple));
        assert.equal(all[0].uid, a.uid);

        const mine: FingerTemplate[] = [
          { userId: b.userId, uid: 0, finger: 1, flag: 1, data: templateBytes(rng) },
          { userId: b.userId, uid: 0, finger: 2, flag: 3, data: randomBytes(2500) }, // several DATA packets
        ];
        const before = sim.counters.commandsSeen;
        await client.setUserTemplates(b.userId, mine);
        assert.equal(sent(sim, before, Cmd.PREPARE_DATA), 2);
        assert.equal(
          sent(sim, before, Cmd.DATA),
          mine.reduce((n, t) => n + Math.ceil(t.data.length / 1024), 0),
        );
        assert.equal(sent(sim, before, Cmd.CHECKSUM_BUFFER), 2);
        assert.equal(sent(sim, before, Cmd.TMP_WRITE), 2);
        assert.equal(sent(sim, before, Cmd.REFRESHDATA), 1);
        const got = await client.userTemplates(b.userId);
        assert.deepEqual(got.map(simple), mine.map(simple));
        assert.ok(
          got.every((t) => t.uid === b.uid),
          'the uid is the device slot of the user',
        );

        assert.equal(await client.deleteTemplate(a.userId, 6), true);
        assert.equal(await client.deleteTemplate(a.userId, 6), false);
        assert.deepEqual(
          (await client.userTemplates(a.userId)).map((t) => t.finger),
          [0],
        );
        assert.equal((await client.info()).counts.fingers, 3);
      });
    });
  }

  it('backs up 200 users × 2 fingers from one device and restores them to another byte for byte', async function () {
    this.timeout(60000);
    const src = new ZkSimulator({ host: HOST, port: 0, users: 200, records: 0, seed: 21 });
    const dst = new ZkSimulator({ host: HOST, port: 0, users: 0, records: 0, seed: 22 });
    const rng = new Prng(9);
    for (const u of src.users)
      for (const finger of [3, 7])
        src.addTemplate({ userId: u.userId, finger, data: templateBytes(rng), flag: finger === 7 ? 3 : 1 });
    const a = new ZkClient({ host: HOST, port: (await src.start()).port });
    const b = new ZkClient({ host: HOST, port: (await dst.start()).port });
    try {
      await a.connect();
      await b.connect();
      const users = await a.users();
      const backup = await a.templates();
      assert.equal(backup.length, 400);
      const ur = await b.upsertUsers(
        users.map((u) => ({
          userId: u.userId,
          name: u.name,
          password: u.password,
          cardNo: u.cardNo,
          group: u.group,
          privilege: u.privilege & 0xfe,
          enabled: u.enabled,
        })),
      );
      assert.equal(ur.failed.length, 0);
      const tr = await b.writeTemplates(backup);
      assert.deepEqual(tr.failed, []);
      assert.equal(tr.written.length, 400);
      const restored = await b.templates();
      const key = (t: FingerTemplate): string => `${t.userId}/${t.finger}`;
      const want = new Map(backup.map((t) => [key(t), t]));
      assert.equal(restored.length, 400);
      for (const t of restored) {
        const w = want.get(key(t));
        assert.ok(w, `restored ${key(t)} was in the backup`);
        assert.equal(t.flag, w.flag);
        assert.ok(t.data.equals(w.data), `bytes of ${key(t)}`);
      }
      // The same templates again: nothing is uploaded.
      const before = dst.counters.commandsSeen;
      const again = await b.writeTemplates(backup);
      assert.equal(again.unchanged.length, 400);
      assert.equal(sent(dst, before, Cmd.TMP_WRITE) + sent(dst, before, Cmd.PREPARE_DATA), 0);
    } finally {
      await a.close();
      await b.close();
      await src.stop();
      await dst.stop();
    }
  });

  it('a user must exist before their templates; bad templates are refused with the field named', async () => {
    await withDevice({ users: 1 }, {}, async (sim, client) => {
      const id = sim.users[0].userId;
      const before = sim.counters.commandsSeen;
      const r = await client.writeTemplates([
        { userId: 'ghost', uid: 0, finger: 1, flag: 1, data: Buffer.from([1, 2, 3]) },
        { userId: id, uid: 0, finger: 10, flag: 1, data: Buffer.from([1]) },
        { userId: id, uid: 0, finger: 1, flag: 2, data: Buffer.from([1]) },
        { userId: id, uid: 0, finger: 1, flag: 1, data: Buffer.alloc(0) },
        { userId: id, uid: 0, finger: 1, flag: 1, data: 'AAEC' as unknown as Buffer },
      ]);
      assert.deepEqual(
        r.failed.map((f) => f.code),
        ['NO_USER', 'BAD_INPUT', 'BAD_INPUT', 'BAD_INPUT', 'BAD_INPUT'],
      );
      assert.match(r.failed[0].reason, /has no user "ghost"; write the user before their templates/);
      assert.match(r.failed[1].reason, /finger 10 must be a whole number from 0 to 9/);
      assert.match(r.failed[2].reason, /flag 2/);
      assert.match(r.failed[4].reason, /must be a non-empty Buffer/);
      assert.equal(sent(sim, before, Cmd.PREPARE_DATA), 0);
      await assert.rejects(
        client.setUserTemplates('ghost', [{ userId: 'ghost', uid: 0, finger: 1, flag: 1, data: Buffer.from([1]) }]),
        (e: unknown) => e instanceof ZkError && e.code === 'BAD_INPUT' && /no user "ghost"/.test(e.message),
      );
      await assert.rejects(
        client.setUserTemplates(id, [{ userId: 'other', uid: 0, finger: 1, flag: 1, data: Buffer.from([1]) }]),
        /must carry userId/,
      );
      await assert.rejects(client.deleteTemplate(id, 12), /finger 12/);
    });
  });

  it('dropUserWrites on templates: acknowledged but not kept → ZkWriteNotKeptError', async () => {
    await withDevice({ users: 2 }, {}, async (sim, client) => {
      const id = sim.users[1].userId;
      await sim.setFaults({ dropUserWrites: [id] });
      await assert.rejects(
        client.setUserTemplates(id, [{ userId: id, uid: 0, finger: 4, flag: 1, data: randomBytes(600) }]),
        (e: unknown) => e instanceof ZkWriteNotKeptError && e.message.includes(`"${id}" but did not keep finger 4`),
      );
      assert.equal(sim.templates.length, 0);
      await sim.setFaults({ dropUserWrites: undefined });
      sim.addTemplate({ userId: id, finger: 4, data: randomBytes(600) });
      await sim.setFaults({ dropUserWrites: true });
      await assert.rejects(client.deleteTemplate(id, 4), ZkWriteNotKeptError);
    });
  });

  it('errorReplyFor TMP_WRITE: DEVICE_ERROR, the upload buffer is freed, the device re-enabled', async () => {
    await withDevice({ users: 1 }, {}, async (sim, client) => {
      const id = sim.users[0].userId;
      await sim.setFaults({ errorReplyFor: [Cmd.TMP_WRITE] });
      const before = sim.counters.commandsSeen;
      await assert.rejects(
        client.setUserTemplates(id, [{ userId: id, uid: 0, finger: 0, flag: 1, data: randomBytes(700) }]),
        (e: unknown) => e instanceof ZkDeviceError && /refused TMP_WRITE while writing finger 0/.test(e.message),
      );
      assert.equal(sent(sim, before, Cmd.FREE_DATA) >= 1, true);
      assert.equal(sent(sim, before, Cmd.ENABLEDEVICE), 1);
      assert.equal(sim.templates.length, 0);
    });
  });

  it('stallUploadAfterBytes: the device goes silent mid-upload → a timeout naming the device; nothing is stored', async () => {
    await withDevice({ users: 1 }, { timeoutMs: 1500 }, async (sim, client) => {
      const id = sim.users[0].userId;
      await sim.setFaults({ stallUploadAfterBytes: 1500 });
      await assert.rejects(
        client.setUserTemplates(id, [{ userId: id, uid: 0, finger: 0, flag: 1, data: randomBytes(3000) }]),
        (e: unknown) => e instanceof ZkTimeoutError && e.message.includes(`${HOST}:${sim.port} did not answer DATA`),
      );
      assert.equal(sim.templates.length, 0);
      assert.equal(sim.counters.commandsSeen[Cmd.TMP_WRITE] ?? 0, 0);
    });
  });

  it('a corrupt template table is a protocol error, not a crash', async () => {
    const { decodeTemplateEntries } = await import('../../lib/protocol');
    assert.throws(
      () => decodeTemplateEntries(Buffer.from([0x20, 0x00, 0x01, 0x00, 0x00, 0x01, 0xaa]), 'dev'),
      /entry of 32 bytes at byte 0; 7 bytes remain/,
    );
    assert.throws(
      () => decodeTemplateEntries(Buffer.from([0x03, 0x00, 0x01]), 'dev'),
      /ends inside an entry header|entry of 3 bytes/,
    );
  });
});
