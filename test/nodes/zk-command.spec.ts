/**
 * zk-command in Node-RED (node-red-node-test-helper) against simulators over loopback sockets: info and clock
 * sync on one device and on a fleet with one device down, the allow boxes, unlock and restart, and the safe
 * clear that waits for a zk-poll node's cursor to show every record delivered.
 */
import { strict as assert } from 'assert';
import type { EventEmitter } from 'events';
import type { NodeMessage } from 'node-red';
import { helper, useNodeRedServer } from '../support/node-red';
import zkDevice from '../../nodes/zk-device/zk-device';
import zkPoll from '../../nodes/zk-poll/zk-poll';
import zkCommand from '../../nodes/zk-command/zk-command';
import { ZkSimulator, startSimulators } from '../../lib/sim';
import { Cmd } from '../../lib/protocol/constants';
import { wallClockSeconds } from '../../lib/protocol/time';
import { freePort } from '../../support/ports';
import { until } from '../../support/wait';

type Payload = Record<string, unknown> & { ok: boolean; message: string; action: string };
type Msg = NodeMessage & { payload: Payload };
type FlowNode = Record<string, unknown> & { id: string; type: string };

interface Harness {
  results: Msg[];
  failures: Msg[];
  caught: Msg[];
  /** Sends to `id` and resolves when it finished (Complete or Catch). */
  send(id: string, payload?: unknown, extra?: Record<string, unknown>): Promise<void>;
}

function wire(): Harness {
  const h: Harness = { results: [], failures: [], caught: [], send: async () => undefined };
  const ends: string[] = [];
  const on = (id: string, fn: (m: Msg) => void) => (helper.getNode(id) as unknown as EventEmitter).on('input', fn);
  on('ok', (m) => h.results.push(m));
  on('bad', (m) => h.failures.push(m));
  on('caught', (m) => {
    h.caught.push(m);
    ends.push('caught');
  });
  on('completed', () => ends.push('completed'));
  h.send = async (id, payload = Date.now(), extra = {}) => {
    const before = ends.length;
    helper.getNode(id).receive({ payload, ...extra } as NodeMessage);
    await until(() => ends.length > before, 20000, `${id} to finish`);
  };
  return h;
}

function flow(command: Record<string, unknown>, extra: FlowNode[] = []): FlowNode[] {
  return [
    { id: 'f1', type: 'tab', label: 't' },
    ...extra,
    { id: 'c1', type: 'zk-command', z: 'f1', name: '', action: 'info', wires: [['ok'], ['bad']], ...command },
    { id: 'ok', type: 'helper', z: 'f1' },
    { id: 'bad', type: 'helper', z: 'f1' },
    { id: 'ct', type: 'catch', z: 'f1', scope: ['c1', 'p1'], uncaught: false, wires: [['caught']] },
    { id: 'caught', type: 'helper', z: 'f1' },
    { id: 'cp', type: 'complete', z: 'f1', scope: ['c1', 'p1'], uncaught: false, wires: [['completed']] },
    { id: 'completed', type: 'helper', z: 'f1' },
  ];
}

const deviceNode = (port: number): FlowNode => ({
  id: 'dev',
  type: 'zk-device',
  name: 'door',
  host: '127.0.0.1',
  port,
  transport: 'tcp',
  timeout: 2000,
  tz: 'UTC',
  site: 'HQ',
  stateMap: '',
  directionOverride: '',
  nameEncoding: 'utf8',
});
const pollNode = (): FlowNode => ({
  id: 'p1',
  type: 'zk-poll',
  z: 'f1',
  name: 'to MySQL',
  mode: 'device',
  device: 'dev',
  interval: 0,
  wires: [['recs'], ['pst']],
});
/** Device clock minus host clock, seconds (the simulators run in UTC). */
const driftOf = (sim: ZkSimulator) => wallClockSeconds(sim.now()) - Math.floor(Date.now() / 1000);

describe('zk-command node', function () {
  this.timeout(60000);
  let sims: ZkSimulator[] = [];
  useNodeRedServer(async () => {
    await Promise.all(sims.map((s) => s.stop()));
    sims = [];
  });

  it('one zk-device: info, then a clock sync that sets a drifted clock once and leaves it alone after', async () => {
    const sim = new ZkSimulator({ port: 0, records: 20, users: 4, seed: 1, transports: 'tcp', clockOffsetSec: 4000 });
    sims = [sim];
    const { port } = await sim.start();
    await helper.load(
      [zkDevice, zkCommand],
      flow({ mode: 'device', device: 'dev', action: 'info', threshold: 60 }, [deviceNode(port)]),
    );
    const h = wire();
    await h.send('c1');
    assert.equal(h.results.length, 1);
    const info = h.results[0].payload;
    assert.equal(h.results[0].topic, sim.serial);
    assert.equal((info.info as { serial: string }).serial, sim.serial);
    assert.match(info.message, /20 records, 4 users, clock \+(399[89]|400[012]) s/);

    await h.send('c1', 'syncClock');
    const set = h.results[1].payload;
    assert.equal(set.set, true, set.message);
    assert.match(set.message, /clock was \+(399[89]|400[012]) s off; set to .* \(UTC\)/);
    assert.ok(Math.abs(driftOf(sim)) <= 2, `device clock now ${driftOf(sim)} s off`);
    await h.send('c1', { action: 'syncClock' });
    assert.equal(h.results[2].payload.set, false);
    assert.match(h.results[2].payload.message, /within 60 s; left alone/);
    assert.equal(sim.counters.commandsSeen[Cmd.SET_TIME], 1);
    assert.equal(h.failures.length, 0);
    assert.equal(h.caught.length, 0);
  });

  it('a fleet with one device down: the others are synced, the dead one is reported on output 2', async () => {
    sims = await startSimulators({ devices: 3, records: 5, users: 2, transports: 'tcp', clockOffsetSec: -900 });
    const dead = await freePort();
    const fleet = JSON.stringify([
      ...sims.map((s, i) => ({ host: '127.0.0.1', port: s.port, name: `branch ${i + 1}` })),
      { host: '127.0.0.1', port: dead, name: 'closed branch' },
    ]);
    await helper.load(
      [zkCommand],
      flow({ mode: 'list', fleet, tz: 'UTC', timeout: 1000, action: 'syncClock', threshold: 10 }),
    );
    const h = wire();
    await h.send('c1');
    assert.equal(h.results.length, 3);
    assert.ok(h.results.every((m) => m.payload.set === true));
    for (const s of sims) assert.ok(Math.abs(driftOf(s)) <= 2);
    assert.equal(h.failures.length, 1);
    assert.equal(h.failures[0].payload.ok, false);
    assert.match(h.failures[0].payload.message, new RegExp(`^closed branch \\(127\\.0\\.0\\.1:${dead}\\): `));

    // One row's action (a dashboard button): only that device, by host:port or by name.
    const timeReadsBefore = sims.map((s) => s.counters.commandsSeen[Cmd.GET_TIME] ?? 0);
    await h.send('c1', { action: 'syncClock', device: `127.0.0.1:${sims[1].port}` });
    await h.send('c1', { action: 'syncClock', device: 'branch 3' });
    assert.deepEqual(
      sims.map((s, i) => (s.counters.commandsSeen[Cmd.GET_TIME] ?? 0) - timeReadsBefore[i]),
      [0, 1, 1],
    );
    await h.send('c1', { action: 'syncClock', device: '10.9.9.9:4370' });
    assert.match(
      h.failures[1].payload.message,
      /device "10\.9\.9\.9:4370" is not one of this node's devices; nothing was done/,
    );
  });

  it('a fleet over UDP with the fleet comm key credential: each door unlocked, a device with another key reported', async () => {
    sims = await startSimulators({ devices: 3, records: 3, users: 1, transports: 'udp', commKey: 4242 });
    const other = new ZkSimulator({ port: 0, records: 1, users: 1, seed: 9, transports: 'udp', commKey: 99 });
    await other.start();
    sims.push(other);
    const fleet = JSON.stringify(sims.map((s, i) => ({ host: '127.0.0.1', port: s.port, name: `gate ${i + 1}` })));
    await helper.load(
      [zkCommand],
      flow({
        mode: 'list',
        fleet,
        transport: 'udp',
        tz: 'UTC',
        timeout: 1500,
        action: 'unlock',
        unlockSeconds: 5,
        allowUnlock: true,
      }),
      { c1: { commKey: '4242' } },
    );
    const h = wire();
    await h.send('c1');
    assert.equal(h.results.length, 3);
    for (const s of sims.slice(0, 3))
      assert.deepEqual(
        s.doorUnlocks.map((u) => u.seconds),
        [5],
      );
    assert.equal(other.doorUnlocks.length, 0);
    assert.equal(h.failures.length, 1);
    assert.match(h.failures[0].payload.message, /^gate 4 .*comm key/);
    assert.equal((h.failures[0].payload.error as { code: string }).code, 'AUTH');
  });

  it('unlock, restart and clear are refused unless their box is ticked; nothing is sent to the device', async () => {
    const sim = new ZkSimulator({ port: 0, records: 10, users: 2, seed: 2, transports: 'tcp' });
    sims = [sim];
    const { port } = await sim.start();
    await helper.load(
      [zkDevice, zkPoll, zkCommand],
      flow({ mode: 'device', device: 'dev', action: 'unlock', pollNode: 'p1' }, [deviceNode(port), pollNode()]),
    );
    const h = wire();
    for (const payload of [Date.now(), 'restart', { action: 'clear' }]) await h.send('c1', payload);
    assert.equal(h.results.length, 0);
    assert.deepEqual(
      h.failures.map((m) => m.topic),
      ['refused', 'refused', 'refused'],
    );
    assert.match(h.failures[0].payload.message, /door unlock is not allowed on this node: tick "allow door unlock"/);
    assert.match(h.failures[1].payload.message, /allow restart/);
    assert.match(h.failures[2].payload.message, /allow safe clear/);
    assert.equal(h.caught.length, 3, 'refusals also reach Catch nodes');
    assert.equal(sim.counters.connections, 0, 'the device was not even contacted');
    assert.equal(sim.records.length, 10);
  });

  it('unlock (allowed) opens the door for the asked seconds; a bad value is refused; restart (allowed) restarts', async () => {
    const sim = new ZkSimulator({ port: 0, records: 10, users: 2, seed: 3, transports: 'tcp' });
    sims = [sim];
    const { port } = await sim.start();
    await helper.load(
      [zkDevice, zkCommand],
      flow(
        { mode: 'device', device: 'dev', action: 'unlock', unlockSeconds: 4, allowUnlock: true, allowRestart: true },
        [deviceNode(port)],
      ),
    );
    const h = wire();
    await h.send('c1');
    await h.send('c1', { seconds: 9 });
    assert.deepEqual(
      sim.doorUnlocks.map((u) => u.seconds),
      [4, 9],
    );
    assert.match(h.results[1].payload.message, /door unlocked for 9 s/);
    await h.send('c1', { seconds: 600 });
    assert.match(h.failures[0].payload.message, /seconds \(door unlock time\) must be a whole number from 1 to 60/);
    assert.equal(sim.doorUnlocks.length, 2);
    await h.send('c1', 'restart');
    await until(() => sim.restarts === 1, 5000, 'the restart');
    assert.match(h.results[2].payload.message, /restarting/);
    // The next command reconnects by itself.
    await h.send('c1', 'info');
    assert.equal(h.results[3].payload.ok, true);
  });

  it('safe clear: refused until the named zk-poll has delivered every record; a new punch blocks it; then it clears', async () => {
    const sim = new ZkSimulator({ port: 0, records: 300, users: 6, seed: 4, transports: 'tcp' });
    sims = [sim];
    const { port } = await sim.start();
    await helper.load(
      [zkDevice, zkPoll, zkCommand],
      [
        ...flow({ mode: 'device', device: 'dev', action: 'clear', allowClear: true, pollNode: 'p1' }, [
          deviceNode(port),
          pollNode(),
        ]),
        { id: 'recs', type: 'helper', z: 'f1' },
        { id: 'pst', type: 'helper', z: 'f1' },
      ],
    );
    const h = wire();
    await h.send('c1');
    assert.equal(h.failures.length, 1);
    assert.match(
      h.failures[0].payload.message,
      /zk-poll "to MySQL" has no saved cursor for this device .* nothing was cleared/,
    );
    assert.equal(sim.records.length, 300);

    await h.send('p1');
    sim.punch({ userId: sim.users[0].userId });
    await h.send('c1');
    assert.equal(h.failures.length, 2);
    assert.match(
      h.failures[1].payload.message,
      /1 of 301 records are not delivered yet by zk-poll "to MySQL"; nothing was cleared — let it poll, then clear again/,
    );
    assert.equal(h.failures[1].payload.pending, 1);
    assert.equal(sim.records.length, 301);
    assert.equal(sim.counters.commandsSeen[Cmd.CLEAR_ATTLOG] ?? 0, 0);

    await h.send('p1');
    await h.send('c1');
    assert.equal(h.results.length, 1, JSON.stringify(h.failures.map((m) => m.payload.message)));
    const r = h.results[0].payload;
    assert.equal(r.cleared, true);
    assert.equal(r.downloaded, 301);
    assert.match(r.message, /cleared 301 records, all delivered by zk-poll "to MySQL"/);
    assert.equal(sim.records.length, 0);
    assert.equal(h.caught.length, 0);
  });

  it('safe clear without a zk-poll chosen is refused with a reason', async () => {
    const sim = new ZkSimulator({ port: 0, records: 3, users: 1, seed: 5, transports: 'tcp' });
    sims = [sim];
    const { port } = await sim.start();
    await helper.load(
      [zkDevice, zkCommand],
      flow({ mode: 'device', device: 'dev', action: 'clear', allowClear: true }, [deviceNode(port)]),
    );
    const h = wire();
    await h.send('c1');
    assert.match(h.failures[0].payload.message, /safe clear needs a zk-poll node/);
    assert.equal(sim.records.length, 3);
  });
});
