/**
 * flows/hr-sync.json runs unchanged: its nodes (without the dashboard widgets, which need a dashboard
 * runtime; test/e2e deploys the whole flow) in Node-RED with the tab's variables from PUNCHFLOW_* environment
 * variables, an HR table in MariaDB, three simulated devices, and the HR password as a credential. The inject
 * fires, every device ends up with the table's users, and the panel function holds the last sync per device.
 */
import { strict as assert } from 'assert';
import type { EventEmitter } from 'events';
import * as fs from 'fs';
import * as path from 'path';
import type { NodeMessage } from 'node-red';
import { helper, useNodeRedServer } from '../support/node-red';
import { sharedMariaDb, stopSharedMariaDb, testPool } from '../../support/mariadb';
import { until } from '../../support/wait';
import zkUsers from '../../nodes/zk-users/zk-users';
import { ZkClient } from '../../lib/client';
import { ZkSimulator } from '../../lib/sim';

type FlowNode = Record<string, unknown> & { id: string; type: string; z?: string; wires?: string[][] };
interface Row {
  device: string;
  serial: string;
  ok: boolean;
  added: number;
  updated: number;
  disabled: number;
  unchanged: number;
  failed: number;
  problem: string;
}

/** The core nodes the flow uses (node-red-node-test-helper loads only the nodes it is given). */
const core = (p: string): Parameters<typeof helper.load>[0] => {
  const file = require.resolve(`@node-red/nodes/core/${p}`, { paths: [path.join(__dirname, '..', '..')] });
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- core node files are picked by path at run time
  return require(file);
};
const CORE = ['common/20-inject.js', 'common/21-debug.js', 'common/90-comment.js', 'function/10-function.js']
  .map(core)
  .flat();

const flowFile = path.join(__dirname, '..', '..', 'flows', 'hr-sync.json');
const ENV = [
  'PUNCHFLOW_FLEET',
  'PUNCHFLOW_HR_DB_HOST',
  'PUNCHFLOW_HR_DB_PORT',
  'PUNCHFLOW_HR_DB_USER',
  'PUNCHFLOW_HR_DB_NAME',
  'PUNCHFLOW_TZ',
];

after(stopSharedMariaDb);

describe('flows/hr-sync.json', function () {
  this.timeout(60_000);
  let sims: ZkSimulator[] = [];
  const saved = new Map(ENV.map((k) => [k, process.env[k]]));
  useNodeRedServer(async () => {
    await Promise.all(sims.map((s) => s.stop()));
    sims = [];
    for (const [k, v] of saved)
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
  });

  it("reads the HR table on its timer and brings every device in step; the panel shows each device's last sync", async function () {
    const db = await sharedMariaDb();
    if (!db) return this.skip();
    const pool = testPool(db);
    try {
      await pool.query('DROP TABLE IF EXISTS employees');
      await pool.query(
        'CREATE TABLE employees (emp_no VARCHAR(24) PRIMARY KEY, full_name VARCHAR(60), badge INT UNSIGNED NULL, role VARCHAR(20), active TINYINT(1))',
      );
      await pool.query(
        "INSERT INTO employees VALUES ('501','Ana',1001,'user',1),('502','Bo',NULL,'admin',1),('503','Cy',1003,'user',0)",
      );
      sims = [0, 1, 2].map((i) => new ZkSimulator({ port: 0, users: 3, records: 0, seed: 70 + i, transports: 'tcp' }));
      const ports = (await Promise.all(sims.map((s) => s.start()))).map((a) => a.port);
      await sims[2].stop();
      Object.assign(process.env, {
        PUNCHFLOW_FLEET: ['host,port,name', ...ports.map((p, i) => `127.0.0.1,${p},Door ${i}`)].join('\n'),
        PUNCHFLOW_HR_DB_HOST: db.host,
        PUNCHFLOW_HR_DB_PORT: String(db.port),
        PUNCHFLOW_HR_DB_USER: db.user,
        PUNCHFLOW_HR_DB_NAME: db.database,
        PUNCHFLOW_TZ: 'UTC',
      });
      const shipped = JSON.parse(fs.readFileSync(flowFile, 'utf8')) as FlowNode[];
      // The flow as shipped, minus dashboard widgets; the panel function's output goes to a probe instead.
      const flow: FlowNode[] = shipped.filter((n) => !n.type.startsWith('ui_')).map((n) => ({ ...n }));
      const fn = flow.find((n) => n.type === 'function' && n.name === 'last sync per device');
      const sync = flow.find((n) => n.type === 'zk-users');
      const inject = flow.find((n) => n.type === 'inject');
      assert.ok(fn && sync && inject);
      assert.deepEqual([inject.repeat, inject.once], ['600', true], 'every 10 minutes, and once after deploy');
      fn.wires = [['probe']];
      flow.push({ id: 'probe', type: 'helper', z: fn.z });
      await helper.load([zkUsers, ...CORE], flow as never, { [sync.id]: { hrPassword: db.password } });
      const tables: Row[][] = [];
      (helper.getNode('probe') as unknown as EventEmitter).on('input', (m: NodeMessage) =>
        tables.push(m.payload as Row[]),
      );
      // The inject fires 5 s after deploy by itself; a click does the same now.
      helper.getNode(inject.id).receive({ payload: Date.now() } as NodeMessage);
      await until(() => tables.length >= 3, 30_000);
      // The function node builds its objects in its own VM context: compare plain copies.
      const last = JSON.parse(JSON.stringify(tables[tables.length - 1])) as Row[];
      assert.deepEqual(
        last.map((r) => [r.device, r.ok, r.added, r.disabled, r.failed]),
        [
          ['Door 0', true, 3, 3, 0],
          ['Door 1', true, 3, 3, 0],
          ['Door 2', false, 0, 0, 0],
        ],
      );
      assert.match(last[2].problem, /connection refused/);
      for (const port of ports.slice(0, 2)) {
        const c = new ZkClient({ host: '127.0.0.1', port, timeoutMs: 3000 });
        await c.connect();
        const users = new Map((await c.users()).map((u) => [u.userId, u]));
        await c.close();
        assert.deepEqual(
          ['501', '502', '503'].map((id) => [users.get(id)?.name, users.get(id)?.enabled]),
          [
            ['Ana', true],
            ['Bo', true],
            ['Cy', false],
          ],
        );
      }
    } finally {
      await pool.query('DROP TABLE IF EXISTS employees').catch(() => undefined);
      await pool.end();
    }
  });
});
