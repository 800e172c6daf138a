/**
 * The user sync over the push command queue: a real PushServer on loopback and simulated push devices that
 * run DATA QUERY/UPDATE/DELETE USERINFO and DATA UPDATE FINGERTMP with state. The same lib/users code as for
 * TCP devices plans, applies and reads back; a second sync sends no write command.
 */
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { PushJournal } from '../../lib/push/journal';
import { listenPush, PushListener } from '../../lib/push/listener';
import { PushServer } from '../../lib/push/server';
import { pushDefaults } from '../../lib/push/settings';
import { PushState } from '../../lib/push/state';
import { PushUserCommands, parseUserLines, userInfoCommand } from '../../lib/push/user-commands';
import { PushDevice } from '../../lib/sim/push-device';
import { copyTemplates, parseMasterList, syncDevice } from '../../lib/users';

interface Rig {
  server: PushServer;
  users: PushUserCommands;
  url: string;
  close(): Promise<void>;
}

async function rig(answerTimeoutMs = 20_000, commandsPerPoll = 10): Promise<Rig> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'punchflow-pushusers-'));
  let users: PushUserCommands | null = null;
  const state = await PushState.open(path.join(dir, 'state.json'), { saveDelayMs: 20 });
  const journal = await PushJournal.open(path.join(dir, 'journal'));
  journal.start(() => undefined);
  const server = new PushServer(pushDefaults({ unknownDevices: 'accept', commandsPerPoll }), journal, state, {
    command: (c) => users?.onCommand(c),
    userLines: (sn, text) => users?.onUserLines(sn, text),
  });
  users = new PushUserCommands(server.commands, { answerTimeoutMs });
  const listener: PushListener = await listenPush(server, 0, '127.0.0.1');
  return {
    server,
    users,
    url: `http://127.0.0.1:${listener.port}`,
    close: async () => {
      users?.close();
      await listener.close();
      await journal.close();
      await state.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

const writes = (d: PushDevice): number =>
  Object.entries(d.stats.commandsSeen)
    .filter(([k]) => /^DATA (UPDATE|DELETE)/.test(k))
    .reduce((a, [, n]) => a + n, 0);

describe('users: push devices (ADMS command queue)', function () {
  this.timeout(60_000);
  let r: Rig;
  const devices: PushDevice[] = [];
  afterEach(async () => {
    await Promise.all(devices.splice(0).map((d) => d.stop()));
    await r?.close();
  });

  it('the USERINFO text round-trips through the command and the upload line', () => {
    const u = {
      uid: 0,
      userId: '1001',
      name: 'Ana Lima',
      privilege: 7,
      enabled: false,
      password: '12',
      cardNo: 4000000000,
      group: 2,
    };
    assert.equal(
      userInfoCommand(u),
      'DATA UPDATE USERINFO PIN=1001\tName=Ana Lima\tPri=6\tPasswd=12\tCard=4000000000\tGrp=2\tDisable=1',
    );
    const [back] = parseUserLines(
      `USER ${userInfoCommand(u).slice('DATA UPDATE USERINFO '.length)}\nOPLOG 4\t0\t2026-01-01 00:00:00\n`,
    );
    assert.deepEqual(back, u);
    assert.equal(parseUserLines('USER PIN=5\tCard=[000000FF]')[0].cardNo, 255);
    assert.throws(() => userInfoCommand({ ...u, name: 'a\nCLEAR LOG' }), /name contains a tab, line break/);
  });

  it('syncs a list to two push devices, reads it back, and a second sync sends no write command', async () => {
    r = await rig();
    for (const sn of ['PU1', 'PU2']) {
      const d = new PushDevice({ url: r.url, serial: sn, users: 5, pollMs: 10, errorDelayMs: 20 });
      d.start();
      devices.push(d);
    }
    await Promise.all(devices.map((d) => d.ready));
    // Both devices hold the same 5 generated users (same seed): 2 are in the list with new names, 3 are not.
    const gen = devices[0].users.map((u) => u.userId);
    const rows = Array.from({ length: 118 }, (_, i) => ({
      userId: String(70000 + i),
      name: `Person ${i}`,
      card: 5000 + i,
      privilege: i === 0 ? 'superadmin' : 'user',
      enabled: i !== 7,
    }));
    const list = parseMasterList([
      ...rows,
      { userId: gen[0], name: 'Renamed 0' },
      { userId: gen[1], name: 'Renamed 1', card: 42 },
    ]);
    const reports = await Promise.all(
      devices.map((d) => syncDevice(r.users.device(d.serial), list, { missing: 'disable' })),
    );
    for (const [i, rep] of reports.entries()) {
      assert.deepEqual(rep.failed, [], devices[i].serial);
      assert.equal(rep.added.length, 118);
      assert.deepEqual(rep.updated, gen.slice(0, 2));
      assert.deepEqual(rep.disabled, gen.slice(2));
      const d = devices[i];
      const byPin = new Map(d.users.map((u) => [u.userId, u]));
      for (const m of list) {
        const u = byPin.get(m.userId);
        assert.ok(u, m.userId);
        if (m.cardNo !== undefined) assert.equal(u.cardNo, m.cardNo);
        if (m.privilege !== undefined) assert.equal(u.privilege, m.privilege);
        assert.deepEqual([u.name, d.disabled.has(m.userId)], [m.name, !m.enabled]);
      }
      for (const id of gen.slice(2)) assert.ok(d.disabled.has(id), id);
    }
    const before = devices.map(writes);
    assert.deepEqual(before, [123, 123]);
    const again = await Promise.all(
      devices.map((d) => syncDevice(r.users.device(d.serial), list, { missing: 'disable' })),
    );
    for (const rep of again)
      assert.deepEqual([rep.added, rep.updated, rep.disabled, rep.failed, rep.unchanged.length], [[], [], [], [], 123]);
    assert.deepEqual(devices.map(writes), before, 'no DATA UPDATE/DELETE on the second sync');
  });

  it('deletes by PIN with the delete policy; a dry run sends no write', async () => {
    r = await rig();
    const d = new PushDevice({ url: r.url, serial: 'PD1', users: 4, pollMs: 10, errorDelayMs: 20 });
    d.start();
    devices.push(d);
    await d.ready;
    const keep = parseMasterList([{ userId: d.users[0].userId, name: d.users[0].name }]);
    const dry = await syncDevice(r.users.device('PD1'), keep, { missing: 'delete', dryRun: true });
    assert.deepEqual(
      dry.deleted,
      d.users.slice(1).map((u) => u.userId),
    );
    assert.equal(writes(d), 0);
    const rep = await syncDevice(r.users.device('PD1'), keep, { missing: 'delete' });
    assert.deepEqual([rep.deleted.length, rep.failed], [3, []]);
    assert.deepEqual(
      d.users.map((u) => u.userId),
      [keep[0].userId],
    );
    assert.equal(d.stats.commandsSeen['DATA DELETE USERINFO'], 3);
  });

  it('a push device that never polls is reported, not waited for forever', async () => {
    r = await rig(300);
    const d = new PushDevice({ url: r.url, serial: 'OFF1', users: 1, pollMs: 10, errorDelayMs: 20 });
    d.start();
    await d.ready;
    await d.stop();
    await assert.rejects(
      syncDevice(r.users.device('OFF1'), parseMasterList([{ userId: '1' }]), { missing: 'leave' }),
      /reading users: no answer from push device OFF1 for 0.3 s/,
    );
  });

  it('the push wait is for progress, not a total: a sync longer than the wait finishes while answers keep coming', async () => {
    // One command per poll every 25 ms: 160 users take ≥ 160 polls (4 s), twice the 2 s wait. The wait is
    // generous so that a busy machine's pause between two answers does not pass for a silent device.
    r = await rig(2000, 1);
    const d = new PushDevice({ url: r.url, serial: 'PS1', users: 0, pollMs: 25, errorDelayMs: 20 });
    d.start();
    devices.push(d);
    await d.ready;
    const list = parseMasterList(Array.from({ length: 160 }, (_, i) => ({ userId: String(500 + i), name: `S${i}` })));
    const started = Date.now();
    const rep = await syncDevice(r.users.device('PS1'), list, { missing: 'leave' });
    assert.deepEqual([rep.added.length, rep.failed], [160, []]);
    assert.ok(d.stats.polls >= 160, `${d.stats.polls} polls`);
    assert.ok(Date.now() - started > 2000, 'the sync lasted longer than the wait (else this proves nothing)');
  });

  it('copies templates byte for byte with DATA UPDATE FINGERTMP', async () => {
    r = await rig();
    const d = new PushDevice({ url: r.url, serial: 'PT1', users: 3, pollMs: 10, errorDelayMs: 20 });
    d.start();
    devices.push(d);
    await d.ready;
    const data = Buffer.from(Array.from({ length: 1200 }, (_, i) => (i * 37) & 0xff));
    const pin = d.users[1].userId;
    const set = new Map([
      [
        pin,
        [
          { userId: pin, uid: 0, finger: 3, flag: 1, data },
          { userId: pin, uid: 0, finger: 6, flag: 3, data: data.subarray(0, 500) },
        ],
      ],
      ['nobody', [{ userId: 'nobody', uid: 0, finger: 0, flag: 1, data }]],
    ]);
    const rep = await copyTemplates(set, r.users.device('PT1'), null);
    assert.deepEqual(rep.copied, [pin]);
    assert.equal(rep.failed[0].userId, 'nobody');
    const held = d.templates.get(pin);
    assert.ok(held && held.get(3)?.data.equals(data) && held.get(6)?.data.equals(data.subarray(0, 500)));
    assert.equal(held.get(6)?.flag, 3);
  });
});
