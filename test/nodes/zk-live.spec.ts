/**
 * zk-live in Node-RED (node-red-node-test-helper) against simulators over loopback sockets: a live punch
 * within 1 s, gap fill after a link drop with nothing doubled, a fleet, the cursor across a redeploy,
 * msg.devices, configuration errors, and nothing left behind after a redeploy or delete.
 */
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import type { EventEmitter } from 'events';
import { helper, useNodeRedServer } from '../support/node-red';
import type { NodeMessage } from 'node-red';
import zkDevice from '../../nodes/zk-device/zk-device';
import zkLive from '../../nodes/zk-live/zk-live';
import { ZkSimulator, startSimulators } from '../../lib/sim';
import { sessionRegistry } from '../../lib/device';
import type { AttendanceRecord, DeviceStatusEvent } from '../../lib/record';
import { instantToWallClock } from '../../lib/record/zone';
import { resourceCounts, leakedSince } from '../support/handles';
import { recordsBeforeMarker } from '../support/marker';
import { sleep, until } from '../../support/wait';

type Msg = NodeMessage & {
  payload: unknown;
  device?: { serial: string; host: string };
  alert?: boolean;
  error?: { message: string };
};
type FlowNode = Record<string, unknown> & { id: string; type: string };

interface Harness {
  records: Msg[];
  status: Msg[];
  caught: Msg[];
}

function wire(): Harness {
  const h: Harness = { records: [], status: [], caught: [] };
  // The typings only know 'close' on nodes; helper nodes emit 'input' like any node.
  const on = (id: string, fn: (m: Msg) => void) => (helper.getNode(id) as unknown as EventEmitter).on('input', fn);
  on('out', (m) => h.records.push(m));
  on('st', (m) => h.status.push(m));
  on('caught', (m) => h.caught.push(m));
  return h;
}

/** Small reconnect delays so a drop is over in moments. */
const FAST = { backoffInitial: 0.05, backoffMax: 0.2 };

function flow(live: Record<string, unknown>, devices: FlowNode[] = []): FlowNode[] {
  return [
    { id: 'f1', type: 'tab', label: 't' },
    ...devices,
    { id: 'l1', type: 'zk-live', z: 'f1', name: '', ...FAST, wires: [['out'], ['st']], ...live },
    { id: 'out', type: 'helper', z: 'f1' },
    { id: 'st', type: 'helper', z: 'f1' },
    { id: 'c1', type: 'catch', z: 'f1', scope: ['l1'], uncaught: false, wires: [['caught']] },
    { id: 'caught', type: 'helper', z: 'f1' },
  ];
}

const deviceNode = (port: number): FlowNode => ({
  id: 'dev',
  type: 'zk-device',
  name: 'door',
  host: '127.0.0.1',
  port,
  transport: 'tcp',
  timeout: 1000,
  tz: 'UTC',
  site: 'HQ',
  stateMap: '',
  directionOverride: '',
  nameEncoding: 'utf8',
});

const records = (h: Harness) => h.records.map((m) => m.payload as AttendanceRecord);
const states = (h: Harness) =>
  h.status
    .filter((m) => m.topic !== 'alert' && m.topic !== 'anomaly' && m.topic !== 'event')
    .map((m) => m.payload as DeviceStatusEvent);
/** Simulator wall clock (UTC) offset from now: distinct, increasing punch times. */
const at = (sec: number) => instantToWallClock(Date.now() + sec * 1000, 'UTC');
const dupes = (rs: AttendanceRecord[]) => rs.map((r) => r.id).filter((id, i, all) => all.indexOf(id) !== i);

describe('zk-live node', function () {
  this.timeout(30000);
  let sims: ZkSimulator[] = [];
  const ud = useNodeRedServer(async () => {
    await Promise.all(sims.map((s) => s.stop()));
    sims = [];
  });

  async function oneDevice(live: Record<string, unknown> = {}): Promise<{ sim: ZkSimulator; h: Harness }> {
    const sim = new ZkSimulator({ host: '127.0.0.1', port: 0, records: 50, users: 10, seed: 5, transports: 'tcp' });
    sims = [sim];
    const { port } = await sim.start();
    await helper.load([zkDevice, zkLive], flow({ mode: 'device', device: 'dev', ...live }, [deviceNode(port)]));
    const h = wire();
    await until(() => states(h).some((s) => s.state === 'online'), 5000, 'online');
    return { sim, h };
  }

  it('emits a live punch within 1 s: one record per message, topic = serial, msg.device', async () => {
    const { sim, h } = await oneDevice();
    assert.equal(h.records.length, 0, 'first start: the existing log is not replayed');
    const t0 = Date.now();
    sim.punch({ userId: sim.users[2].userId, state: 0, at: at(0) });
    await until(() => h.records.length === 1, 1000, 'the punch');
    assert.ok(Date.now() - t0 < 1000);
    const m = h.records[0];
    const r = m.payload as AttendanceRecord;
    assert.equal(r.source, 'live');
    assert.equal(r.userId, sim.users[2].userId);
    assert.equal(r.deviceSn, sim.serial);
    assert.equal(r.site, 'HQ');
    assert.equal(m.topic, sim.serial);
    assert.equal(m.device?.serial, sim.serial);
    const online = states(h).find((s) => s.state === 'online');
    assert.equal(online?.deviceSn, sim.serial);
    assert.equal(online?.records, 50);
    assert.equal(h.caught.length, 0);
    // The cursor went to the user directory.
    const dir = path.join(ud.dir, 'punchflow', 'cursors', 'l1');
    await until(() => fs.existsSync(dir) && fs.readdirSync(dir).some((f) => f.endsWith('.json')), 2000, 'cursor file');
  });

  it('after the simulator drops the link for a while, the punches made meanwhile come out once, nothing doubled', async () => {
    // Enough failures allowed that the outage raises no alert (that is the next tests' subject).
    const { sim, h } = await oneDevice({ failuresToError: 100 });
    sim.punch({ userId: sim.users[0].userId, at: at(-4) });
    sim.punch({ userId: sim.users[1].userId, at: at(-3) });
    await until(() => h.records.length === 2, 1000, 'two live punches');

    const refusing = sim.setFaults({ tcpMode: 'refuse' });
    sim.restart();
    await refusing;
    await until(() => states(h).some((s) => s.state === 'offline'), 3000, 'offline');
    sim.punch({ userId: sim.users[2].userId, at: at(-2) });
    sim.punch({ userId: sim.users[3].userId, at: at(-1) });
    // Several refused attempts: the punches cannot come out while the device refuses, and nothing signals "not yet".
    await sleep(500);
    assert.equal(h.records.length, 2);
    await sim.setFaults({ tcpMode: undefined });
    await until(() => h.records.length === 4, 5000, 'the missed punches');
    assert.deepEqual(
      records(h)
        .slice(2)
        .map((r) => [r.userId, r.source]),
      [
        [sim.users[2].userId, 'poll'],
        [sim.users[3].userId, 'poll'],
      ],
    );
    const back = states(h).at(-1)!;
    assert.deepEqual([back.state, back.newRecords], ['online', 2]);

    sim.punch({ userId: sim.users[4].userId, at: at(0) });
    await until(() => h.records.length === 5, 1000, 'live again');
    assert.equal(records(h)[4].source, 'live');
    assert.equal((await recordsBeforeMarker(sim, () => records(h), sim.users[5].userId, at(1))).length, 5);
    assert.deepEqual(dupes(records(h)), []);
    assert.equal(h.caught.length, 0);
  });

  it('a fleet (device list): every device live, punches of each come out, one status per device', async () => {
    sims = await startSimulators({
      devices: 3,
      records: 20,
      users: 5,
      transports: 'tcp',
      host: '127.0.0.1',
      basePort: 0,
    });
    const list = 'host,port,name\n' + sims.map((s, i) => `127.0.0.1,${s.port},door ${i}`).join('\n');
    await helper.load([zkDevice, zkLive], flow({ mode: 'list', fleet: list, tz: 'UTC', site: 'Branch 7' }));
    const h = wire();
    await until(() => states(h).filter((s) => s.state === 'online').length === 3, 5000, 'three online');
    sims.forEach((s, i) => s.punch({ userId: s.users[0].userId, at: at(i) }));
    await until(() => h.records.length === 3, 1500, 'three punches');
    assert.deepEqual(new Set(h.records.map((m) => m.topic)), new Set(sims.map((s) => s.serial)));
    assert.ok(records(h).every((r) => r.site === 'Branch 7' && r.source === 'live'));
  });

  it('the cursor survives a redeploy: punches made meanwhile come out once, earlier ones are not repeated', async () => {
    const { sim, h } = await oneDevice();
    sim.punch({ userId: sim.users[0].userId, at: at(-2) });
    await until(() => h.records.length === 1, 1000, 'live punch');
    const port = sim.port;
    // Redeploy with a changed zk-live: the old node closes, the new one (same id) reconnects.
    await helper.setFlows(flow({ mode: 'device', device: 'dev', name: 'v2' }, [deviceNode(port)]), 'full');
    sim.punch({ userId: sim.users[1].userId, at: at(-1) });
    const h2 = wire();
    await until(() => h2.records.length >= 1, 5000, 'the punch made during the redeploy');
    const before = await recordsBeforeMarker(sim, () => records(h2), sim.users[2].userId, at(1));
    assert.deepEqual(
      before.map((r) => r.userId),
      [sim.users[1].userId],
    );
    assert.equal(h2.caught.length, 0);
  });

  it('msg.devices: listens to the given fleet; another message means reconnect now', async () => {
    sims = await startSimulators({
      devices: 2,
      records: 10,
      users: 5,
      transports: 'tcp',
      host: '127.0.0.1',
      basePort: 0,
    });
    await helper.load([zkDevice, zkLive], flow({ mode: 'msg', tz: 'UTC' }));
    const h = wire();
    helper.getNode('l1').receive({ devices: sims.map((s) => `127.0.0.1:${s.port}`) } as unknown as NodeMessage);
    await until(() => states(h).filter((s) => s.state === 'online').length === 2, 5000, 'both online');
    sims[1].punch({ userId: sims[1].users[0].userId, at: at(0) });
    await until(() => h.records.length === 1, 1000, 'punch');
    assert.equal(h.records[0].topic, sims[1].serial);
    helper.getNode('l1').receive({ payload: 'reconnect' } as NodeMessage);
    helper.getNode('l1').receive({ devices: 'not a list' } as unknown as NodeMessage);
    await until(() => h.caught.length === 1, 2000, 'the bad msg.devices caught');
    assert.match(h.caught[0].error?.message ?? '', /msg\.devices must be an array/);
  });

  it('a device that keeps failing: offline, then one alert and error status, with the reason', async () => {
    await helper.load(
      [zkDevice, zkLive],
      flow({
        mode: 'list',
        fleet: 'host,port\n127.0.0.1,1',
        failuresToError: 3,
        backoffInitial: 0.02,
        backoffMax: 0.05,
      }),
    );
    const h = wire();
    await until(() => h.status.some((m) => m.alert === true), 5000, 'alert');
    // The failures go on every 20-50 ms; a second alert must never come, so there is no signal to wait for.
    await sleep(300);
    assert.equal(h.status.filter((m) => m.alert === true).length, 1, 'one alert per streak');
    assert.deepEqual(
      states(h).map((s) => s.state),
      ['offline', 'error'],
    );
    assert.match(states(h)[1].lastError ?? '', /127\.0\.0\.1:1/);
    assert.equal(h.caught.length, 1, 'the alert reaches Catch nodes');
  });

  it('configuration errors are said plainly and nothing starts', async () => {
    await helper.load([zkDevice, zkLive], flow({ mode: 'device', device: '' }));
    const n = helper.getNode('l1') as unknown as { error: { args: unknown[][] } };
    assert.match(String(n.error.args[0][0]), /no zk-device selected/);
    await helper.unload();
    await helper.load([zkDevice, zkLive], flow({ mode: 'range', range: '10.0.0.0/8' }));
    const n2 = helper.getNode('l1') as unknown as { error: { args: unknown[][] } };
    assert.match(String(n2.error.args[0][0]), /at most 4096/);
    assert.equal(sessionRegistry.size, 0);
  });

  it('a configuration error reaches Catch nodes (with a msg, once the flow runs), so a dashboard can list it', async () => {
    await helper.load([zkDevice, zkLive], flow({ mode: 'list', fleet: '${PUNCHFLOW_FLEET}' }));
    const h = wire();
    await until(() => h.caught.length >= 1, 5000, 'the caught configuration error');
    const m = h.caught[0] as Msg & { error?: { message: string; source: { id: string } } };
    assert.equal(m.topic, 'config');
    assert.equal(m.error?.source.id, 'l1');
    assert.match(m.error?.message ?? '', /^zk-live l1: .*PUNCHFLOW_FLEET/);
    await sleep(100); // a second report must never come: nothing to wait for
    assert.equal(h.caught.length, 1, 'said once');
  });

  it('redeploy and delete leave no sockets, timers or listeners', async () => {
    sims = await startSimulators({
      devices: 2,
      records: 10,
      users: 5,
      transports: 'tcp',
      host: '127.0.0.1',
      basePort: 0,
    });
    const before = resourceCounts();
    const list = `host,port\n127.0.0.1,${sims[0].port}\n127.0.0.1,${sims[1].port}`;
    const fleetFlow = flow({ mode: 'list', fleet: list, tz: 'UTC' });
    await helper.load([zkDevice, zkLive], [...fleetFlow, deviceNode(sims[0].port)]);
    let h = wire();
    await until(() => states(h).filter((s) => s.state === 'online').length === 2, 5000, 'fleet online');
    await helper.setFlows(
      [...fleetFlow.map((n) => (n.id === 'l1' ? { ...n, name: 'v2' } : n)), deviceNode(sims[0].port)],
      'full',
    );
    h = wire();
    await until(() => states(h).filter((s) => s.state === 'online').length === 2, 5000, 'fleet online after redeploy');
    // Single-device mode through the config node, with a device that is down (a retry timer pending).
    await helper.setFlows(
      flow({ mode: 'device', device: 'dev', backoffInitial: 30, backoffMax: 60 }, [{ ...deviceNode(1) }]),
      'full',
    );
    h = wire();
    await until(() => states(h).some((s) => s.state === 'offline'), 5000, 'offline device');
    const sim0 = sims[0].counters;
    await helper.setFlows([{ id: 'f1', type: 'tab' }], 'full');
    await until(() => sims.every((s) => s.counters.openConnections === 0), 3000, 'connections closed');
    assert.equal(sessionRegistry.size, 0, 'every session released');
    assert.ok(sim0.connections >= 2);
    const excess = await leakedSince(before, 2000);
    assert.deepEqual(excess, {});
  });
});
