/**
 * zk-push redeployed under a real Node-RED runtime while simulated push devices (lib/sim push mode, as
 * `zk sim --push` drives them) are uploading: nothing thrown or rejected, the port or httpNode route
 * released and taken again, every record emitted exactly once across the two node instances, and the
 * devices that keep pushing are accepted by the new node.
 */
import { strict as assert } from 'assert';
import * as http from 'http';
import type { EventEmitter } from 'events';
import type { NodeMessage } from 'node-red';
import { parseAttlogLine } from '../../lib/push/attlog';
import type { AttendanceRecord } from '../../lib/record';
import { instantToWallClock } from '../../lib/record/zone';
import { attlogLine, PushDevice } from '../../lib/sim/push-device';
import { startPushDevices } from '../../lib/sim/push-fleet';
import { checkNoLeaks } from '../support/handles';
import { helper, removeDir, useNodeRedServer } from '../support/node-red';
import { until } from '../../support/wait';
import { devices, send, startPush } from './support';
import { RedPush } from './support/red';
import { freePort } from '../../support/ports';

type FlowNode = Record<string, unknown> & { id: string; type: string };

const SERIALS = ['PFSIM0001', 'PFSIM0002', 'PFSIM0003'];

function flow(push: Record<string, unknown>): FlowNode[] {
  return [
    { id: 'f1', type: 'tab' },
    {
      id: 'p1',
      z: 'f1',
      type: 'zk-push',
      delay: 1,
      errorDelay: 1,
      devices: SERIALS.join('\n'),
      tz: 'UTC',
      wires: [['rec'], ['ev']],
      ...push,
    },
    { id: 'rec', z: 'f1', type: 'helper' },
    { id: 'ev', z: 'f1', type: 'helper' },
  ];
}

/**
 * Record ids the zk-push node instance now deployed sends on output 1: every node.send, whatever happens
 * downstream (the test helper emits `call:send` on a node for each send). Attached right after the deploy
 * resolves: the node sends nothing before its journal is open, which takes file I/O.
 */
function sentIds(into: string[]): void {
  (helper.getNode('p1') as unknown as EventEmitter).on('call:send', (call: { args: unknown[] }) => {
    const [records] = call.args[0] as Array<NodeMessage | null>;
    if (records) for (const r of records.payload as AttendanceRecord[]) into.push(r.id);
  });
}

/** The ids the server gives a device's records: the server's own parser on the lines the device sends. */
function idsOf(d: PushDevice): string[] {
  return d.records.map((r) => {
    const out = parseAttlogLine(attlogLine(r), { deviceSn: d.serial, tz: d.tz, source: 'push' });
    if (!out.ok) throw new Error(`simulated record refused: ${out.reason}`);
    return out.record.id;
  });
}

function duplicates(ids: string[]): string[] {
  const seen = new Set<string>();
  return ids.filter((id) => seen.has(id) || (seen.add(id), false));
}

/** zk-push log lines at warn or error level (Node-RED levels: 20 error, 30 warn). */
function pushWarnings(): string[] {
  const calls = helper.log().args as unknown[][];
  return calls
    .map((c) => c[0] as { level?: number; type?: string; msg?: unknown })
    .filter((m) => m.type === 'zk-push' && (m.level ?? 99) <= 30)
    .map((m) => String(m.msg));
}

async function portIsFree(port: number): Promise<boolean> {
  const s = http.createServer();
  const ok = await new Promise<boolean>((resolve) => {
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => resolve(true));
  });
  if (ok) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
  return ok;
}

describe('zk-push redeploy under Node-RED', function () {
  this.timeout(10000);
  const red = new RedPush();
  const stops: Array<() => Promise<void>> = [];
  const problems: unknown[] = [];
  const onProblem = (reason: unknown): void => void problems.push(reason);
  useNodeRedServer(async () => {
    await Promise.all(stops.splice(0).map((s) => s()));
    await red.close();
  });
  beforeEach(() => {
    problems.length = 0;
    process.on('unhandledRejection', onProblem);
    process.on('uncaughtException', onProblem);
  });
  afterEach(() => {
    process.off('unhandledRejection', onProblem);
    process.off('uncaughtException', onProblem);
  });
  checkNoLeaks();

  interface Outcome {
    url: string;
    /** Record ids the first node instance sent, and the ids the one after the redeploy sent. */
    before: string[];
    after: string[];
    devices: PushDevice[];
  }

  /** Loads v1, lets three devices upload, redeploys as v2 mid-upload, has the devices punch more, waits for all. */
  async function redeployWhileUploading(
    where: 'port' | 'node',
    v1: Record<string, unknown>,
    v2: Record<string, unknown>,
  ): Promise<Outcome> {
    red.watchServers();
    await helper.load([red.register], flow(v1));
    const before: string[] = [];
    sentIds(before);
    await until(() => red.servers.length === 1, 5000, 'the first node serving');
    const url = where === 'port' ? `http://127.0.0.1:${String(v1.port)}` : await red.serveHttpNode();
    const fleet = await startPushDevices(
      {
        url,
        devices: SERIALS.length,
        records: 1500,
        users: 20,
        seed: 11,
        batchSize: 10,
        pollMs: 20,
        errorDelayMs: 20,
        tz: 'UTC',
      },
      5000,
    );
    stops.push(fleet.stop);
    await until(() => before.length >= 300, 8000, 'the first node emitting');
    assert.ok(
      fleet.devices.some((d) => d.acked < d.records.length),
      'the redeploy comes while devices are still uploading',
    );

    await helper.setFlows(flow(v2), 'full');
    const after: string[] = [];
    sentIds(after);
    await until(() => red.servers.length === 2, 5000, 'the new node serving');
    // The devices keep punching after the redeploy (distinct users and seconds: distinct ids).
    fleet.devices.forEach((d, i) => {
      for (let k = 0; k < 3; k++) d.punch(d.users[k].userId, instantToWallClock(Date.now() + (i * 3 + k) * 1000, d.tz));
    });
    await until(() => fleet.devices.every((d) => d.acked === d.records.length), 8000, 'every record acknowledged');
    const expected = fleet.devices.flatMap(idsOf);
    // The journal hands entries on in order: once the last punches are out, nothing journaled earlier is still to come.
    await until(
      () => {
        const out = new Set([...before, ...after]);
        return expected.every((id) => out.has(id));
      },
      8000,
      'every record emitted',
    );
    return { url, before, after, devices: fleet.devices };
  }

  function assertExactlyOnce(before: string[], after: string[], devs: PushDevice[]): void {
    const expected = devs.flatMap(idsOf);
    assert.equal(new Set(expected).size, expected.length, 'the simulated records have distinct ids');
    assert.ok(before.length > 0 && after.length > 0, 'both node instances emitted');
    assert.deepEqual(duplicates(before), [], 'nothing emitted twice before the redeploy');
    assert.deepEqual(duplicates(after), [], 'nothing emitted twice after the redeploy');
    const old = new Set(before);
    assert.deepEqual(
      after.filter((id) => old.has(id)),
      [],
      'nothing emitted before the redeploy is emitted again after it',
    );
    assert.deepEqual([...before, ...after].sort(), [...expected].sort(), 'every record of every device, none lost');
    for (const d of devs) {
      const last = idsOf(d).slice(-3);
      assert.ok(
        last.every((id) => after.includes(id)),
        `${d.serial}: the punches made after the redeploy came through the new node`,
      );
    }
  }

  it('on its own port: the port is released and bound again, nothing thrown, every record exactly once', async () => {
    const port = await freePort();
    const listen = { listen: 'port', port, host: '127.0.0.1' };
    const {
      url,
      before,
      after,
      devices: devs,
    } = await redeployWhileUploading('port', { ...listen, name: 'v1' }, { ...listen, name: 'v2' });
    assertExactlyOnce(before, after, devs);
    assert.deepEqual(problems, [], 'no unhandled rejection or uncaught exception');
    assert.deepEqual(pushWarnings(), []);
    assert.equal(
      (await send(url, 'GET', '/iclock/cdata?SN=PFSIM0001&options=all')).status,
      200,
      'the new node holds the port',
    );
    // Deleting the node releases the port.
    await helper.setFlows([{ id: 'f1', type: 'tab' }], 'full');
    assert.equal(await portIsFree(port), true, 'port released after the node is deleted');
  });

  it("on Node-RED's HTTP server: the route is released and mounted again, nothing thrown, every record exactly once", async () => {
    const { url, before, after, devices: devs } = await redeployWhileUploading('node', { name: 'v1' }, { name: 'v2' });
    assertExactlyOnce(before, after, devs);
    assert.deepEqual(problems, [], 'no unhandled rejection or uncaught exception');
    assert.deepEqual(pushWarnings(), []);
    assert.equal((await send(url, 'GET', '/iclock/cdata?SN=PFSIM0001&options=all')).status, 200);
    // A redeploy with a setting the node refuses: said on the node, nothing thrown, the old route released.
    await helper.setFlows(flow({ name: 'v3', tz: 'Mars/Base' }), 'full');
    await until(() => pushWarnings().length > 0, 5000, 'the error on the node');
    assert.match(pushWarnings().join('\n'), /Mars\/Base.*IANA/);
    assert.equal((await send(url, 'GET', '/iclock/cdata?SN=PFSIM0001&options=all')).status, 404);
    assert.deepEqual(problems, []);
  });
});

describe('push listener close (what a redeploy on its own port does)', function () {
  this.timeout(10000);
  checkNoLeaks();

  it('a post whose journal write is under way when the listener closes still gets its OK, and its connection is closed after it', async () => {
    let entered = false;
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => (release = r));
    const run = await startPush(
      { devices: devices('G1') },
      {
        wrap: (j) => ({
          append: async (e) => {
            entered = true;
            await gate;
            return j.append(e);
          },
        }),
      },
    );
    const agent = new http.Agent({ keepAlive: true });
    try {
      const reply = new Promise<{ status: number; body: string; connection: string | undefined }>((resolve, reject) => {
        const body = '1001\t2026-04-01 08:00:00\t0\t1\n';
        const req = http.request(
          `${run.url}/iclock/cdata?SN=G1&table=ATTLOG&Stamp=1`,
          {
            method: 'POST',
            agent,
            headers: { 'Content-Type': 'text/plain', 'Content-Length': Buffer.byteLength(body) },
          },
          (res) => {
            let text = '';
            res.on('data', (c: Buffer) => (text += c.toString()));
            res.on('end', () =>
              resolve({ status: res.statusCode ?? 0, body: text, connection: res.headers.connection }),
            );
            res.on('error', reject);
          },
        );
        req.on('error', reject);
        req.end(body);
      });
      await until(() => entered, 5000, 'the journal write under way');
      const closed = run.listener.close();
      release();
      assert.deepEqual(await reply, { status: 200, body: 'OK', connection: 'close' });
      await closed;
      await until(() => run.seen.entries.length === 1, 5000, 'the journaled post handed on');
      assert.deepEqual(
        run.seen.entries[0].records.map((r) => r.id),
        ['G1|1001|2026-04-01T08:00:00'],
      );
      await assert.rejects(
        send(run.url, 'GET', '/iclock/cdata?SN=G1&options=all'),
        /ECONNREFUSED/,
        'the port is released',
      );
    } finally {
      release();
      agent.destroy();
      await run.close();
      removeDir(run.dir);
    }
  });
});
