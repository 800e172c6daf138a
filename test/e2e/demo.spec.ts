/**
 * flows/demo.json, deployed unchanged into a real Node-RED and run against three simulated devices: every
 * punch the simulators hold (their history, punches made while zk-live is connected, and punches made while
 * the link is down) ends up in the daily NDJSON files exactly once, compared with the simulators' own lists.
 */
import * as assert from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { formatWallClock } from '../../lib/protocol';
import { ZkSimulator, startSimulators } from '../../lib/sim';
import { E2eRuntime, FlowNode, loadFlowFile, startRuntime } from './runtime';
import { sleep, until } from '../../support/wait';

interface FileRecord {
  id: string;
  deviceSn: string;
  source: string;
  site: string | null;
  deviceName: string | null;
}

/** Every line of every attendance-*.ndjson in dir. */
function readOutput(dir: string): FileRecord[] {
  if (!fs.existsSync(dir)) return [];
  const out: FileRecord[] = [];
  for (const f of fs.readdirSync(dir).sort()) {
    if (!/^attendance-\d{4}-\d{2}-\d{2}\.ndjson$/.test(f)) continue;
    for (const line of fs.readFileSync(path.join(dir, f), 'utf8').split('\n'))
      if (line.trim()) out.push(JSON.parse(line) as FileRecord);
  }
  return out;
}

/** The ids the simulators' logs stand for (docs/architecture.md §3: deviceSn|userId|localTime). */
function expectedIds(sims: ZkSimulator[]): string[] {
  return sims.flatMap((s) => s.records.map((r) => `${s.serial}|${r.userId}|${formatWallClock(r.time)}`));
}

function countIds(records: FileRecord[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const r of records) m.set(r.id, (m.get(r.id) ?? 0) + 1);
  return m;
}

describe('e2e: the demo flow against simulated devices', function () {
  this.timeout(90_000);
  let rt: E2eRuntime;
  let sims: ZkSimulator[] = [];
  let dataDir: string;
  let flow: FlowNode[];
  const liveNode = () => flow.find((n) => n.type === 'zk-live')!.id;
  const tabId = () => flow.find((n) => n.type === 'tab')!.id;

  before(async () => {
    flow = loadFlowFile('flows/demo.json');
    sims = await startSimulators({ devices: 3, users: 20, records: 400, seed: 77 });
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'punchflow-e2e-demo-'));
    const csv = [
      'host,port,name,site,tz',
      ...sims.map((s, i) => `127.0.0.1,${s.port},Door ${i + 1},${i < 2 ? 'North' : 'South'},UTC`),
    ].join('\n');
    rt = await startRuntime({ deliveries: true, env: { PUNCHFLOW_FLEET: csv, PUNCHFLOW_DATA_DIR: dataDir } });
  });

  after(async () => {
    await rt?.stop();
    await Promise.all(sims.map((s) => s.stop()));
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('writes every generated punch exactly once, from history, live capture and the gap after a dropped link', async () => {
    const mark = rt.mark();
    const { logs } = await rt.deploy(flow, { settleMs: 200 });
    assert.deepStrictEqual(
      logs.filter((e) => /missing type/i.test(e.msg)),
      [],
    );

    const allIn = (what: string, timeoutMs: number) =>
      until(
        () => {
          const have = new Set(readOutput(dataDir).map((r) => r.id));
          return expectedIds(sims).every((id) => have.has(id));
        },
        timeoutMs,
        what,
        50,
      );

    // 1. History: the first poll downloads each device's whole log.
    await allIn('the history of all three devices in the files', 30_000);
    assert.strictEqual(readOutput(dataDir).length, 3 * 400);

    // 2. Live: punches made while zk-live holds its connections arrive within moments, through zk-live.
    await until(
      () => {
        const online = rt.deliveries.filter(
          (d) =>
            d.source.id === liveNode() && d.source.port === 1 && (d.payload as { state?: string })?.state === 'online',
        );
        return new Set(online.map((d) => String(d.topic))).size === 3;
      },
      15_000,
      'zk-live online for all three devices',
      50,
    );
    const livePunched: string[] = [];
    for (let k = 0; k < 4; k++) {
      sims.forEach((s, i) => {
        const user = s.users[(k * 3 + i) % s.users.length];
        const r = s.punch({ userId: user.userId, state: k % 2 });
        livePunched.push(`${s.serial}|${r.userId}|${formatWallClock(r.time)}`);
      });
      await sleep(300);
    }
    await allIn('the live punches in the files', 15_000);
    const bySource = new Map(readOutput(dataDir).map((r) => [r.id, r.source]));
    const viaLive = livePunched.filter((id) => bySource.get(id) === 'live');
    assert.ok(
      viaLive.length >= livePunched.length - 1,
      `only ${viaLive.length} of ${livePunched.length} live punches came through zk-live`,
    );

    // 3. A dropped link: the device forgets its connections; punches made meanwhile are fetched after the
    //    reconnect (zk-live's gap fill) or by the next poll, and still written once.
    sims[0].restart();
    for (let k = 0; k < 3; k++) {
      sims[0].punch({ userId: sims[0].users[10 + k].userId, state: 1 });
      await sleep(150);
    }
    await allIn('the punches made while the link was down', 30_000);

    // Settle, then compare with the simulators' own lists: each id once, nothing else. A repeat would come from
    // another path (the next poll, a reconnect's gap fill), in no order with the rest: no signal to await.
    await sleep(1000);
    const written = readOutput(dataDir);
    const counts = countIds(written);
    const expected = expectedIds(sims);
    assert.strictEqual(new Set(expected).size, expected.length, 'the simulators produced two punches with one id');
    const missing = expected.filter((id) => !counts.has(id));
    const doubled = [...counts].filter(([, n]) => n > 1).map(([id, n]) => `${id} ×${n}`);
    const extra = [...counts.keys()].filter((id) => !expected.includes(id));
    assert.deepStrictEqual({ missing, doubled, extra }, { missing: [], doubled: [], extra: [] });
    assert.strictEqual(written.length, expected.length);
    // Records carry the names and sites from PUNCHFLOW_FLEET.
    assert.ok(
      written.every((r) => r.site === 'North' || r.site === 'South'),
      'a record without its site',
    );

    // The dashboard's device table (flow context) has one online row per device with the right counts.
    const ctx = await rt.admin<{ memory?: Record<string, { msg: string }> }>('GET', `/context/flow/${tabId()}`);
    const rows = JSON.parse(ctx.body.memory?.pfDevices?.msg ?? '{}') as Record<
      string,
      { deviceSn: string; state: string; newTotal: number; records: number | null }
    >;
    assert.deepStrictEqual(
      Object.values(rows)
        .map((r) => r.deviceSn)
        .sort(),
      sims.map((s) => s.serial).sort(),
    );
    await until(
      async () => {
        const c = await rt.admin<{ memory?: Record<string, { msg: string }> }>('GET', `/context/flow/${tabId()}`);
        const now = JSON.parse(c.body.memory?.pfDevices?.msg ?? '{}') as typeof rows;
        return Object.values(now).every((r) => r.state === 'online');
      },
      15_000,
      'every device online again in the table',
      50,
    );
    const total = Object.values(rows).reduce((n, r) => n + r.newTotal, 0);
    assert.strictEqual(total, expected.length, 'the table counts each new record once');
    assert.strictEqual((await fetch(rt.uiUrl)).status, 200);

    const errors = rt.errorsSince(mark);
    assert.deepStrictEqual(
      errors.map((e) => `${e.type}: ${e.msg}`),
      [],
      'errors logged while the demo ran',
    );
  });
});
