/**
 * Every shipped flow (flows/*.json, examples/**\/*.json) loads in a real Node-RED with the built package and
 * the dashboards: it parses as an array, every node type it uses is registered, and deploying it through
 * the admin API logs no "missing types" and no error. The folder is read when the suite starts, so flows
 * added later are covered without touching this file.
 */
import * as assert from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { ZkSimulator } from '../../lib/sim';
import {
  E2eRuntime,
  FlowNode,
  LogEntry,
  REPO_ROOT,
  flowNodeTypes,
  loadFlowFile,
  shippedFlowFiles,
  startRuntime,
} from './runtime';
import { until } from '../../support/wait';

const files = shippedFlowFiles();
/** The types package.json declares (node-red.nodes): each must be registered by our module. */
const PUNCHFLOW_TYPES = Object.keys(
  (
    JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as {
      'node-red': { nodes: Record<string, string> };
    }
  )['node-red'].nodes,
);

function describeLogs(entries: LogEntry[]): string {
  return entries.map((e) => `  [${e.levelName}] ${e.type ?? ''}${e.id ? ` ${e.id}` : ''}: ${e.msg}`).join('\n');
}

describe('e2e: shipped flows load in Node-RED', function () {
  this.timeout(60_000);
  let rt: E2eRuntime;
  let sim: ZkSimulator;
  let dataDir: string;

  before(async () => {
    // One simulated device for the ${PUNCHFLOW_FLEET} flows, so they connect to something real.
    sim = new ZkSimulator({ port: 0, users: 5, records: 20 });
    const { port } = await sim.start();
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'punchflow-e2e-data-'));
    rt = await startRuntime({
      env: {
        PUNCHFLOW_FLEET: `host,port,name,site\n127.0.0.1,${port},Door,E2E`,
        PUNCHFLOW_SIM_HOST: '127.0.0.1',
        PUNCHFLOW_SIM_PORTS: String(port),
        PUNCHFLOW_DATA_DIR: dataDir,
      },
    });
  });

  after(async () => {
    await rt?.stop();
    await sim?.stop();
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('has PunchFlow and both dashboards registered, and no node set failed to load', async () => {
    const types = await rt.nodeTypes();
    for (const t of PUNCHFLOW_TYPES)
      assert.strictEqual(types.get(t), '@punchflow/node-red-zk', `${t} is not registered by our module`);
    assert.ok(types.has('ui_template') && types.has('ui_chart'), 'node-red-dashboard (v3) is not loaded');
    assert.ok(types.has('ui-base'), '@flowfuse/node-red-dashboard is not loaded');
    assert.deepStrictEqual(await rt.failedNodeSets(), []);
    const startErrors = rt.errorsSince(0);
    assert.deepStrictEqual(startErrors, [], `errors while starting:\n${describeLogs(startErrors)}`);
  });

  it('finds the demo flow and one example per node', () => {
    assert.ok(files.includes(path.join('flows', 'demo.json')), `flows/demo.json missing from ${files.join(', ')}`);
    assert.ok(files.filter((f) => f.startsWith('examples')).length >= 4, `too few examples: ${files.join(', ')}`);
  });

  it('notices a flow with an unknown node type and a node that fails to start (the checks below are not vacuous)', async () => {
    const broken: FlowNode[] = [
      { id: 'e2e-tab', type: 'tab', label: 'broken' },
      { id: 'e2e-unknown', type: 'zk-no-such-node', z: 'e2e-tab', wires: [] },
    ];
    const known = await rt.nodeTypes();
    assert.deepStrictEqual(
      [...flowNodeTypes(broken)].filter((t) => !known.has(t)),
      ['zk-no-such-node'],
    );
    const a = await rt.deploy(broken, { settleMs: 300 });
    assert.ok(
      a.logs.some((e) => /missing type/i.test(e.msg)),
      `no "missing types" log:\n${describeLogs(a.logs)}`,
    );
    const badFleet: FlowNode[] = [
      { id: 'e2e-tab', type: 'tab', label: 'broken' },
      {
        id: 'e2e-poll',
        type: 'zk-poll',
        z: 'e2e-tab',
        mode: 'list',
        fleet: 'no,such,columns\n1,2,3',
        interval: 0,
        wires: [[], []],
      },
    ];
    const b = await rt.deploy(badFleet, { settleMs: 300 });
    assert.ok(
      b.logs.some((e) => e.level === 20 && e.id === 'e2e-poll'),
      `no error logged for a bad device list:\n${describeLogs(b.logs)}`,
    );
    await rt.clearFlows();
  });

  for (const file of files) {
    it(`${file} deploys with known node types and no errors`, async () => {
      let flow: FlowNode[];
      try {
        flow = loadFlowFile(file);
      } catch (err) {
        throw new Error(`${file} does not parse as a flow: ${(err as Error).message}`);
      }
      assert.ok(flow.length > 0, `${file} is empty`);
      for (const n of flow)
        assert.ok(typeof n.id === 'string' && typeof n.type === 'string', `${file}: a node without id or type`);
      const ids = new Set(flow.map((n) => n.id));
      assert.strictEqual(ids.size, flow.length, `${file}: duplicate node ids`);
      assert.ok(
        flow.some((n) => n.type === 'comment'),
        `${file}: no comment node saying what to change`,
      );

      const known = await rt.nodeTypes();
      const unknown = [...flowNodeTypes(flow)].filter((t) => !known.has(t));
      assert.deepStrictEqual(unknown, [], `${file} uses node types Node-RED does not know`);

      const { logs } = await rt.deploy(flow, { settleMs: 800 });
      const missing = logs.filter((e) => /missing type/i.test(e.msg));
      assert.deepStrictEqual(missing, [], `${file}: ${describeLogs(missing)}`);
      const errors = logs.filter((e) => e.level <= 20 && e.level > 1);
      assert.deepStrictEqual(errors, [], `${file} logged errors:\n${describeLogs(errors)}`);

      // What the runtime runs is what we deployed (no node dropped).
      const deployed = await rt.admin<{ flows: FlowNode[] }>('GET', '/flows', undefined, {
        'Node-RED-API-Version': 'v2',
      });
      assert.strictEqual(
        deployed.body.flows.length,
        flow.length,
        `${file}: the runtime holds a different number of nodes`,
      );
      // A dashboard in the flow is served: v3 at /ui/, Dashboard 2 at its ui-base path.
      if (flow.some((n) => n.type === 'ui_tab'))
        assert.strictEqual((await fetch(rt.uiUrl)).status, 200, `${file}: /ui/ is not served`);
      for (const base of flow.filter((n) => n.type === 'ui-base')) {
        const p = String(base.path || '/dashboard').replace(/^\/?/, '/');
        assert.strictEqual((await fetch(rt.baseUrl + p)).status, 200, `${file}: Dashboard 2 is not served at ${p}`);
      }
      await rt.clearFlows();
    });
  }
});

describe('e2e: flows/ in a plain Node-RED (no PUNCHFLOW_* variables set)', function () {
  this.timeout(60_000);
  let rt: E2eRuntime;
  // Whatever the test process has, the runtime sees none of ours: as a user's own Node-RED would.
  const unset: Record<string, string> = {};
  for (const k of Object.keys(process.env)) if (k.startsWith('PUNCHFLOW_')) unset[k] = '';

  before(async () => {
    rt = await startRuntime({ deliveries: true, env: unset });
  });
  after(async () => {
    await rt?.stop();
  });

  for (const file of files.filter((f) => f.startsWith('flows'))) {
    it(`${file} imports and runs unchanged: every \${VAR} resolves, no error`, async () => {
      const flow = loadFlowFile(file);
      const { logs } = await rt.deploy(flow, { settleMs: 800 });
      const errors = logs.filter((e) => e.level <= 20 && e.level > 1);
      assert.deepStrictEqual(errors, [], `${file} logged errors:\n${describeLogs(errors)}`);
      assert.ok(
        !logs.some((e) => /\$\{\w+\}/.test(e.msg)),
        `${file}: an unresolved \${VAR} in the log:\n${describeLogs(logs)}`,
      );
      await rt.clearFlows();
    });
  }

  it("demo.json: a capture node's configuration error shows in the dashboard's Recent errors", async () => {
    const flow = loadFlowFile('flows/demo.json');
    const poll = flow.find((n) => n.type === 'zk-poll');
    const panel = flow.find((n) => n.type === 'ui_template' && n.name === 'recent errors');
    assert.ok(poll && panel);
    // A device list with a column zk-poll and zk-live do not know: both refuse it when they start.
    await rt.setEnv({ PUNCHFLOW_FLEET: 'host,port,colour\n127.0.0.1,4370,red' });
    try {
      const since = rt.deliveries.length;
      await rt.deploy(flow, { settleMs: 300 });
      const shown = await until(
        () =>
          rt.deliveries
            .slice(since)
            .find(
              (d) =>
                d.destination.id === panel.id &&
                Array.isArray(d.payload) &&
                (d.payload as Array<{ source: string; text: string }>).some(
                  (e) => e.source === poll.name && /colour/.test(e.text),
                ),
            ),
        10_000,
        'the error in Recent errors',
        50,
      );
      assert.ok(shown);
    } finally {
      await rt.setEnv({ PUNCHFLOW_FLEET: null });
      await rt.clearFlows();
    }
  });
});
