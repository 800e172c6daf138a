/**
 * zkteco-js@1.7.2 (proven on real devices) writes and deletes users on the simulator, and reads back what our
 * client wrote (docs/zk-protocol.md §11.2). What it needs and what it cannot carry, from its source:
 * - TCP only for setUser/deleteUser/getUsers on the 72-byte layout (tft profile).
 * - setUser(uid, userId, name, password, role, cardNo): the caller picks the uid (1–3000); userId at most
 *   9 characters; the card number is written as a u16 (larger numbers lose their high bits); group is 0.
 * - getUsers reads 9 characters of userId and decodes names as 7-bit ASCII: ASCII names only here.
 * - It logs with console.log/console.error (silenced here) and may append DDMMYYYY.err.log files to the
 *   working directory; the after hook removes any it created.
 */
import { strict as assert } from 'assert';
import * as fs from 'fs';
import { ZkSimulator } from '../../lib/sim';
import { ZkClient } from '../../lib/client';
import { Cmd } from '../../lib/protocol';

interface ZkJsUser {
  uid: number;
  role: number;
  password: string;
  name: string;
  cardno: number;
  userId: string;
}
interface ZkJsInstance {
  createSocket(cbErr?: (e: unknown) => void, cbClose?: (t: string) => void): Promise<boolean>;
  getUsers(): Promise<{ data: ZkJsUser[] }>;
  setUser(
    uid: number,
    userId: string,
    name: string,
    password: string,
    role?: number,
    cardNo?: number,
  ): Promise<unknown>;
  deleteUser(uid: number): Promise<unknown>;
  disconnect(): Promise<unknown>;
}
type ZkJsCtor = new (ip: string, port: number, timeout: number, inport: number) => ZkJsInstance;

// eslint-disable-next-line @typescript-eslint/no-require-imports
const ZktecoJs = require('zkteco-js') as ZkJsCtor;

const HOST = '127.0.0.1';

function errLogs(): Set<string> {
  return new Set(fs.readdirSync('.').filter((f) => /^\d{8}\.err\.log$/.test(f)));
}

describe('zkteco-js 1.7.2 ↔ simulator: user writes', function () {
  this.timeout(30000);
  let sim: ZkSimulator;
  let port: number;
  let logsBefore: Set<string>;
  const quiet: { log?: typeof console.log; error?: typeof console.error } = {};

  before(() => {
    logsBefore = errLogs();
    quiet.log = console.log;
    quiet.error = console.error;
    console.log = () => undefined;
    console.error = () => undefined;
  });
  after(() => {
    console.log = quiet.log as typeof console.log;
    console.error = quiet.error as typeof console.error;
    for (const f of errLogs()) if (!logsBefore.has(f)) fs.unlinkSync(f);
  });

  beforeEach(async () => {
    sim = new ZkSimulator({ host: HOST, port: 0, profile: 'tft', users: 3, records: 0, seed: 4 });
    port = (await sim.start()).port;
  });
  afterEach(async () => {
    await sim.stop();
  });

  async function withZkJs<T>(fn: (z: ZkJsInstance) => Promise<T>): Promise<T> {
    const z = new ZktecoJs(HOST, port, 3000, 0);
    await z.createSocket();
    try {
      return await fn(z);
    } finally {
      await z.disconnect();
    }
  }

  async function withOurs<T>(fn: (c: ZkClient) => Promise<T>): Promise<T> {
    const c = new ZkClient({ host: HOST, port, timeoutMs: 3000 });
    await c.connect();
    try {
      return await fn(c);
    } finally {
      await c.close();
    }
  }

  it('zkteco-js writes and deletes users; it and our client read them back equal', async () => {
    const written = [
      { uid: 101, userId: '70001', name: 'Ada Byron', password: '4711', role: 0, cardNo: 12345 },
      { uid: 102, userId: 'EMP-77', name: 'Alan Turing', password: '', role: 14, cardNo: 0 },
      { uid: 103, userId: '123456789', name: 'Grace Hopper', password: '12345678', role: 6, cardNo: 65535 },
    ];
    await withZkJs(async (z) => {
      for (const w of written) await z.setUser(w.uid, w.userId, w.name, w.password, w.role, w.cardNo);
      const seen = new Map((await z.getUsers()).data.map((u) => [u.userId, u]));
      for (const w of written) {
        const u = seen.get(w.userId);
        assert.ok(u, `zkteco-js reads back ${w.userId}`);
        assert.deepEqual([u.uid, u.name, u.password, u.role, u.cardno], [w.uid, w.name, w.password, w.role, w.cardNo]);
      }
    });
    await withOurs(async (c) => {
      const ours = new Map((await c.users()).map((u) => [u.userId, u]));
      for (const w of written) {
        const u = ours.get(w.userId);
        assert.ok(u, `our client reads back ${w.userId}`);
        assert.deepEqual(
          [u.uid, u.name, u.password, u.privilege, u.cardNo, u.enabled, u.group],
          [w.uid, w.name, w.password, w.role, w.cardNo, true, 0],
        );
      }
    });
    await withZkJs(async (z) => {
      await z.deleteUser(102);
      assert.equal(
        (await z.getUsers()).data.some((u) => u.userId === 'EMP-77'),
        false,
      );
    });
    await withOurs(async (c) => {
      const ids = (await c.users()).map((u) => u.userId);
      assert.equal(ids.includes('EMP-77'), false);
      assert.equal(ids.includes('70001'), true);
    });
    assert.equal(sim.counters.commandsSeen[Cmd.USER_WRQ], 3);
    assert.equal(sim.counters.commandsSeen[Cmd.DELETE_USER], 1);
  });

  it('what our client writes, zkteco-js reads back equal', async () => {
    const list = [
      { userId: '80001', name: 'Hedy Lamarr', password: '999', cardNo: 4000000001, privilege: 2 },
      { userId: 'B-12', name: 'Katherine J', cardNo: 7, privilege: 14, enabled: false },
      { userId: '987654321', name: 'Emmy Noether' },
    ];
    const written = await withOurs(async (c) => {
      const r = await c.upsertUsers(list);
      assert.deepEqual(r.failed, []);
      const del = await c.deleteUsers([sim.users[0].userId]);
      assert.equal(del.deleted.length, 1);
      return r.written;
    });
    await withZkJs(async (z) => {
      const seen = (await z.getUsers()).data;
      assert.equal(seen.length, 2 + list.length);
      const byId = new Map(seen.map((u) => [u.userId, u]));
      for (const w of written) {
        const u = byId.get(w.userId);
        assert.ok(u, `zkteco-js reads back ${w.userId}`);
        assert.deepEqual(
          [u.uid, u.name, u.password, u.role, u.cardno],
          [w.uid, w.name, w.password, w.privilege, w.cardNo],
        );
      }
      assert.equal(byId.get('B-12')?.role, 15, 'the disabled bit is in the role byte zkteco-js reads');
    });
  });
});
