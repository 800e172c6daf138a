import { strict as assert } from 'assert';
import { spawn } from 'child_process';
import * as http from 'http';
import type { AddressInfo } from 'net';
import * as path from 'path';
import type { Node, NodeAPI, NodeMessage } from 'node-red';
import { helper, useTempUserDir, removeDir } from '../support/node-red';
import { canConnect, freePort } from '../../support/ports';
import zkPush = require('../../nodes/zk-push/zk-push');
import zkDedupe = require('../../nodes/zk-dedupe/zk-dedupe');
import { pushNodeSettings } from '../../nodes/zk-push/push-config';
import { PushDevice } from '../../lib/sim/push-device';
import type { AttendanceRecord } from '../../lib/record';
import { checkNoLeaks } from '../support/handles';
import { until } from '../../support/wait';

interface Got {
  records: NodeMessage[];
  events: NodeMessage[];
  fresh: NodeMessage[];
  dups: NodeMessage[];
  caught: NodeMessage[];
}

type RequestListener = (req: http.IncomingMessage, res: http.ServerResponse) => void;

describe('zk-push node', function () {
  this.timeout(30000);
  let dir: string;
  let httpNode: RequestListener | null = null;
  let front: http.Server | null = null;
  const devicesToStop: PushDevice[] = [];
  // Captures RED.httpNode, which the test helper does not serve: the spec serves it on its own loopback server.
  const capture = (RED: NodeAPI): void => {
    httpNode = RED.httpNode as unknown as RequestListener;
    zkPush(RED);
  };

  beforeEach(async () => {
    dir = useTempUserDir();
    await helper.startServer();
  });
  afterEach(async () => {
    await Promise.all(devicesToStop.splice(0).map((d) => d.stop()));
    if (front) {
      front.closeAllConnections();
      await new Promise((r) => front!.close(r));
      front = null;
    }
    await helper.unload();
    await helper.stopServer();
    removeDir(dir);
  });
  checkNoLeaks();

  const flow = (push: Record<string, unknown>, withDedupe = false) => [
    { id: 'f1', type: 'tab' },
    {
      id: 'p1',
      z: 'f1',
      type: 'zk-push',
      delay: 1,
      errorDelay: 1,
      devices: 'PN1,Front door,Mumbai,Asia/Kolkata\nPN2',
      tz: 'UTC',
      wires: [withDedupe ? ['d1', 'rec'] : ['rec'], ['ev']],
      ...push,
    },
    { id: 'rec', z: 'f1', type: 'helper' },
    { id: 'ev', z: 'f1', type: 'helper' },
    ...(withDedupe
      ? [
          { id: 'd1', z: 'f1', type: 'zk-dedupe', wires: [['fresh'], ['dups']] },
          { id: 'fresh', z: 'f1', type: 'helper' },
          { id: 'dups', z: 'f1', type: 'helper' },
        ]
      : []),
    { id: 'c1', z: 'f1', type: 'catch', scope: ['p1'], wires: [['caught']] },
    { id: 'caught', z: 'f1', type: 'helper' },
  ];

  async function load(
    push: Record<string, unknown> = {},
    withDedupe = false,
    creds: Record<string, unknown> = {},
  ): Promise<Got> {
    helper.settings({ userDir: dir });
    await helper.load(withDedupe ? [capture, zkDedupe] : [capture], flow(push, withDedupe), { p1: creds });
    const got: Got = { records: [], events: [], fresh: [], dups: [], caught: [] };
    const on = (id: string, list: NodeMessage[]) =>
      (helper.getNode(id) as Node | null)?.on('input', (m: NodeMessage) => list.push(m));
    on('rec', got.records);
    on('ev', got.events);
    on('fresh', got.fresh);
    on('dups', got.dups);
    on('caught', got.caught);
    return got;
  }

  async function serveHttpNode(): Promise<string> {
    const app = httpNode;
    assert.ok(app, 'RED.httpNode captured');
    front = http.createServer((req, res) => app(req, res));
    await new Promise<void>((r) => front!.listen(0, '127.0.0.1', r));
    return `http://127.0.0.1:${(front.address() as AddressInfo).port}`;
  }

  const device = (
    url: string,
    serial: string,
    records: number,
    extra: Partial<ConstructorParameters<typeof PushDevice>[0]> = {},
  ): PushDevice => {
    const d = new PushDevice({
      url,
      serial,
      records,
      users: 8,
      batchSize: 50,
      pollMs: 50,
      errorDelayMs: 50,
      tz: 'Asia/Kolkata',
      ...extra,
    });
    devicesToStop.push(d);
    d.start();
    return d;
  };

  const recordsOf = (msgs: NodeMessage[]): AttendanceRecord[] => msgs.flatMap((m) => m.payload as AttendanceRecord[]);

  it("on Node-RED's HTTP server under /iclock: records per post on output 1 with the device zone and site, status events on output 2", async () => {
    const got = await load();
    const url = await serveHttpNode(); // devices retry a 404 (routes not mounted yet) after errorDelayMs
    const d = device(url, 'PN1', 120);
    await until(() => recordsOf(got.records).length === 120, 15000, '120 records');
    assert.equal(got.records.length, 3, 'one message per post (batches of 50)');
    const first = got.records[0];
    assert.equal(first.topic, 'PN1');
    const r = (first.payload as AttendanceRecord[])[0];
    assert.deepEqual(
      [r.source, r.deviceHost, r.tz, r.site, r.deviceName],
      ['push', null, 'Asia/Kolkata', 'Mumbai', 'Front door'],
    );
    assert.equal(d.options?.timeZone, '330');
    const statuses = got.events.filter((m) => m.topic === 'PN1');
    assert.ok(statuses.length >= 1);
    const last = statuses.at(-1)!.payload as { state: string; push: { posts: number; records: number } };
    assert.equal(last.state, 'online');
    assert.equal(last.push.records, 120);
    // Other httpNode paths are not taken.
    const other = await new Promise<number>((resolve) =>
      http.get(`${url}/something-else`, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      }),
    );
    assert.equal(other, 404);
  });

  it('a post with a control character in one PIN: OK, the good line on output 1, the bad one on output 2 as an anomaly', async () => {
    const got = await load();
    const url = await serveHttpNode();
    const body = 'A1\t2025-08-03 09:00:00\t0\t1\t0\t0\t0\nBAD\u0001PIN\t2025-08-03 09:00:30\t0\t1\t0\t0\t0\n';
    const post = (): Promise<[number, string]> =>
      new Promise((resolve, reject) => {
        const req = http.request(
          `${url}/iclock/cdata?SN=PN2&table=ATTLOG&Stamp=7`,
          { method: 'POST', headers: { 'Content-Type': 'text/plain' }, agent: false },
          (res) => {
            let text = '';
            res.on('data', (c: Buffer) => (text += c.toString()));
            res.on('end', () => resolve([res.statusCode ?? 0, text]));
          },
        );
        req.on('error', reject);
        req.end(body);
      });
    // Like a device, post again while the node is still starting (its path not served yet).
    let reply = await post();
    while (reply[0] === 404) reply = await post();
    assert.deepEqual(reply, [200, 'OK']);
    await until(
      () => got.records.length === 1 && got.events.some((m) => m.topic === 'anomaly'),
      5000,
      'record and anomaly',
    );
    assert.deepEqual(
      recordsOf(got.records).map((r) => [r.deviceSn, r.userId, r.localTime]),
      [['PN2', 'A1', '2025-08-03T09:00:00']],
    );
    const anomaly = got.events.find((m) => m.topic === 'anomaly')!;
    assert.deepEqual(anomaly.payload, [
      {
        deviceSn: 'PN2',
        line: 2,
        raw: 'BAD\u0001PIN\t2025-08-03 09:00:30\t0\t1\t0\t0\t0',
        reason: 'control character U+0001 in the line (a corrupt record on the device?)',
      },
    ]);
  });

  it('on its own port; a server that fails before OK gets the batch again and zk-dedupe emits each record once', async () => {
    const port = await freePort();
    const got = await load({ listen: 'port', port, host: '127.0.0.1' }, true);
    // The proxy below forwards to the node's port: the node must listen there first.
    await until(() => canConnect('127.0.0.1', port), 5000, `zk-push listening on ${port}`);
    // A proxy in front that forwards each ATTLOG post but loses the first two OKs (the server "fails" after journaling).
    let lose = 2;
    front = http.createServer((req, res) => {
      const up = http.request(
        { host: '127.0.0.1', port, path: req.url, method: req.method, headers: req.headers },
        (ur) => {
          const chunks: Buffer[] = [];
          ur.on('data', (c: Buffer) => chunks.push(c));
          ur.on('end', () => {
            if (/table=ATTLOG/.test(req.url ?? '') && lose-- > 0) {
              res.writeHead(502, { 'Content-Type': 'text/plain' });
              res.end('BAD GATEWAY');
              return;
            }
            res.writeHead(ur.statusCode ?? 500, ur.headers);
            res.end(Buffer.concat(chunks));
          });
        },
      );
      req.pipe(up);
    });
    await new Promise<void>((r) => front!.listen(0, '127.0.0.1', r));
    const d = device(`http://127.0.0.1:${(front.address() as AddressInfo).port}`, 'PN2', 100);
    await until(() => d.acked === 100, 15000, 'device acked');
    await until(() => recordsOf(got.fresh).length === 100, 15000, 'dedupe passes 100');
    assert.equal(d.stats.failedPosts, 2);
    assert.ok(recordsOf(got.records).length >= 150, 'zk-push emitted the resent batches again (at-least-once)');
    await until(() => recordsOf(got.dups).length === recordsOf(got.records).length - 100);
    const ids = recordsOf(got.fresh).map((r) => r.id);
    assert.equal(new Set(ids).size, 100);
  });

  it('a crash right after the journal write loses nothing: the node replays the journal on start', async () => {
    const jdir = path.join(dir, 'punchflow', 'push', 'p1');
    const child = spawn(
      process.execPath,
      [
        '-r',
        'ts-node/register/transpile-only',
        path.join(__dirname, '..', 'push', 'support', 'crash-child.ts'),
        jdir,
        'after-journal',
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const exited = new Promise((r) => child.once('exit', r));
    const port = await new Promise<number>((resolve) =>
      child.stdout!.once('data', (c: Buffer) =>
        resolve((JSON.parse(c.toString().split('\n')[0]) as { port: number }).port),
      ),
    );
    const d = new PushDevice({
      url: `http://127.0.0.1:${port}`,
      serial: 'PN1',
      records: 30,
      batchSize: 30,
      errorDelayMs: 50,
      tz: 'Asia/Kolkata',
    });
    d.start();
    await exited;
    await d.stop();
    assert.equal(d.acked, 0);
    const got = await load();
    await until(() => recordsOf(got.records).length === 30, 10000, 'replayed records');
    assert.equal(got.records[0].topic, 'PN1');
  });

  it('commands from msg: queued, delivered on the heartbeat, answered; destructive ones refused without the opt-in', async () => {
    const got = await load();
    const url = await serveHttpNode(); // devices retry a 404 (routes not mounted yet) after errorDelayMs
    const d = device(url, 'PN1', 0);
    await d.ready;
    const p = helper.getNode('p1');
    p.receive({ payload: { sn: 'PN1', command: 'INFO' } } as NodeMessage);
    await until(
      () => got.events.some((m) => m.topic === 'command' && (m.payload as { state: string }).state === 'answered'),
      10000,
      'answered',
    );
    const states = got.events.filter((m) => m.topic === 'command').map((m) => (m.payload as { state: string }).state);
    assert.deepEqual(states, ['queued', 'answered']);
    const ans = got.events.find((m) => m.topic === 'command' && (m.payload as { state: string }).state === 'answered')!
      .payload as { returnCode: number; command: string };
    assert.deepEqual([ans.command, ans.returnCode], ['INFO', 0]);
    p.receive({ payload: { sn: 'PN1', command: 'CLEAR LOG' } } as NodeMessage);
    p.receive({ payload: { sn: 'PN1', command: 'INFO\nREBOOT' } } as NodeMessage);
    p.receive({ payload: 'nonsense' } as NodeMessage);
    await until(() => got.caught.length === 3, 5000, 'three errors caught');
    const msgs = got.caught.map((m) => (m as NodeMessage & { error: { message: string } }).error.message);
    for (const re of [/destructive/, /line break/, /\{sn, command\}/])
      assert.ok(
        msgs.some((m) => re.test(m)),
        `${re}: ${msgs.join(' | ')}`,
      );
  });

  it('allow-destructive opt-in queues CLEAR LOG; the token is a credential; settings errors name the field', async () => {
    const got = await load({ allowDestructive: true }, false, { token: 'tok' });
    const url = await serveHttpNode();
    const noTok = device(url, 'PN1', 5);
    const withTok = device(url, 'PN2', 5, { token: 'tok' });
    await withTok.ready;
    await until(() => withTok.acked === 5);
    assert.equal(noTok.acked, 0);
    assert.ok(got.events.some((m) => m.topic === 'rejected' && (m.payload as { status: number }).status === 401));
    helper.getNode('p1').receive({ payload: { sn: 'PN2', command: 'CLEAR LOG' } } as NodeMessage);
    await until(
      () => got.events.some((m) => m.topic === 'command' && (m.payload as { state: string }).state === 'answered'),
      10000,
    );
    assert.equal(withTok.records.length, 0, 'the simulated device cleared its log');
    assert.throws(() => pushNodeSettings({ devices: 'A1,x,y,Nowhere/Zone' }, {}), /line 1.*IANA/);
    assert.throws(() => pushNodeSettings({ delay: 0 }, {}), /Delay/);
    assert.throws(() => pushNodeSettings({ maxBodyKiB: 1 }, {}), /body size/);
    assert.equal(pushNodeSettings({}, {}).server.basePath, '/iclock');
  });

  it('settings: code page of the node and per device (fifth column of the device list); unknown ones name the line or field', () => {
    const s = pushNodeSettings({ codePage: 'latin1', devices: 'A1,,,,gbk\nB2,Gate,,Asia/Kolkata' }, {});
    assert.equal(s.server.codePage, 'windows-1252');
    assert.equal(s.server.devices.get('A1')?.codePage, 'gbk');
    assert.equal(s.server.devices.get('B2')?.codePage, null);
    assert.equal(pushNodeSettings({}, {}).server.codePage, 'utf-8');
    assert.throws(() => pushNodeSettings({ codePage: 'klingon' }, {}), /code page "klingon" is not known/);
    assert.throws(() => pushNodeSettings({ devices: 'A1\nB2,,,,utf-16le' }, {}), /device list line 2: .*UTF-16/);
  });

  it('settings: body time and requests per address, with defaults; out of range ones name the field', () => {
    const d = pushNodeSettings({}, {}).server;
    assert.deepEqual([d.bodyTimeoutMs, d.maxRequestsPerAddress], [30_000, 32]);
    const s = pushNodeSettings({ bodyTimeout: '12', perAddress: 200 }, {}).server;
    assert.deepEqual([s.bodyTimeoutMs, s.maxRequestsPerAddress], [12_000, 200]);
    assert.throws(() => pushNodeSettings({ bodyTimeout: 1 }, {}), /body time limit/);
    assert.throws(() => pushNodeSettings({ perAddress: 0 }, {}), /requests per address/);
  });
});
