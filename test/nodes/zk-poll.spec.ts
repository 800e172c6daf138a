/**
 * zk-poll in Node-RED (node-red-node-test-helper) against simulators over loopback sockets: a single device,
 * a fleet of 50, cursors across redeploy and restart, unchanged devices, backfill, a wrong comm key, and
 * nothing left behind after a redeploy or delete.
 */
import { strict as assert } from 'assert';
import type { EventEmitter } from 'events';
import { helper, useNodeRedServer } from '../support/node-red';
import type { NodeMessage } from 'node-red';
import zkDevice from '../../nodes/zk-device/zk-device';
import zkPoll from '../../nodes/zk-poll/zk-poll';
import { ZkSimulator, startSimulators } from '../../lib/sim';
import type { AttendanceRecord, DeviceStatusEvent } from '../../lib/record';
import { formatWallClock } from '../../lib/protocol';
import { resourceCounts, leakedSince } from '../support/handles';
import { until } from '../../support/wait';

type Msg = NodeMessage & {
  payload: unknown;
  device?: { serial: string };
  alert?: boolean;
  dryRun?: boolean;
  wouldEmit?: AttendanceRecord[];
  error?: { message: string };
};
type FlowNode = Record<string, unknown> & { id: string; type: string };

interface Harness {
  records: Msg[];
  status: Msg[];
  caught: Msg[];
  /** Sends a message to p1 and resolves when its poll finished (Complete or Catch node fired). */
  poll(payload?: unknown, extra?: Record<string, unknown>): Promise<Msg>;
}

function wire(): Harness {
  const h: Harness = { records: [], status: [], caught: [], poll: async () => ({}) as Msg };
  const ends: Msg[] = [];
  // The typings only know 'close' on nodes; helper nodes emit 'input' like any node.
  const on = (id: string, fn: (m: Msg) => void) => (helper.getNode(id) as unknown as EventEmitter).on('input', fn);
  on('out', (m) => h.records.push(m));
  on('st', (m) => h.status.push(m));
  on('caught', (m) => {
    h.caught.push(m);
    ends.push(m);
  });
  on('completed', (m) => ends.push(m));
  h.poll = async (payload = 'go', extra = {}) => {
    const before = ends.length;
    helper.getNode('p1').receive({ payload, ...extra } as NodeMessage);
    await until(() => ends.length > before, 20000);
    return ends[before];
  };
  return h;
}

function flow(poll: Record<string, unknown>, devices: FlowNode[] = []): FlowNode[] {
  return [
    { id: 'f1', type: 'tab', label: 't' },
    ...devices,
    { id: 'p1', type: 'zk-poll', z: 'f1', name: '', interval: 0, wires: [['out'], ['st']], ...poll },
    { id: 'out', type: 'helper', z: 'f1' },
    { id: 'st', type: 'helper', z: 'f1' },
    { id: 'c1', type: 'catch', z: 'f1', scope: ['p1'], uncaught: false, wires: [['caught']] },
    { id: 'caught', type: 'helper', z: 'f1' },
    { id: 'cp', type: 'complete', z: 'f1', scope: ['p1'], uncaught: false, wires: [['completed']] },
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

const allRecords = (h: Harness) => h.records.flatMap((m) => m.payload as AttendanceRecord[]);
const deviceStatus = (h: Harness) =>
  h.status.filter((m) => m.topic !== 'alert' && m.topic !== 'anomaly').map((m) => m.payload as DeviceStatusEvent);
const wall = (s: string) => {
  const m = /^(\d+)-(\d+)-(\d+)T(\d+):(\d+):(\d+)$/.exec(s)!;
  return { year: +m[1], month: +m[2], day: +m[3], hour: +m[4], minute: +m[5], second: +m[6] };
};
const recent = (sec: number) => new Date(Date.now() - 50_000 + sec * 1000).toISOString().slice(0, 19);

describe('zk-poll node', function () {
  this.timeout(60000);
  let sims: ZkSimulator[] = [];
  useNodeRedServer(async () => {
    await Promise.all(sims.map((s) => s.stop()));
    sims = [];
  });

  it('single device: emits the log in chunks, then only new punches; unchanged → no download', async () => {
    const sim = new ZkSimulator({ port: 0, records: 1200, users: 10, seed: 3, transports: 'tcp' });
    sims = [sim];
    const { port } = await sim.start();
    await helper.load([zkDevice, zkPoll], flow({ mode: 'device', device: 'dev', chunkSize: 500 }, [deviceNode(port)]));
    const h = wire();
    await h.poll();
    assert.deepEqual(
      h.records.map((m) => (m.payload as unknown[]).length),
      [500, 500, 200],
    );
    assert.equal(h.records[0].topic, sim.serial);
    assert.equal(h.records[0].device?.serial, sim.serial);
    assert.deepEqual(
      allRecords(h).map((r) => r.localTime),
      sim.records.map((r) => formatWallClock(r.time)),
    );
    const st = deviceStatus(h);
    assert.deepEqual(
      [st[0].state, st[0].newRecords, st[0].records, st[0].deviceSn],
      ['online', 1200, 1200, sim.serial],
    );

    const downloads = sim.counters.downloads;
    await h.poll();
    assert.equal(sim.counters.downloads, downloads, 'unchanged count: no download');
    assert.equal(h.records.length, 3);

    const t = recent(1); // once: a second boundary may pass during the poll
    sim.punch({ userId: sim.users[0].userId, at: wall(t) });
    await h.poll();
    assert.equal(h.records.length, 4);
    assert.deepEqual(
      (h.records[3].payload as AttendanceRecord[]).map((r) => r.localTime),
      [t],
    );
    assert.equal(h.caught.length, 0);
  });

  it('a fleet of 50 simulators: every record once, unchanged devices not downloaded, cursor survives redeploy and restart', async () => {
    sims = await startSimulators({ devices: 50, records: 200, users: 10, transports: 'tcp' });
    const fleet = JSON.stringify(sims.map((s, i) => ({ host: '127.0.0.1', port: s.port, name: `branch ${i + 1}` })));
    const pollNode = { mode: 'list', fleet, tz: 'UTC', timeout: 3000, concurrency: 16 };
    await helper.load([zkPoll], flow(pollNode));
    let h = wire();
    await h.poll();
    assert.equal(h.caught.length, 0, JSON.stringify(h.caught.map((m) => m.error)));
    const first = allRecords(h);
    assert.equal(first.length, 50 * 200);
    assert.equal(new Set(first.map((r) => r.id)).size, 50 * 200);
    assert.equal(deviceStatus(h).length, 50);

    // Five devices get new punches; the other 45 must not be downloaded again.
    const downloadsBefore = sims.map((s) => s.counters.downloads);
    for (const s of sims.slice(0, 5)) s.punch({ userId: s.users[0].userId, at: wall(recent(2)) });
    await h.poll();
    const second = allRecords(h).slice(first.length);
    assert.equal(second.length, 5);
    sims.forEach((s, i) => assert.equal(s.counters.downloads - downloadsBefore[i], i < 5 ? 1 : 0, `device ${i}`));

    // Redeploy (full): a new node instance reads the saved cursors.
    await helper.setFlows(flow({ ...pollNode, name: 'changed' }), 'full');
    h = wire();
    for (const s of sims.slice(5, 8)) s.punch({ userId: s.users[1].userId, at: wall(recent(3)) });
    await h.poll();
    assert.deepEqual(
      allRecords(h)
        .map((r) => r.deviceSn)
        .sort(),
      sims
        .slice(5, 8)
        .map((s) => s.serial)
        .sort(),
    );

    // Restart: unload and load again with the same user directory.
    await helper.unload();
    for (const s of sims.slice(8, 10)) s.punch({ userId: s.users[2].userId, at: wall(recent(4)) });
    await helper.load([zkPoll], flow({ ...pollNode, name: 'changed' }));
    h = wire();
    await h.poll();
    assert.deepEqual(
      allRecords(h)
        .map((r) => r.deviceSn)
        .sort(),
      sims
        .slice(8, 10)
        .map((s) => s.serial)
        .sort(),
    );
    await h.poll();
    assert.equal(allRecords(h).length, 2, 'nothing repeated');
  });

  it('backfill {since, until} re-fetches a window without moving the cursor; dryRun sends nothing', async () => {
    const sim = new ZkSimulator({ port: 0, records: 300, users: 10, seed: 4, transports: 'tcp' });
    sims = [sim];
    const { port } = await sim.start();
    await helper.load([zkDevice, zkPoll], flow({ mode: 'device', device: 'dev' }, [deviceNode(port)]));
    const h = wire();
    await h.poll();
    const all = allRecords(h);
    const since = all[10].localTime;
    const until = all[19].localTime;
    await h.poll({ since, until });
    const back = allRecords(h).slice(all.length);
    assert.deepEqual(
      back.map((r) => r.id),
      all.slice(10, 20).map((r) => r.id),
    );
    const t5 = recent(5);
    sim.punch({ userId: sim.users[0].userId, at: wall(t5) });
    await h.poll({ dryRun: true });
    const dry = h.status[h.status.length - 1];
    assert.equal(dry.dryRun, true);
    assert.equal(dry.wouldEmit?.length, 1);
    assert.equal(allRecords(h).length, all.length + 10, 'dry run sent no records');
    await h.poll();
    assert.deepEqual(
      allRecords(h)
        .slice(all.length + 10)
        .map((r) => r.localTime),
      [t5],
      'the cursor did not move in backfill or dry run',
    );
    const bad = await h.poll({ since: 'last tuesday' });
    assert.match(bad.error?.message ?? '', /since "last tuesday"/);
  });

  it('a wrong comm key on one device: clear error for it, the others unaffected; one alert after N failures', async () => {
    sims = await startSimulators({ devices: 3, records: 50, users: 5, transports: 'tcp', commKey: 4321 });
    const fleet =
      'host,port,name,commKey\n' + sims.map((s, i) => `127.0.0.1,${s.port},b${i},${i === 1 ? 1111 : ''}`).join('\n');
    await helper.load([zkPoll], flow({ mode: 'list', fleet, tz: 'UTC', timeout: 2000, failuresToError: 2 }), {
      p1: { commKey: '4321' },
    });
    const h = wire();
    const end = await h.poll('go', { payload: { force: true } });
    assert.match(end.error?.message ?? '', /1 of 3 device\(s\) failed: b1 \(127\.0\.0\.1:\d+\): .*comm key/i);
    assert.equal(allRecords(h).length, 100);
    const st = deviceStatus(h);
    const bad = st.find((s) => s.deviceHost === `127.0.0.1:${sims[1].port}`)!;
    assert.equal(bad.state, 'error');
    assert.match(bad.lastError ?? '', /comm key/i);
    assert.equal(st.filter((s) => s.state === 'online').length, 2);
    await h.poll({ force: true });
    await h.poll({ force: true });
    assert.equal(h.status.filter((m) => m.alert === true).length, 1, 'one alert per failure streak');
  });

  it('a configuration error reaches Catch nodes (with a msg, once the flow runs), so a dashboard can list it', async () => {
    await helper.load([zkDevice, zkPoll], flow({ mode: 'list', fleet: '${PUNCHFLOW_FLEET}' }));
    const h = wire();
    await until(() => h.caught.length >= 1, 5000, 'the caught configuration error');
    const m = h.caught[0] as Msg & { error?: { message: string; source: { id: string } } };
    assert.equal(m.topic, 'config');
    assert.equal(m.error?.source.id, 'p1');
    assert.match(m.error?.message ?? '', /^zk-poll p1: .*PUNCHFLOW_FLEET/);
  });

  it('redeploy and delete leave no sockets, timers or listeners', async () => {
    sims = await startSimulators({ devices: 2, records: 100, users: 5, transports: 'tcp' });
    const before = resourceCounts();
    const fleetFlow = flow({
      mode: 'list',
      fleet: sims.map((s) => `host,port\n127.0.0.1,${s.port}`)[0] + `\n127.0.0.1,${sims[1].port}`,
      tz: 'UTC',
      interval: 1,
    });
    await helper.load([zkDevice, zkPoll], [...fleetFlow, deviceNode(sims[0].port)]);
    let h = wire();
    await h.poll();
    await until(() => sims.every((s) => s.counters.connections >= 2), 5000); // the interval timer polled too
    await helper.setFlows(
      [...fleetFlow.map((n) => (n.id === 'p1' ? { ...n, name: 'v2' } : n)), deviceNode(sims[0].port)],
      'full',
    );
    h = wire();
    await h.poll();
    // Single-device mode through the config node, then delete everything.
    await helper.setFlows(flow({ mode: 'device', device: 'dev', interval: 1 }, [deviceNode(sims[0].port)]), 'full');
    h = wire();
    await h.poll();
    assert.equal(h.caught.length, 0);
    await helper.setFlows([{ id: 'f1', type: 'tab' }], 'full');
    await until(() => sims.every((s) => s.counters.openConnections === 0), 3000);
    const excess = await leakedSince(before, 2000);
    assert.deepEqual(excess, {});
  });
});
