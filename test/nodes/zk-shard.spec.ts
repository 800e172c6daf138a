/**
 * The shard setting in Node-RED: two zk-poll nodes with shards 0/2 and 1/2 over the same fleet of
 * simulators emit disjoint sets of devices whose union is the whole fleet, each exactly the devices
 * lib/fleet/shard assigns it; zk-live connects only to its own shard's devices; typos are config errors.
 */
import { strict as assert } from 'assert';
import type { EventEmitter } from 'events';
import { helper, useNodeRedServer } from '../support/node-red';
import type { NodeMessage } from 'node-red';
import zkPoll from '../../nodes/zk-poll/zk-poll';
import zkLive from '../../nodes/zk-live/zk-live';
import { ZkSimulator, startSimulators } from '../../lib/sim';
import { shardKey, shardOf } from '../../lib/fleet';
import type { AttendanceRecord, DeviceStatusEvent } from '../../lib/record';
import { sleep, until } from '../../support/wait';

type Msg = NodeMessage & { payload: unknown; error?: { message: string } };
type FlowNode = Record<string, unknown> & { id: string; type: string };
const nodes = (list: FlowNode[]): FlowNode[] => list;
const on = (id: string, fn: (m: Msg) => void) => (helper.getNode(id) as unknown as EventEmitter).on('input', fn);

describe('fleet sharding in zk-poll and zk-live', function () {
  this.timeout(60000);
  let sims: ZkSimulator[] = [];
  useNodeRedServer(async () => {
    await Promise.all(sims.map((s) => s.stop()));
    sims = [];
  });

  it('two zk-poll nodes, shards 0/2 and 1/2: disjoint devices, union = the whole fleet', async () => {
    sims = await startSimulators({ devices: 8, records: 30, users: 5, transports: 'tcp' });
    const fleet = 'host,port,name\n' + sims.map((s, i) => `127.0.0.1,${s.port},door ${i}`).join('\n');
    const poll = (id: string, shard: string, out: string) => ({
      id,
      type: 'zk-poll',
      z: 'f1',
      mode: 'list',
      fleet,
      tz: 'UTC',
      timeout: 3000,
      interval: 0,
      shard,
      wires: [[out], []],
    });
    await helper.load(
      [zkPoll],
      nodes([
        { id: 'f1', type: 'tab', label: 't' },
        poll('p0', '0/2', 'out0'),
        poll('p1', '1 of 2', 'out1'),
        { id: 'out0', type: 'helper', z: 'f1' },
        { id: 'out1', type: 'helper', z: 'f1' },
        { id: 'cp', type: 'complete', z: 'f1', scope: ['p0', 'p1'], uncaught: false, wires: [['ends']] },
        { id: 'c1', type: 'catch', z: 'f1', scope: ['p0', 'p1'], uncaught: false, wires: [['ends']] },
        { id: 'ends', type: 'helper', z: 'f1' },
      ]),
    );
    const got: Record<string, AttendanceRecord[]> = { out0: [], out1: [] };
    on('out0', (m) => got.out0.push(...(m.payload as AttendanceRecord[])));
    on('out1', (m) => got.out1.push(...(m.payload as AttendanceRecord[])));
    const ends: Msg[] = [];
    on('ends', (m) => ends.push(m));
    helper.getNode('p0').receive({ payload: 'go' } as NodeMessage);
    helper.getNode('p1').receive({ payload: 'go' } as NodeMessage);
    await until(() => ends.length === 2);
    assert.deepEqual(
      ends.map((m) => m.error),
      [undefined, undefined],
    );

    const serials = (list: AttendanceRecord[]) => [...new Set(list.map((r) => r.deviceSn))].sort();
    const s0 = serials(got.out0);
    const s1 = serials(got.out1);
    assert.deepEqual(
      s0.filter((s) => s1.includes(s)),
      [],
      'no device in both shards',
    );
    assert.deepEqual([...s0, ...s1].sort(), sims.map((s) => s.serial).sort(), 'every device in one shard');
    // Each node got exactly the devices the pure function assigns it (by host:port), with all their records.
    const expected = (i: number) =>
      sims
        .filter((s) => shardOf(shardKey({ host: '127.0.0.1', port: s.port }), 2) === i)
        .map((s) => s.serial)
        .sort();
    assert.deepEqual([s0, s1], [expected(0), expected(1)]);
    assert.equal(got.out0.length + got.out1.length, 8 * 30);
    // Devices outside a node's shard were never contacted by it: each device was downloaded once in all.
    assert.deepEqual(
      sims.map((s) => s.counters.downloads),
      sims.map(() => 1),
    );
  });

  it('zk-live keeps only its shard; a shard with no devices is grey, not an error', async () => {
    sims = await startSimulators({ devices: 6, records: 5, users: 5, transports: 'tcp' });
    const fleet = JSON.stringify(sims.map((s) => ({ host: '127.0.0.1', port: s.port })));
    const mine = sims.filter((s) => shardOf(shardKey({ host: '127.0.0.1', port: s.port }), 3) === 2);
    await helper.load(
      [zkLive, zkPoll],
      nodes([
        { id: 'f1', type: 'tab', label: 't' },
        {
          id: 'l1',
          type: 'zk-live',
          z: 'f1',
          mode: 'list',
          fleet,
          tz: 'UTC',
          timeout: 3000,
          shard: '2/3',
          wires: [[], ['st']],
        },
        // A one-device fleet and a shard chosen to be any but the device's own: this node owns nothing.
        {
          id: 'p9',
          type: 'zk-poll',
          z: 'f1',
          mode: 'list',
          fleet: 'host,port\n127.0.0.1,1',
          interval: 0,
          shard: `${(shardOf('127.0.0.1:1', 1024) + 1) % 1024}/1024`,
          wires: [[], []],
        },
        { id: 'st', type: 'helper', z: 'f1' },
      ]),
    );
    const status: DeviceStatusEvent[] = [];
    on('st', (m) => status.push(m.payload as DeviceStatusEvent));
    await until(
      () => new Set(status.filter((s) => s.state === 'online').map((s) => s.deviceHost)).size === mine.length,
    );
    // Devices outside the shard must never show up: nothing to wait for; zk-live opens all its devices at once.
    await sleep(200);
    assert.deepEqual(
      [...new Set(status.map((s) => s.deviceHost))].sort(),
      mine.map((s) => `127.0.0.1:${s.port}`).sort(),
    );

    const p9 = helper.getNode('p9') as unknown as EventEmitter;
    const statuses: { fill?: string; text?: string }[] = [];
    p9.on('call:status', (c: { args: [{ fill?: string; text?: string }] }) => statuses.push(c.args[0]));
    const errors: unknown[] = [];
    p9.on('call:error', (c: unknown) => errors.push(c));
    helper.getNode('p9').receive({ payload: 'go' } as NodeMessage);
    await until(() => statuses.length > 0);
    assert.match(statuses[statuses.length - 1].text ?? '', /^shard \d+\/1024: no devices$/);
    assert.deepEqual(errors, []);
  });

  it('a mistyped shard is a configuration error naming the setting', async () => {
    await helper.load(
      [zkPoll],
      nodes([
        { id: 'f1', type: 'tab', label: 't' },
        {
          id: 'p1',
          type: 'zk-poll',
          z: 'f1',
          mode: 'list',
          fleet: 'host\n127.0.0.1',
          interval: 0,
          shard: '2/2',
          wires: [[], []],
        },
        { id: 'c1', type: 'catch', z: 'f1', scope: ['p1'], uncaught: false, wires: [['caught']] },
        { id: 'caught', type: 'helper', z: 'f1' },
      ]),
    );
    const caught: Msg[] = [];
    on('caught', (m) => caught.push(m));
    // Said once when the flows start (a Catch node sees it), and again for a message that asks for a poll.
    await until(() => caught.length === 1, 20000, 'the error at start');
    helper.getNode('p1').receive({ payload: 'go' } as NodeMessage);
    await until(() => caught.length === 2, 20000, 'the error for the message');
    for (const c of caught) assert.match(c.error?.message ?? '', /shard "2\/2": shards count from 0/);
  });
});
