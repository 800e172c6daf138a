/**
 * The multi-instance deployment on a real broker: Mosquitto (persistence on), two capture instances running
 * flows/capture-mqtt.json (shards 0/2 and 1/2 of six simulated devices punching live), two sink instances
 * running flows/sink-mqtt.json on one shared subscription into MariaDB. During the run each capture instance
 * and each sink instance is killed with SIGKILL once and started again on its user directory, and the broker
 * is restarted once. Afterwards every punch the simulators hold is in MySQL exactly once.
 */
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { startSimulators, ZkSimulator } from '../../lib/sim';
import type { WallClock } from '../../lib/protocol';
import { formatWallClock } from '../../lib/protocol';
import { MosquittoBroker } from '../support/mosquitto';
import { sharedMariaDb, testPool } from '../../support/mariadb';
import { E2eRuntime, FlowNode, loadFlowFile, startRuntime } from './runtime';
import { sleep, until } from '../../support/wait';

function wallNow(): WallClock {
  const d = new Date();
  return {
    year: d.getUTCFullYear(),
    month: d.getUTCMonth() + 1,
    day: d.getUTCDate(),
    hour: d.getUTCHours(),
    minute: d.getUTCMinutes(),
    second: d.getUTCSeconds(),
  };
}

describe('e2e: capture and sink instances over MQTT, each killed once, the broker restarted', function () {
  this.timeout(240_000);
  let broker: MosquittoBroker | null = null;
  let sims: ZkSimulator[] = [];
  const runtimes = new Map<string, E2eRuntime>();
  const dirs: string[] = [];
  let punching: NodeJS.Timeout | null = null;

  after(async () => {
    if (punching) clearInterval(punching);
    for (const rt of runtimes.values()) await rt.stop().catch(() => undefined);
    for (const s of sims) await s.stop();
    await broker?.destroy();
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });

  it('every punch of the simulators reaches MySQL exactly once', async function () {
    const db = await sharedMariaDb();
    if (!db) return this.skip();
    broker = await MosquittoBroker.create();
    sims = await startSimulators({ devices: 6, records: 50, users: 20, transports: 'tcp', tz: 'UTC', seed: 11 });
    const fleet = [
      'host,port,name,site',
      ...sims.map((s, i) => `127.0.0.1,${s.port},Door ${i + 1},Site ${i % 2}`),
    ].join('\n');
    const table = 'mqtt_cluster_log'; // its own table: other specs share the database
    const pool = testPool(db);

    const capture = loadFlowFile('flows/capture-mqtt.json');
    const sinkFlow = (): FlowNode[] =>
      loadFlowFile('flows/sink-mqtt.json').map((n) =>
        n.type === 'zk-sink' ? { ...n, table, credentials: { password: db.password } } : n,
      );
    const mqttEnv = {
      PUNCHFLOW_MQTT_URL: broker.url,
      PUNCHFLOW_MQTT_HOST: broker.host,
      PUNCHFLOW_MQTT_PORT: String(broker.port),
    };
    const envs: Record<string, Record<string, string>> = {
      'capture-0': { ...mqttEnv, PUNCHFLOW_FLEET: fleet, PUNCHFLOW_TZ: 'UTC', PUNCHFLOW_SHARD: '0/2' },
      'capture-1': { ...mqttEnv, PUNCHFLOW_FLEET: fleet, PUNCHFLOW_TZ: 'UTC', PUNCHFLOW_SHARD: '1/2' },
      'sink-a': {
        ...mqttEnv,
        PUNCHFLOW_MQTT_CLIENT_ID: 'punchflow-test-sink-a',
        PUNCHFLOW_MYSQL_HOST: db.host,
        PUNCHFLOW_MYSQL_PORT: String(db.port),
        PUNCHFLOW_MYSQL_DB: db.database,
        PUNCHFLOW_MYSQL_USER: db.user,
      },
      'sink-b': {
        ...mqttEnv,
        PUNCHFLOW_MQTT_CLIENT_ID: 'punchflow-test-sink-b',
        PUNCHFLOW_MYSQL_HOST: db.host,
        PUNCHFLOW_MYSQL_PORT: String(db.port),
        PUNCHFLOW_MYSQL_DB: db.database,
        PUNCHFLOW_MYSQL_USER: db.user,
      },
    };
    const userDirs: Record<string, string> = {};
    for (const name of Object.keys(envs)) {
      userDirs[name] = fs.mkdtempSync(path.join(os.tmpdir(), `punchflow-${name}-`));
      dirs.push(userDirs[name]);
    }
    const start = async (name: string, flows?: FlowNode[]): Promise<void> => {
      const rt = await startRuntime({ env: envs[name], userDir: userDirs[name] });
      runtimes.set(name, rt);
      if (flows) await rt.deploy(flows, { settleMs: 0 });
    };
    const kill = async (name: string): Promise<void> => {
      await runtimes.get(name)?.kill();
      runtimes.delete(name);
    };
    // Sinks first: their sessions exist at the broker before the first record is published.
    await start('sink-a', sinkFlow());
    await start('sink-b', sinkFlow());
    await start('capture-0', capture);
    await start('capture-1', capture);

    let n = 0;
    punching = setInterval(() => {
      n++;
      for (const s of sims) {
        const u = s.users[n % s.users.length];
        try {
          s.punch({ userId: u.userId, at: wallNow() });
        } catch {
          // same user and second: skipped
        }
      }
    }, 1000);

    const rows = async (): Promise<number> => {
      try {
        const [r] = await pool.query(`SELECT COUNT(*) AS n FROM \`${table}\``);
        return Number((r as { n: number }[])[0].n);
      } catch {
        return 0;
      }
    };
    const waitRows = (min: number, what: string): Promise<boolean> =>
      until(async () => (await rows()) >= min, 60_000, what, 200);

    await waitRows(300, 'the history of the six devices');
    // Each failure in turn, with punches going on throughout.
    await kill('capture-0');
    await sleep(1500);
    await start('capture-0');
    await kill('sink-a');
    await sleep(1500);
    await start('sink-a');
    await broker.stop();
    await sleep(1500);
    await broker.start();
    await kill('capture-1');
    await sleep(1500);
    await start('capture-1');
    await kill('sink-b');
    await sleep(1500);
    await start('sink-b');
    await sleep(2000);
    clearInterval(punching);
    punching = null;

    const expected = new Set<string>();
    for (const s of sims) for (const r of s.records) expected.add(`${s.serial}|${r.userId}|${formatWallClock(r.time)}`);
    // Until everything arrived, or nothing more arrived for a while (a loss, not a backlog).
    let got: string[] = [];
    let lastCount = -1;
    let lastChange = Date.now();
    const progress: number[] = [];
    for (;;) {
      const [r] = await pool.query(`SELECT device_sn, user_id, local_time FROM \`${table}\``);
      got = (r as { device_sn: string; user_id: string; local_time: string }[]).map(
        (x) => `${x.device_sn}|${x.user_id}|${String(x.local_time).replace(' ', 'T')}`,
      );
      if (got.length !== lastCount) {
        lastCount = got.length;
        lastChange = Date.now();
        progress.push(got.length);
      }
      if (got.length >= expected.size || Date.now() - lastChange > 30_000) break;
      await sleep(500);
    }
    const gotSet = new Set(got);
    const missing = [...expected].filter((id) => !gotSet.has(id));
    if (missing.length > 0) {
      // What a person needs to see why: the missing per device, and what each instance warned about.
      const perDevice = new Map<string, number>();
      for (const id of missing) perDevice.set(id.split('|')[0], (perDevice.get(id.split('|')[0]) ?? 0) + 1);
      const warnings = [...runtimes.entries()].map(
        ([name, rt]) =>
          `${name}: ${rt.logs
            .filter((e) => e.level <= 30)
            .map((e) => `${e.type ?? ''} ${e.msg}`)
            .slice(-15)
            .join('\n  ')}`,
      );
      const times = missing.map((id) => id.split('|')[2]).sort();
      // eslint-disable-next-line no-console
      console.log(
        `missing per device: ${JSON.stringify([...perDevice])}, from ${times[0]} to ${times[times.length - 1]}; rows seen: ${progress.slice(-10).join(' ')}\n${warnings.join('\n')}`,
      );
    }
    assert.deepEqual(missing.slice(0, 10), [], `${missing.length} of ${expected.size} punches missing in MySQL`);
    assert.equal(got.length, expected.size, 'nothing doubled and nothing foreign');
    assert.equal(new Set(got).size, got.length);
    assert.ok(n >= 8 && expected.size >= sims.length * (50 + 8), 'punches were made throughout the run');
    await pool.end();
  });
});
