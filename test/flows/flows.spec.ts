/**
 * The shipped production flows (flows/*.json except demo.json, which has its own e2e test): each is a
 * deployable array with a tab and a comment saying what to change, only known node types, wires and
 * config references that resolve, every `${VAR}` defined with a default on its tab (so it imports and runs
 * unchanged), no secrets, and dashboard nodes of the right generation only. Loading them in a real runtime
 * is covered by test/pack.spec.ts.
 */
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';

type FlowNode = Record<string, unknown> & { id: string; type: string; z?: string; wires?: string[][] };

const root = path.join(__dirname, '..', '..');
const FLOWS = ['fleet-mysql-access.json', 'live-http.json', 'workhours.json', 'dashboard2.json', 'hr-sync.json'];

const readFlow = (name: string): FlowNode[] =>
  JSON.parse(fs.readFileSync(path.join(root, 'flows', name), 'utf8')) as FlowNode[];

/** Literal `registerType('x'` names in the .html files of a node package's `node-red.nodes`. */
function typesOf(pkgDir: string): Set<string> {
  const pkg = JSON.parse(fs.readFileSync(path.join(pkgDir, 'package.json'), 'utf8')) as {
    'node-red': { nodes: Record<string, string> };
  };
  const out = new Set<string>();
  for (const js of Object.values(pkg['node-red'].nodes)) {
    const html = fs.readFileSync(path.join(pkgDir, js.replace(/\.js$/, '.html')), 'utf8');
    for (const m of html.matchAll(/registerType\(\s*['"]([\w-]+)['"]/g)) out.add(m[1]);
  }
  return out;
}

/** Node-RED's core nodes are not listed in a package.json: read every .html under @node-red/nodes/core. */
function coreTypes(dir: string, out = new Set<string>()): Set<string> {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) coreTypes(p, out);
    else if (e.name.endsWith('.html'))
      for (const m of fs.readFileSync(p, 'utf8').matchAll(/registerType\(\s*['"]([\w -]+)['"]/g)) out.add(m[1]);
  }
  return out;
}

const mod = (name: string) => path.dirname(require.resolve(`${name}/package.json`, { paths: [root] }));
const CORE = coreTypes(path.join(mod('@node-red/nodes'), 'core'));
const OURS = new Set(
  Object.keys(
    (JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { 'node-red': { nodes: object } })[
      'node-red'
    ].nodes,
  ),
);
const DASH1 = typesOf(mod('node-red-dashboard'));
const DASH2 = typesOf(mod('@flowfuse/node-red-dashboard'));
/** Properties that hold a reference to a config node. */
const REFS = ['device', 'group', 'tab', 'page', 'ui', 'theme', 'tls'];

describe('flows/ (production flows)', () => {
  it('the core and dashboard type lists were found', () => {
    for (const t of ['inject', 'debug', 'function', 'comment', 'catch']) assert.ok(CORE.has(t), t);
    assert.ok(DASH1.has('ui_template') && DASH2.has('ui-table'));
  });

  for (const name of FLOWS) {
    describe(name, () => {
      const nodes = readFlow(name);
      const byId = new Map(nodes.map((n) => [n.id, n]));
      const tabs = nodes.filter((n) => n.type === 'tab');

      it('is an array with unique ids, one tab, and a comment on it saying what to change', () => {
        assert.ok(Array.isArray(nodes) && nodes.length > 3);
        assert.equal(byId.size, nodes.length, 'unique ids');
        assert.equal(tabs.length, 1);
        const comments = nodes.filter((n) => n.type === 'comment' && n.z === tabs[0].id);
        assert.ok(
          comments.some((c) => /what to change/i.test(String(c.name)) && String(c.info).length > 200),
          'a comment with instructions',
        );
      });

      it('uses only known types: core, zk-*, and one dashboard generation (no ui_base, no extra contrib nodes)', () => {
        const dash = name === 'dashboard2.json' ? DASH2 : DASH1;
        for (const n of nodes) {
          if (n.type === 'tab') continue;
          assert.ok(
            CORE.has(n.type) || OURS.has(n.type) || dash.has(n.type),
            `${n.id}: unknown or wrong-generation type ${n.type}`,
          );
          assert.notEqual(n.type, 'ui_base', 'ui_base renders a blank page when shipped partially');
          if (dash === DASH1 && n.type.startsWith('ui_'))
            assert.ok(['ui_template', 'ui_chart', 'ui_tab', 'ui_group'].includes(n.type), n.type);
        }
      });

      it('every flow node sits on the tab; wires and config references resolve', () => {
        for (const n of nodes) {
          if (n.type === 'tab') continue;
          if (n.z !== undefined) assert.equal(n.z, tabs[0].id, `${n.id}.z`);
          else assert.ok(!n.wires, `${n.id} (${n.type}) has wires but no tab`);
          for (const port of n.wires ?? [])
            for (const to of port) assert.ok(byId.has(to), `${n.id} wired to missing ${to}`);
          for (const ref of REFS) {
            const v = n[ref];
            if (typeof v === 'string' && v !== '' && !(n.type === 'ui-page' && ref === 'theme' && v === 'default'))
              assert.ok(byId.has(v), `${n.id}.${ref} → missing ${v}`);
          }
        }
        // Every flow but live-http (a headless integration) has a dashboard page.
        const dashboardWidgets = nodes.filter((n) =>
          ['ui_template', 'ui_chart', 'ui-table', 'ui-chart'].includes(n.type),
        );
        if (name !== 'live-http.json') assert.ok(dashboardWidgets.length >= 2, 'a dashboard page');
      });

      it('every ${VAR} is defined on the tab with a default read from a PUNCHFLOW_* environment variable', () => {
        const env = new Map(
          ((tabs[0].env as { name: string; type: string; value: string }[] | undefined) ?? []).map((e) => [e.name, e]),
        );
        const used = new Set<string>();
        for (const n of nodes) {
          for (const v of Object.values(n))
            if (typeof v === 'string' && /^\$\{\w+\}$/.test(v)) used.add(v.slice(2, -1));
          if (n.type === 'function') for (const m of String(n.func).matchAll(/env\.get\('(\w+)'\)/g)) used.add(m[1]);
        }
        assert.ok(used.size > 0);
        for (const u of used) {
          const e = env.get(u);
          assert.ok(e, `\${${u}} is not defined on the tab`);
          assert.equal(e.type, 'jsonata');
          assert.match(e.value, /^\$env\("PUNCHFLOW_\w+"\) \? \$env\("PUNCHFLOW_\w+"\) : ".*"$/s);
        }
      });

      it('holds no secrets and reaches no host but loopback by default', () => {
        const text = JSON.stringify(nodes);
        assert.ok(!/"credentials"\s*:/.test(text), 'no credentials block');
        for (const n of nodes)
          for (const k of ['password', 'commKey', 'authValue', 'token']) assert.ok(!(k in n), `${n.id} has ${k}`);
        const hosts = [...text.matchAll(/\b(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})\b/g)].map((m) => m[1]);
        assert.deepEqual(
          [...new Set(hosts)].filter((h) => h !== '127.0.0.1'),
          [],
        );
      });

      it('fleet capture nodes take the list, zone and shard from the tab', () => {
        for (const n of nodes.filter((x) => x.type === 'zk-poll' || x.type === 'zk-live')) {
          assert.deepEqual([n.mode, n.fleet, n.tz, n.shard], ['list', '${FLEET}', '${DEVICE_TZ}', '${SHARD}'], n.id);
        }
      });
    });
  }

  it('fleet-mysql-access: two independent sinks (MySQL, Access) fed by one dedupe, poll every 5 min + live', () => {
    const nodes = readFlow('fleet-mysql-access.json');
    const sinks = nodes.filter((n) => n.type === 'zk-sink');
    assert.deepEqual(sinks.map((s) => s.target).sort(), ['access', 'mysql']);
    const dd = nodes.find((n) => n.type === 'zk-dedupe');
    assert.ok(dd);
    for (const s of sinks)
      assert.ok(dd.wires?.[0].includes(s.id), 'each sink directly on the dedupe output, not chained');
    assert.equal(nodes.find((n) => n.type === 'zk-poll')?.interval, 300);
    assert.ok(nodes.some((n) => n.type === 'zk-live'));
    // Status events (output 2) of both capture nodes feed the dashboard table.
    const table = nodes.find((n) => n.name === 'device table');
    for (const c of nodes.filter((n) => n.type === 'zk-poll' || n.type === 'zk-live'))
      assert.ok(c.wires?.[1].includes(String(table?.id)));
  });

  it('live-http: live + reconciliation poll → dedupe → HTTP sink', () => {
    const nodes = readFlow('live-http.json');
    const http = nodes.find((n) => n.type === 'zk-sink');
    assert.equal(http?.target, 'http');
    assert.equal(http?.url, '${API_URL}');
    const dd = nodes.find((n) => n.type === 'zk-dedupe');
    for (const c of nodes.filter((n) => n.type === 'zk-poll' || n.type === 'zk-live'))
      assert.ok(c.wires?.[0].includes(String(dd?.id)));
  });
});

describe('demo dashboard: the device table function', () => {
  type Out = [{ payload: { devices: Array<Record<string, unknown>> } }, unknown] | null;
  const fn = readFlow('demo.json').find((n) => n.type === 'function' && n.name === 'device table');
  const store = new Map<string, unknown>();
  const flow = { get: (k: string) => store.get(k), set: (k: string, v: unknown) => void store.set(k, v) };
  // The function node's body, run as Node-RED runs it: a function of msg with `flow` in scope.
  const run = new Function('msg', 'flow', String(fn?.func)) as (msg: Record<string, unknown>, f: typeof flow) => Out;
  const row = (out: Out) => out![0].payload.devices[0];

  it('counts new punches, and a live punch adds one to the device count until the next poll reports it', () => {
    assert.ok(fn, 'the demo has a "device table" function');
    const device = { host: '127.0.0.1:4370', serial: 'SN1', name: 'Front door', site: 'HQ' };
    const status = (records: number) => ({
      topic: 'SN1',
      device,
      payload: { state: 'online', deviceSn: 'SN1', records, capacity: { records, recordsMax: 100000 } },
    });
    const punch = (i: number, source: string) => ({
      id: `SN1|${i}|2024-05-01T08:00:0${i}`,
      localTime: `2024-05-01T08:00:0${i}`,
      deviceSn: 'SN1',
      deviceHost: device.host,
      source,
    });
    assert.equal(row(run(status(151), flow)).records, 151);
    let out = run({ payload: [punch(1, 'poll'), punch(2, 'poll')] }, flow);
    assert.deepEqual([row(out).newTotal, row(out).records], [2, 151], 'polled punches are already in the count');
    out = run({ payload: punch(3, 'live') }, flow);
    assert.deepEqual([row(out).newTotal, row(out).records], [3, 152]);
    assert.equal(row(run(status(155), flow)).records, 155, 'the next status event sets the real count');
    assert.equal(run({ topic: 'other', payload: 'nothing of ours' }, flow), null);
  });
});

describe('fleet dashboard: the device table function', () => {
  type Row = Record<string, unknown>;
  const nodes = readFlow('fleet-mysql-access.json');
  const fn = nodes.find((n) => n.type === 'function' && n.name === 'device table');
  const store = new Map<string, unknown>();
  const flow = { get: (k: string) => store.get(k), set: (k: string, v: unknown) => void store.set(k, v) };
  const node = { status: () => undefined };
  const run = new Function('msg', 'flow', 'node', String(fn?.func)) as (
    msg: Record<string, unknown>,
    f: typeof flow,
    n: typeof node,
  ) => { payload: Row[] } | null;
  const host = '127.0.0.1:4370';
  const status = (over: Record<string, unknown>) => ({
    topic: 'SN1',
    payload: {
      state: 'online',
      deviceSn: 'SN1',
      deviceName: 'Front door',
      site: 'HQ',
      deviceHost: host,
      lastSeen: null,
      lastPoll: null,
      lastError: null,
      records: null,
      newRecords: 0,
      capacity: { records: null, recordsMax: null },
      clockDriftSec: null,
      ...over,
    },
  });
  const punch = (i: number, source: string) => ({
    id: `SN1|${i}|2024-05-01T08:00:0${i}`,
    localTime: `2024-05-01T08:00:0${i}`,
    deviceSn: 'SN1',
    deviceName: 'Front door',
    site: 'HQ',
    deviceHost: host,
    source,
  });

  it('"New" counts the punches out of zk-dedupe; zk-live status events (newRecords 0) do not reset it', () => {
    assert.ok(fn, 'the fleet flow has a "device table" function');
    const dd = nodes.find((n) => n.type === 'zk-dedupe');
    assert.ok(dd?.wires?.[0].includes(fn.id), 'the new punches reach the device table');
    run(status({ lastPoll: '2024-05-01T08:05:00.000Z', records: 153, newRecords: 3 }), flow, node);
    let out = run({ topic: 'SN1', payload: [punch(1, 'poll'), punch(2, 'poll'), punch(3, 'poll')] }, flow, node);
    assert.equal(out?.payload[0].newRecords, 3);
    // zk-live's status after connecting: a live link reports 0 new records of its own.
    out = run(status({ newRecords: 0, lastSeen: '2024-05-01T08:06:00.000Z' }), flow, node);
    assert.equal(out?.payload[0].newRecords, 3, 'a zk-live status event must not overwrite the count');
    assert.equal(
      out?.payload[0].lastPoll,
      new Date('2024-05-01T08:05:00.000Z').toLocaleString('sv-SE'),
      'poll-only fields kept',
    );
    out = run({ topic: 'SN1', payload: punch(4, 'live') }, flow, node);
    assert.equal(out?.payload[0].newRecords, 4, 'a live punch counts too');
    assert.equal(out?.payload.length, 1, 'one row per device');
    assert.equal(run({ topic: 'anomaly', payload: [] }, flow, node), null);
  });
});

describe('flows/demo.json settings', () => {
  it('every ${VAR} in a node setting is defined on the tab with a default read from a PUNCHFLOW_* variable', () => {
    const nodes = readFlow('demo.json');
    const tab = nodes.find((n) => n.type === 'tab');
    const env = new Map(
      ((tab?.env as { name: string; type: string; value: string }[] | undefined) ?? []).map((e) => [e.name, e]),
    );
    const used = new Set<string>();
    // Credentials aside: `npm start` moves the password reference into the credentials file.
    for (const n of nodes)
      for (const [k, v] of Object.entries(n))
        if (k !== 'credentials' && typeof v === 'string' && /^\$\{\w+\}$/.test(v)) used.add(v.slice(2, -1));
    assert.ok(used.has('FLEET') && used.has('DATA_DIR'));
    for (const u of used) {
      const e = env.get(u);
      assert.ok(e, `\${${u}} is not defined on the tab`);
      assert.match(e.value, /^\$env\("PUNCHFLOW_\w+"\) \? \$env\("PUNCHFLOW_\w+"\) : ".*"$/s);
    }
  });
});

describe('flows/: readable in the editor', () => {
  for (const name of fs.readdirSync(path.join(root, 'flows')).filter((f) => f.endsWith('.json'))) {
    it(`${name}: every wire runs left to right (a wire back across the canvas goes through link nodes)`, () => {
      const nodes = readFlow(name);
      const byId = new Map(nodes.map((n) => [n.id, n]));
      const back: string[] = [];
      for (const n of nodes) {
        for (const port of n.wires ?? []) {
          for (const to of port) {
            const m = byId.get(to);
            // Node positions are centres; a target left of its source by more than a node's half width crosses back.
            if (m && Number(m.x) < Number(n.x) - 60)
              back.push(
                `${String(n.name || n.type)} (x ${String(n.x)}) → ${String(m.name || m.type)} (x ${String(m.x)})`,
              );
          }
        }
      }
      assert.deepEqual(back, []);
    });
  }
});

describe('MQTT sink flow: the fleet dashboard from the retained status topics', () => {
  type Row = Record<string, unknown>;
  const nodes = readFlow('sink-mqtt.json');
  const fn = nodes.find((n) => n.type === 'function' && n.name === 'device table');
  const store = new Map<string, unknown>();
  const flow = { get: (k: string) => store.get(k), set: (k: string, v: unknown) => void store.set(k, v) };
  const node = { status: () => undefined };
  const run = new Function('msg', 'flow', 'node', String(fn?.func)) as (
    msg: Record<string, unknown>,
    f: typeof flow,
    n: typeof node,
  ) => { payload: Row[] } | null;

  it('one row per device of every shard from punchflow/status/#; records taken from the broker count as new', () => {
    assert.ok(fn, 'the sink flow has a "device table" function');
    const statusIn = nodes.find((n) => n.type === 'mqtt in');
    assert.equal(statusIn?.topic, 'punchflow/status/#');
    assert.ok(statusIn?.wires?.[0].includes(fn.id), 'the status topics reach the device table');
    const consumer = nodes.find((n) => n.type === 'zk-mqtt-in');
    assert.ok(consumer?.wires?.[0].includes(fn.id), 'the records reach the device table');
    // Two devices of two capture shards, as retained status messages (mqtt in with JSON output).
    run(
      {
        topic: 'punchflow/status/SN1',
        payload: {
          state: 'online',
          deviceSn: 'SN1',
          deviceName: 'Door 1',
          site: 'Site 0',
          deviceHost: '10.0.0.1:4370',
          newRecords: 0,
        },
      },
      flow,
      node,
    );
    run(
      {
        topic: 'punchflow/status/SN2',
        payload: {
          state: 'offline',
          deviceSn: 'SN2',
          deviceName: 'Door 2',
          site: 'Site 1',
          deviceHost: '10.0.0.2:4370',
          lastError: 'timeout',
        },
      },
      flow,
      node,
    );
    const rec = {
      id: 'SN1|7|2024-05-01T08:00:01',
      localTime: '2024-05-01T08:00:01',
      deviceSn: 'SN1',
      deviceName: 'Door 1',
      site: 'Site 0',
      deviceHost: '10.0.0.1:4370',
      source: 'live',
    };
    const out = run({ topic: 'punchflow/records/Site 0/SN1', payload: [rec] }, flow, node);
    assert.deepEqual(
      out?.payload.map((r) => [r.serial, r.state, r.newRecords, r.lastError]),
      [
        ['SN1', 'online', 1, ''],
        ['SN2', 'offline', 0, 'timeout'],
      ],
    );
  });
});
