/**
 * zk-users in Node-RED against simulators over loopback sockets: a 500-user sync to a fleet of 20 (both
 * user layouts) ends with every device equal to the list; the same list again and a dry run send no write
 * command (the simulators' counters prove it); one device down is reported while the others finish; a bad
 * list writes nothing; read; templates backed up (0600) and copied byte for byte.
 */
import { strict as assert } from 'assert';
import type { EventEmitter } from 'events';
import * as fs from 'fs';
import * as path from 'path';
import type { NodeMessage } from 'node-red';
import { helper, useNodeRedServer } from '../support/node-red';
import zkDevice from '../../nodes/zk-device/zk-device';
import zkUsers from '../../nodes/zk-users/zk-users';
import zkPush from '../../nodes/zk-push/zk-push';
import { PushDevice } from '../../lib/sim/push-device';
import { freePort } from '../../support/ports';
import { readTemplateBackup } from '../../lib/files/template-backup';
import { ZkClient } from '../../lib/client';
import { Cmd } from '../../lib/protocol';
import { ZkSimulator } from '../../lib/sim';
import { Prng } from '../../lib/sim/prng';
import { until } from '../../support/wait';
import { sharedMariaDb, stopSharedMariaDb, testPool } from '../../support/mariadb';

after(stopSharedMariaDb);

type Msg = NodeMessage & {
  payload: Record<string, unknown>;
  topic: string;
  action?: string;
  dryRun?: boolean;
  error?: { message: string };
};
type FlowNode = Record<string, unknown> & { id: string; type: string };

/** Commands that change a device's users or templates. */
const WRITES = [
  Cmd.USER_WRQ,
  Cmd.DELETE_USER,
  Cmd.REFRESHDATA,
  Cmd.TMP_WRITE,
  Cmd.DELETE_USERTEMP,
  Cmd.DEL_FPTMP,
  Cmd.PREPARE_DATA,
];
const writesSeen = (s: ZkSimulator): number => WRITES.reduce((a, c) => a + (s.counters.commandsSeen[c] ?? 0), 0);

function flow(users: Record<string, unknown>, extra: FlowNode[] = []): FlowNode[] {
  return [
    { id: 'f1', type: 'tab', label: 't' },
    ...extra,
    { id: 'u1', type: 'zk-users', z: 'f1', name: '', wires: [['out'], ['sum']], ...users },
    { id: 'out', type: 'helper', z: 'f1' },
    { id: 'sum', type: 'helper', z: 'f1' },
    { id: 'c1', type: 'catch', z: 'f1', scope: ['u1'], uncaught: false, wires: [['caught']] },
    { id: 'caught', type: 'helper', z: 'f1' },
  ];
}

interface Harness {
  out: Msg[];
  caught: Msg[];
  /** Sends to u1; resolves with the summary (output 2) or, when the request was refused, the caught error. */
  send(msg: Record<string, unknown>): Promise<{ summary: Msg | null; caught: Msg | null; devices: Msg[] }>;
}

function wire(): Harness {
  const h: Harness = { out: [], caught: [], send: async () => ({ summary: null, caught: null, devices: [] }) };
  const sums: Msg[] = [];
  const on = (id: string, fn: (m: Msg) => void) => (helper.getNode(id) as unknown as EventEmitter).on('input', fn);
  on('out', (m) => h.out.push(m));
  on('sum', (m) => sums.push(m));
  on('caught', (m) => h.caught.push(m));
  h.send = async (msg) => {
    const [s0, c0, o0] = [sums.length, h.caught.length, h.out.length];
    helper.getNode('u1').receive(msg as NodeMessage);
    // A request that ran ends with a summary (and, when a device failed, a caught error); a refused one
    // ends with a caught error only.
    await until(() => sums.length > s0 || h.caught.length > c0, 60_000);
    const deviceFailure = (m: Msg | undefined) => /device\(s\) failed/.test(String(m?.error?.message));
    if (sums.length > s0 && (sums[s0].payload.failed as number) > 0) await until(() => h.caught.length > c0, 5000);
    if (h.caught.length > c0 && deviceFailure(h.caught[c0])) await until(() => sums.length > s0, 5000);
    return { summary: sums[s0] ?? null, caught: h.caught[c0] ?? null, devices: h.out.slice(o0) };
  };
  return h;
}

const masterList = (n: number, rename = ''): Record<string, unknown>[] =>
  Array.from({ length: n }, (_, i) => ({
    userId: String(20000 + i),
    name: `E${i}${rename}`,
    card: 100000 + i,
    privilege: i % 50 === 0 ? 'admin' : 'user',
    enabled: i % 97 !== 5,
  }));

async function readUsers(port: number) {
  const c = new ZkClient({ host: '127.0.0.1', port, timeoutMs: 3000 });
  try {
    await c.connect();
    return await c.users();
  } finally {
    await c.close();
  }
}

describe('zk-users node', function () {
  this.timeout(180_000);
  let sims: ZkSimulator[] = [];
  const nr = useNodeRedServer(async () => {
    await Promise.all(sims.map((s) => s.stop()));
    sims = [];
  });

  it('500 users to 20 devices: all equal to the list; again → no write; dry run → no write; one device down → reported, 19 finish', async () => {
    // 19 devices with the 72-byte user layout and one with the 28-byte layout (numeric PINs, 8-byte names).
    sims = Array.from(
      { length: 20 },
      (_, i) =>
        new ZkSimulator({
          port: 0,
          users: 12,
          records: 0,
          seed: 100 + i,
          transports: 'tcp',
          profile: i === 3 ? 'zk6' : 'tft',
        }),
    );
    const ports = (await Promise.all(sims.map((s) => s.start()))).map((a) => a.port);
    const fleet = ['host,port,name', ...ports.map((p, i) => `127.0.0.1,${p},D${i}`)].join('\n');
    await helper.load(
      [zkUsers],
      flow({ mode: 'list', fleet, tz: 'UTC', timeout: 5000, action: 'sync', missing: 'disable', concurrency: 8 }),
    );
    const h = wire();
    const list = masterList(500);

    const first = await h.send({ payload: list });
    assert.equal(first.caught, null, JSON.stringify(first.caught?.error));
    assert.deepEqual([first.summary?.payload.ok, first.summary?.payload.failed], [20, 0]);
    assert.equal(first.devices.length, 20);
    for (const d of first.devices) {
      const p = d.payload;
      assert.deepEqual(p.failed, [], d.topic);
      assert.deepEqual([(p.added as string[]).length, (p.disabled as string[]).length, p.ok], [500, 12, true], d.topic);
    }
    const want = new Map(list.map((u) => [String(u.userId), u]));
    for (const port of ports) {
      const users = await readUsers(port);
      assert.equal(users.length, 512);
      for (const u of users) {
        const w = want.get(u.userId);
        if (!w) {
          assert.equal(u.enabled, false, `${port}: ${u.userId} is not in the list: disabled`);
          continue;
        }
        assert.deepEqual(
          [u.name, u.cardNo, u.privilege & 0x0e, u.enabled],
          [w.name, w.card, w.privilege === 'admin' ? 6 : 0, w.enabled],
          `${port}: ${u.userId}`,
        );
      }
    }

    const before = sims.map(writesSeen);
    const again = await h.send({ payload: list });
    assert.deepEqual([again.summary?.payload.ok, again.caught], [20, null]);
    for (const d of again.devices)
      assert.deepEqual(
        [d.payload.added, d.payload.updated, d.payload.disabled, (d.payload.unchanged as string[]).length],
        [[], [], [], 512],
      );
    assert.deepEqual(sims.map(writesSeen), before, 'the same list again sends no write command');

    const changed = masterList(500, 'x').slice(0, 499);
    const dry = await h.send({ payload: changed, dryRun: true });
    assert.deepEqual(sims.map(writesSeen), before, 'a dry run sends no write command');
    for (const d of dry.devices) {
      assert.deepEqual([d.dryRun, (d.payload.updated as string[]).length, d.payload.disabled], [true, 499, ['20499']]);
      assert.deepEqual((d.payload.changes as { fields: string[] }[])[0].fields, ['name']);
    }

    await sims[7].stop();
    const down = await h.send({ payload: changed });
    assert.deepEqual([down.summary?.payload.ok, down.summary?.payload.failed], [19, 1]);
    const failed = down.devices.filter((d) => !d.payload.ok);
    assert.equal(failed.length, 1);
    assert.equal((failed[0].payload.device as { host: string }).host, `127.0.0.1:${ports[7]}`);
    assert.match(String(failed[0].payload.error), new RegExp(`127\\.0\\.0\\.1:${ports[7]}`));
    assert.match(String(down.caught?.error?.message), /1 of 20 device\(s\) failed: .*D7/);
    for (const d of down.devices.filter((x) => x.payload.ok))
      assert.deepEqual([(d.payload.updated as string[]).length, d.payload.disabled], [499, ['20499']]);
    const on9 = await readUsers(ports[9]);
    assert.equal(on9.find((u) => u.userId === '20001')?.name, 'E1x');
  });

  it('a bad list is refused naming the entry and field, and nothing is written', async () => {
    const sim = new ZkSimulator({ port: 0, users: 3, records: 0, seed: 5, transports: 'tcp' });
    sims = [sim];
    const { port } = await sim.start();
    await helper.load(
      [zkDevice, zkUsers],
      flow({ mode: 'device', device: 'dev', action: 'sync' }, [
        {
          id: 'dev',
          type: 'zk-device',
          name: 'door',
          host: '127.0.0.1',
          port,
          transport: 'tcp',
          timeout: 2000,
          tz: 'UTC',
          site: '',
          stateMap: '',
          directionOverride: '',
          nameEncoding: 'utf8',
        },
      ]),
    );
    const h = wire();
    const r = await h.send({ payload: [{ userId: '1', name: 'A' }, { userId: '2', card: 'abc' }, { userId: 1 }] });
    assert.equal(r.summary, null);
    assert.match(
      String(r.caught?.error?.message),
      /msg\.payload\[1\] \(userId 2\): card must be a card number.*msg\.payload\[2\] \(userId 1\): userId is a duplicate of entry 0/,
    );
    assert.equal(writesSeen(sim), 0);
    assert.equal(sim.counters.connections, 0, 'not even connected');
  });

  it('read: one message per device with its users and templates; templates: backup (0600) and copy from the backup, byte for byte', async () => {
    const rng = new Prng(11);
    // 200 users × 2 fingers on the source; the two others start with other users.
    sims = [0, 1, 2].map(
      (i) => new ZkSimulator({ port: 0, users: i === 0 ? 200 : 6, records: 0, seed: 40 + i, transports: 'tcp' }),
    );
    const ports = (await Promise.all(sims.map((s) => s.start()))).map((a) => a.port);
    const [src] = sims;
    for (const u of src.users) {
      for (const finger of [1, 6])
        src.addTemplate({
          userId: u.userId,
          finger,
          data: Buffer.from(Array.from({ length: rng.int(500, 1500) }, () => rng.int(0, 255))),
        });
    }
    const fleet = ['host,port', ...ports.map((p) => `127.0.0.1,${p}`)].join('\n');
    await helper.load([zkUsers], flow({ mode: 'list', fleet, tz: 'UTC', action: 'read', withTemplates: true }));
    const h = wire();
    const read = await h.send({ payload: 'go' });
    assert.equal(read.devices.length, 3);
    const first = read.devices.find((d) => d.topic === src.serial);
    assert.ok(first);
    assert.equal((first.payload.users as unknown[]).length, 200);
    assert.equal((first.payload.templates as unknown[]).length, 400);

    const backup = await h.send({ action: 'templates', templates: 'backup' });
    assert.equal(backup.summary?.payload.ok, 3);
    const file = String(backup.devices.find((d) => d.topic === src.serial)?.payload.file);
    assert.equal(path.dirname(file), path.join(nr.dir, 'punchflow', 'templates'));
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    assert.equal(fs.statSync(path.dirname(file)).mode & 0o777, 0o700);
    // The CLI's format: `zk templates restore` reads it (users included, so it can create them).
    const b = await readTemplateBackup(file);
    assert.deepEqual([b.users.length, b.templates.length, b.device.serial], [200, 400, src.serial]);

    // The targets need the users first (templates belong to PINs): give the source's users to the others.
    const people = src.users.map((u) => ({ userId: u.userId, name: u.name }));
    const synced = await h.send({ action: 'sync', payload: people });
    assert.equal(synced.summary?.payload.ok, 3);
    const copy = await h.send({ action: 'templates', templates: 'copy', from: path.basename(file) });
    assert.equal(copy.caught, null, JSON.stringify(copy.caught?.error));
    const bySerial = new Map(copy.devices.map((d) => [d.topic, d.payload]));
    assert.deepEqual((bySerial.get(src.serial)?.unchanged as string[]).length, 200, 'the source already holds them');
    const key = (t: { userId: string; finger: number; flag: number; data: Buffer }) =>
      `${t.userId}/${t.finger}/${t.flag}/${t.data.toString('hex')}`;
    for (const t of sims.slice(1)) {
      assert.equal((bySerial.get(t.serial)?.copied as string[]).length, 200);
      assert.deepEqual(t.templates.map(key).sort(), src.templates.map(key).sort());
    }
    const before = sims.map(writesSeen);
    const again = await h.send({ action: 'templates', templates: 'copy', from: path.basename(file) });
    assert.ok(again.devices.every((d) => (d.payload.copied as string[]).length === 0));
    assert.deepEqual(sims.map(writesSeen), before, 'equal templates are not written again');
    const bad = await h.send({ action: 'templates', templates: 'copy', from: '../x.json' });
    assert.match(String(bad.caught?.error?.message), /must be a file name in .*templates \(no folders\)/);
  });

  it('sync from an HR table in MySQL (password as a credential): the table decides, a bad row names the row and field', async function () {
    const db = await sharedMariaDb();
    if (!db) return this.skip();
    const pool = testPool(db);
    try {
      await pool.query('DROP TABLE IF EXISTS hr_employees');
      await pool.query(
        'CREATE TABLE hr_employees (emp_no VARCHAR(24) PRIMARY KEY, full_name VARCHAR(60), badge BIGINT UNSIGNED NULL, role VARCHAR(20), active TINYINT(1))',
      );
      await pool.query(
        "INSERT INTO hr_employees VALUES ('7001','Ana Lima',4000000000,'admin',1),('7002','Bo Chen',NULL,'user',1),('7003','Cy Diaz',12,'user',0)",
      );
      const sim = new ZkSimulator({ port: 0, users: 2, records: 0, seed: 9, transports: 'tcp' });
      sims = [sim];
      const { port } = await sim.start();
      const hr = {
        hrSource: 'mysql',
        hrHost: db.host,
        hrPort: db.port,
        hrUser: db.user,
        hrDatabase: db.database,
        hrQuery:
          'SELECT emp_no AS userId, full_name AS name, badge AS card, role AS privilege, active AS enabled FROM hr_employees',
      };
      await helper.load(
        [zkUsers],
        flow({ mode: 'list', fleet: `host,port\n127.0.0.1,${port}`, tz: 'UTC', action: 'sync', ...hr }),
        { u1: { hrPassword: db.password } },
      );
      const h = wire();
      const r = await h.send({ payload: Date.now() });
      assert.equal(r.caught, null, JSON.stringify(r.caught?.error));
      assert.deepEqual(r.devices[0].payload.added, ['7001', '7002', '7003']);
      const byId = new Map((await readUsers(port)).map((u) => [u.userId, u]));
      assert.deepEqual(
        [byId.get('7001')?.name, byId.get('7001')?.cardNo, byId.get('7001')?.privilege],
        ['Ana Lima', 4000000000, 6],
      );
      assert.deepEqual([byId.get('7002')?.cardNo, byId.get('7003')?.enabled], [0, false]);

      await pool.query("INSERT INTO hr_employees VALUES ('7004','Dee',99999999999,'user',1)");
      const before = writesSeen(sim);
      const bad = await h.send({ payload: Date.now() });
      assert.match(
        String(bad.caught?.error?.message),
        /HR row\[3\] \(userId 7004\): card must be a card number from 0 to 4294967295/,
      );
      assert.equal(writesSeen(sim), before, 'a bad row writes nothing');
    } finally {
      await pool.query('DROP TABLE IF EXISTS hr_employees').catch(() => undefined);
      await pool.end();
    }
  });

  it("push devices on a zk-push node: the same sync through its command queue, the same report; results stay out of zk-push's output", async () => {
    const port = await freePort();
    const sim = new ZkSimulator({ port: 0, users: 2, records: 0, seed: 3, transports: 'tcp' });
    sims = [sim];
    const tcp = (await sim.start()).port;
    await helper.load(
      [zkPush, zkUsers],
      flow(
        {
          mode: 'list',
          fleet: `host,port,name\n127.0.0.1,${tcp},Door`,
          tz: 'UTC',
          action: 'sync',
          push: 'p1',
          pushDevices: 'PX1, PX2, PX3, NOPE1',
          pushTimeout: 3,
        },
        [
          {
            id: 'p1',
            z: 'f1',
            type: 'zk-push',
            listen: 'port',
            port,
            host: '127.0.0.1',
            delay: 1,
            errorDelay: 1,
            devices: 'PX1\nPX2\nPX3',
            tz: 'UTC',
            wires: [[], ['pushEv']],
          },
          { id: 'pushEv', z: 'f1', type: 'helper' },
        ],
      ),
    );
    const pushEvents: Msg[] = [];
    (helper.getNode('pushEv') as unknown as EventEmitter).on('input', (m: Msg) => pushEvents.push(m));
    const devs = ['PX1', 'PX2'].map(
      (sn) => new PushDevice({ url: `http://127.0.0.1:${port}`, serial: sn, users: 3, pollMs: 20, errorDelayMs: 50 }),
    );
    try {
      devs.forEach((d) => d.start());
      await Promise.all(devs.map((d) => d.ready));
      const h = wire();
      const list = masterList(30);
      const r = await h.send({ payload: list });
      assert.deepEqual([r.summary?.payload.ok, r.summary?.payload.failed], [3, 2]);
      // A mistyped serial is refused at once (nothing queued for a device that does not exist); a listed device
      // that never polls is reported after the push wait; the others finish.
      const err = (sn: string) => String(r.devices.find((d) => d.topic === sn)?.payload.error);
      assert.match(
        err('NOPE1'),
        /push device NOPE1 is not on zk-push's device list and has never connected: check the serial/,
      );
      assert.match(err('PX3'), /reading users: no answer from push device PX3 for 3 s \(is it polling\?/);
      assert.match(String(r.caught?.error?.message), /2 of 5 device\(s\) failed/);
      const good = r.devices.filter((d) => d.topic !== 'NOPE1' && d.topic !== 'PX3');
      assert.deepEqual(good.map((d) => d.topic).sort(), ['PX1', 'PX2', sim.serial].sort());
      for (const d of good)
        assert.deepEqual([(d.payload.added as string[]).length, d.payload.failed], [30, []], d.topic);
      for (const d of devs) {
        const pins = new Set(d.users.map((u) => u.userId));
        for (const u of list) assert.ok(pins.has(String(u.userId)), `${d.serial}: ${String(u.userId)}`);
        assert.equal(
          d.disabled.size,
          3 + list.filter((u) => !u.enabled).length,
          'the generated users are disabled, and so is the HR-disabled one',
        );
      }
      assert.equal(
        pushEvents.filter((m) => m.topic === 'command').length,
        0,
        "the sync's command results go to its report only",
      );
      const writes = (d: PushDevice) =>
        (d.stats.commandsSeen['DATA UPDATE USERINFO'] ?? 0) + (d.stats.commandsSeen['DATA DELETE USERINFO'] ?? 0);
      const before = devs.map(writes);
      const again = await h.send({ payload: list });
      assert.deepEqual(
        again.devices
          .filter((d) => d.topic !== 'NOPE1' && d.topic !== 'PX3')
          .map((d) => [d.topic, (d.payload.unchanged as string[]).length])
          .sort(),
        [
          ['PX1', 33],
          ['PX2', 33],
          [sim.serial, 32],
        ].sort(),
      );
      assert.deepEqual(devs.map(writes), before, 'no write command the second time');
      // Push devices upload templates on their own schedule: a backup says so instead of writing an empty file.
      const bk = await h.send({ action: 'templates', templates: 'backup' });
      assert.match(
        String(bk.devices.find((d) => d.topic === 'PX1')?.payload.error),
        /templates are backed up from polled devices only/,
      );
      assert.equal(bk.devices.find((d) => d.topic === sim.serial)?.payload.ok, true);
    } finally {
      await Promise.all(devs.map((d) => d.stop()));
    }
  });
});
