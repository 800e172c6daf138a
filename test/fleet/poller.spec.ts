/**
 * FleetPoller on its own (no Node-RED), against simulators over loopback: records in chunks before the cursor
 * moves, unchanged devices not downloaded, failures as status events with one alert per streak, the idle
 * shard, the interval (injected timers: a tick while a cycle runs is dropped), and stop().
 */
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import { ZkSimulator, startSimulators } from '../../lib/sim';
import { DeviceConfig, normaliseDeviceConfig } from '../../lib/device';
import { CursorStore, CycleTotals, FleetPoller, RecordsEvent, StatusEvent } from '../../lib/fleet';
import { checkNoLeaks } from '../support/handles';
import { freePort } from '../../support/ports';
import { until } from '../../support/wait';
import { wallAt } from '../live/support';

/** Timers the test fires by hand. */
function manualTimers() {
  const pending = new Map<number, { fn: () => void; ms: number }>();
  let next = 1;
  return {
    pending,
    set: (fn: () => void, ms: number) => {
      pending.set(next, { fn, ms });
      return next++;
    },
    clear: (h: unknown) => void pending.delete(h as number),
    /** Fires the one pending timer and returns its delay. */
    fire(): number {
      assert.equal(pending.size, 1, 'exactly one timer pending');
      const [id, t] = [...pending][0];
      pending.delete(id);
      t.fn();
      return t.ms;
    },
  };
}

describe('fleet: FleetPoller', function () {
  this.timeout(30000);
  let sims: ZkSimulator[] = [];
  let dir: string;
  let poller: FleetPoller | null = null;

  const configOf = (s: ZkSimulator, name?: string): DeviceConfig =>
    normaliseDeviceConfig({ host: '127.0.0.1', port: s.port, tz: 'UTC', timeoutMs: 2000, name });

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pf-poller-'));
  });

  afterEach(async () => {
    await poller?.stop();
    poller = null;
    await Promise.all(sims.map((s) => s.stop()));
    sims = [];
    fs.rmSync(dir, { recursive: true, force: true });
  });
  checkNoLeaks();

  it("emits each device's records in chunks before its cursor is saved; an unchanged cycle downloads nothing", async () => {
    sims = await startSimulators({ devices: 3, records: 120, users: 5, transports: 'tcp', host: '127.0.0.1' });
    const store = new CursorStore(dir);
    poller = new FleetPoller({ store, fleet: sims.map((s) => configOf(s)), chunkSize: 50, concurrency: 2 });
    const batches: RecordsEvent[] = [];
    const statuses: StatusEvent[] = [];
    const cursorAtEmit: (string | null)[] = [];
    poller.on('records', (e) => {
      batches.push(e);
      cursorAtEmit.push(store.get(String(e.device.serial))?.lastLocalTime ?? null);
    });
    poller.on('status', (e) => statuses.push(e));
    const cycles: CycleTotals[] = [];
    poller.on('cycle', (t) => cycles.push(t));

    const first = await poller.request({ devices: null, dryRun: false, force: false });
    assert.deepEqual([first.ok, first.failed, first.newRecords, first.downloads, first.single], [3, 0, 360, 3, false]);
    assert.deepEqual(
      batches.map((b) => b.records.length),
      [50, 50, 20, 50, 50, 20, 50, 50, 20],
    );
    assert.ok(
      cursorAtEmit.every((c) => c === null),
      'no cursor was saved before the records were handed on',
    );
    const serials = sims.map((s) => s.serial).sort();
    assert.deepEqual([...new Set(batches.map((b) => b.topic))].sort(), serials);
    for (const s of serials) assert.ok(store.get(s)?.lastLocalTime, `cursor of ${s} saved after its records`);
    assert.deepEqual(
      statuses.map((s) => s.status.state),
      ['online', 'online', 'online'],
    );
    assert.deepEqual(
      statuses.map((s) => s.status.newRecords),
      [120, 120, 120],
    );

    sims[1].punch({ userId: sims[1].users[0].userId, at: wallAt(-30) });
    batches.length = 0;
    const second = await poller.request({ devices: null, dryRun: false, force: false });
    assert.deepEqual([second.ok, second.newRecords, second.downloads], [3, 1, 1]);
    assert.deepEqual(
      batches.map((b) => [b.topic, b.records.length]),
      [[sims[1].serial, 1]],
    );
    const third = await poller.request({ devices: null, dryRun: false, force: false });
    assert.deepEqual([third.ok, third.newRecords, third.downloads], [3, 0, 0]);
    assert.deepEqual(cycles, [first, second, third]);
  });

  it('a dry run reports what it would emit and moves no cursor; a window is a backfill', async () => {
    sims = await startSimulators({ devices: 1, records: 30, users: 5, transports: 'tcp', host: '127.0.0.1' });
    const store = new CursorStore(dir);
    poller = new FleetPoller({ store, fleet: [configOf(sims[0])] });
    const batches: RecordsEvent[] = [];
    const statuses: StatusEvent[] = [];
    poller.on('records', (e) => batches.push(e));
    poller.on('status', (e) => statuses.push(e));
    const t = await poller.request({ devices: null, dryRun: true, force: false });
    assert.deepEqual([t.ok, t.newRecords, t.single, t.dryRun], [1, 30, true, true]);
    assert.equal(batches.length, 0);
    assert.equal(statuses[0].wouldEmit?.length, 30);
    assert.equal(store.get(sims[0].serial), null);
    const window = { since: '2000-01-01T00:00:00' };
    const b = await poller.request({ devices: null, dryRun: false, force: true, window });
    assert.equal(b.newRecords, 30);
    assert.equal(batches.flatMap((x) => x.records).length, 30);
    assert.deepEqual(statuses[1].backfill, window);
    assert.equal(store.get(sims[0].serial), null, 'a backfill moves no cursor');
  });

  it('a device that does not answer: offline status naming it, one alert when the streak reaches the limit', async () => {
    sims = await startSimulators({ devices: 1, records: 10, users: 5, transports: 'tcp', host: '127.0.0.1' });
    const dead = normaliseDeviceConfig({
      host: '127.0.0.1',
      port: await freePort(),
      tz: 'UTC',
      timeoutMs: 1000,
      name: 'gate',
    });
    poller = new FleetPoller({ store: new CursorStore(dir), fleet: [configOf(sims[0]), dead], failuresToError: 2 });
    const statuses: StatusEvent[] = [];
    const alerts: string[] = [];
    poller.on('status', (e) => statuses.push(e));
    poller.on('alert', (e) => alerts.push(`${e.name} ${e.status.state} ${e.health.consecutiveFailures}`));
    const totals: CycleTotals[] = [];
    for (let i = 0; i < 3; i++) totals.push(await poller.request({ devices: null, dryRun: false, force: true }));
    assert.deepEqual(
      totals.map((t) => [t.ok, t.failed]),
      [
        [1, 1],
        [1, 1],
        [1, 1],
      ],
    );
    assert.match(totals[0].failures[0], new RegExp(`^gate \\(127\\.0\\.0\\.1:${dead.port}\\): `));
    const deadStates = statuses.filter((s) => s.topic === `127.0.0.1:${dead.port}`).map((s) => s.status.state);
    assert.deepEqual(deadStates, ['offline', 'error', 'error']);
    assert.deepEqual(alerts, [`gate (127.0.0.1:${dead.port}) error 2`]);
    // Without force, the device in backoff is skipped: neither polled nor failed.
    const skipped = await poller.request({ devices: null, dryRun: false, force: false });
    assert.deepEqual([skipped.ok, skipped.failed], [1, 0]);
  });

  it('an empty list is idle when allowed (a shard owning no devices), else a clear error', async () => {
    poller = new FleetPoller({ store: new CursorStore(dir), fleet: [], emptyIsIdle: true });
    let idle = 0;
    poller.on('idle', () => idle++);
    const t = await poller.request({ devices: null, dryRun: false, force: false });
    assert.deepEqual([t.ok, t.failed, idle], [0, 0, 1]);
    const strict = new FleetPoller({ store: new CursorStore(dir), fleet: [] });
    await assert.rejects(
      strict.request({ devices: null, dryRun: false, force: false }),
      /no devices to poll \(the device list is empty/,
    );
    await strict.stop();
  });

  it('the interval: first cycle at once, then every intervalMs; a tick during a running cycle is dropped; stop clears it', async () => {
    sims = await startSimulators({ devices: 1, records: 10, users: 5, transports: 'tcp', host: '127.0.0.1' });
    const timers = manualTimers();
    poller = new FleetPoller({ store: new CursorStore(dir), fleet: [configOf(sims[0])], intervalMs: 60_000, timers });
    const cycles: CycleTotals[] = [];
    poller.on('cycle', (t) => cycles.push(t));
    poller.start();
    poller.start();
    assert.equal(timers.fire(), 0, 'the first cycle starts at once');
    await until(() => cycles.length === 1 && timers.pending.size === 1, 10000, 'first timer cycle');
    assert.equal(cycles[0].newRecords, 10);

    // A device that accepts and never answers holds a requested cycle while the next tick fires: the tick is
    // dropped and rescheduled, not queued behind it.
    const sockets: net.Socket[] = [];
    const silent = net.createServer((c) => sockets.push(c));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const silentPort = (silent.address() as net.AddressInfo).port;
    try {
      const silentCfg = normaliseDeviceConfig({ host: '127.0.0.1', port: silentPort, tz: 'UTC', timeoutMs: 1000 });
      const req = poller.request({ devices: [silentCfg], dryRun: false, force: true });
      await until(() => sockets.length > 0, 10000, 'the requested cycle to connect');
      assert.equal(timers.fire(), 60_000);
      assert.equal(timers.pending.size, 1, 'the dropped tick scheduled the next one');
      const t = await req;
      assert.deepEqual([t.ok, t.failed], [0, 1]);
    } finally {
      for (const c of sockets) c.destroy();
      await new Promise<void>((r) => silent.close(() => r()));
    }
    assert.equal(cycles.length, 2, 'the tick during the request ran no cycle');
    sims[0].punch({ userId: sims[0].users[0].userId, at: wallAt(-30) });
    assert.equal(timers.fire(), 60_000);
    await until(() => cycles.length === 3 && timers.pending.size === 1, 10000, 'second timer cycle');
    assert.deepEqual(
      cycles.map((c) => [c.ok, c.failed, c.newRecords]),
      [
        [1, 0, 10],
        [0, 1, 0],
        [1, 0, 1],
      ],
    );

    await poller.stop();
    assert.equal(timers.pending.size, 0, 'stop cleared the timer');
    await assert.rejects(poller.request({ devices: null, dryRun: false, force: false }), /stopping/);
  });
});
