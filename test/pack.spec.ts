/**
 * What a user installs: `npm pack` → the tarball's file list (exactly dist/lib, dist/nodes with html,
 * locales and icons, dist/bin, examples, flows, README, LICENSE, CHANGELOG; no tests, no sources), then
 * `npm install <tarball>` into a fresh Node-RED user directory and an embedded Node-RED that must list every
 * PunchFlow node in the admin API (`GET /admin/nodes`): Node-RED 4.1 (our dev dependency; it also runs the
 * production flows there) and Node-RED 5.0 (installed into a temp directory; PUNCHFLOW_PACK_NR5=0 skips it).
 * Packs the current dist/ without running `prepare` (npm test builds first). About 30-45 s with a warm npm
 * cache; the installs use the npm registry when the cache is cold.
 */
import { strict as assert } from 'assert';
import { ChildProcess, spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

const root = path.join(__dirname, '..');
const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as {
  name: string;
  main?: string;
  bin?: Record<string, string>;
  'node-red': { nodes: Record<string, string> };
};
const NODE_TYPES = Object.keys(pkg['node-red'].nodes);
const PRODUCTION_FLOWS = ['fleet-mysql-access.json', 'live-http.json', 'workhours.json', 'dashboard2.json'];

/** npm, the same one that runs the tests when there is one (npm test), else from PATH. */
function npm(args: string[], cwd: string): string {
  const execPath = process.env.npm_execpath;
  const [cmd, argv] = execPath && execPath.endsWith('.js') ? [process.execPath, [execPath, ...args]] : ['npm', args];
  const r = spawnSync(cmd, argv, {
    cwd,
    encoding: 'utf8',
    timeout: 150_000,
    env: { ...process.env, npm_config_update_notifier: 'false' },
  });
  if (r.status !== 0) throw new Error(`npm ${args.join(' ')} failed (${r.status}): ${r.stderr.slice(-2000)}`);
  return r.stdout;
}

const INSTALL = [
  'install',
  '--no-audit',
  '--no-fund',
  '--prefer-offline',
  '--ignore-scripts',
  '--omit=optional',
  '--loglevel=error',
];

interface RuntimeReport {
  port: number;
  missing: string[];
  errors: string[];
  fatal?: string;
}

/** Starts test/support/pack-runtime.js and resolves with its report; the child runs until stopped. */
function startRuntime(
  nodeRedDir: string,
  userDir: string,
  flowFile: string | null,
  env: NodeJS.ProcessEnv,
): Promise<{ child: ChildProcess; report: RuntimeReport }> {
  const args = [
    path.join(root, 'test', 'support', 'pack-runtime.js'),
    nodeRedDir,
    userDir,
    ...(flowFile ? [flowFile] : []),
  ];
  const child = spawn(process.execPath, args, {
    cwd: userDir,
    env: { ...process.env, ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`Node-RED did not start in 60 s: ${err.slice(-2000)}`)), 60_000);
    child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (!line || !out.includes('\n')) return;
      clearTimeout(timer);
      const report = JSON.parse(line) as RuntimeReport;
      if (report.fatal) reject(new Error(report.fatal));
      else resolve({ child, report });
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`Node-RED exited (${code}) before reporting: ${err.slice(-2000)}`));
    });
  });
}

async function stopRuntime(child: ChildProcess | null): Promise<void> {
  if (!child || child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(t);
}

interface NodeSet {
  id: string;
  module: string;
  types: string[];
  enabled: boolean;
  err?: string;
  version: string;
}

async function listNodes(port: number): Promise<NodeSet[]> {
  const res = await fetch(`http://127.0.0.1:${port}/admin/nodes`, { headers: { Accept: 'application/json' } });
  assert.equal(res.status, 200);
  return (await res.json()) as NodeSet[];
}

function assertPaletteHasUs(sets: NodeSet[]): void {
  const ours = sets.filter((s) => s.module === pkg.name);
  assert.deepEqual(ours.flatMap((s) => s.types).sort(), [...NODE_TYPES].sort(), 'every node type of the package');
  for (const s of ours)
    assert.deepEqual([s.id, s.enabled, s.err], [s.id, true, undefined], `${s.id} loaded without error`);
}

/** Environment for the production flows: every address points at a closed loopback port. */
const FLOW_ENV: NodeJS.ProcessEnv = {
  PUNCHFLOW_FLEET: 'host,port,name\n127.0.0.1,9,closed port',
  PUNCHFLOW_MYSQL_PORT: '9',
  PUNCHFLOW_API_URL: 'http://127.0.0.1:9/punches',
};

describe('npm pack: the package a user installs', function () {
  this.timeout(180_000);
  let tmp: string;
  let files: string[] = [];
  let tarball: string;
  let userDir: string;
  let child: ChildProcess | null = null;

  before(() => {
    for (const t of NODE_TYPES)
      assert.ok(fs.existsSync(path.join(root, pkg['node-red'].nodes[t])), `${t}: build first (npm run build)`);
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pf-pack-'));
    const out = JSON.parse(npm(['pack', '--json', '--ignore-scripts', '--pack-destination', tmp], root)) as {
      filename: string;
      files: { path: string }[];
    }[];
    tarball = path.join(tmp, out[0].filename);
    files = out[0].files.map((f) => f.path).sort();
  });

  afterEach(async () => {
    await stopRuntime(child);
    child = null;
  });

  after(() => {
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('contains exactly what a user needs: compiled nodes with html, locales and icons, lib, bin, examples, flows, docs', () => {
    const allowed = [
      /^dist\/(lib|nodes|bin)\/.+\.(js|d\.ts|js\.map|html|json|svg|png)$/,
      /^examples\/(flows\/)?[\w-]+\.json$/,
      /^flows\/[\w-]+\.json$/,
      /^(README\.md|LICENSE|CHANGELOG\.md|package\.json)$/,
    ];
    const stray = files.filter((f) => !allowed.some((re) => re.test(f)));
    assert.deepEqual(stray, [], 'nothing else');
    assert.deepEqual(
      files.filter((f) => /(^|\/)test\/|\.spec\.|^dist\/bench\//.test(f)),
      [],
      'no tests or benchmarks',
    );
    assert.deepEqual(
      files.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts')),
      [],
      'no TypeScript sources',
    );
    for (const f of ['README.md', 'LICENSE', 'package.json']) assert.ok(files.includes(f), f);
    for (const t of NODE_TYPES) {
      const dir = path.posix.dirname(pkg['node-red'].nodes[t]);
      for (const f of [`${dir}/${t}.js`, `${dir}/${t}.html`, `${dir}/locales/en-US/${t}.json`])
        assert.ok(files.includes(f), f);
      assert.ok(
        files.some((f) => f.startsWith(`${dir}/icons/`)),
        `${t}: icons/`,
      );
    }
    for (const b of Object.values(pkg.bin ?? {})) assert.ok(files.includes(b.replace(/^\.\//, '')), `bin ${b}`);
    assert.ok(files.some((f) => f.startsWith('dist/lib/')));
    for (const f of PRODUCTION_FLOWS) assert.ok(files.includes(`flows/${f}`), f);
    assert.ok(files.filter((f) => f.startsWith('examples/')).length >= NODE_TYPES.length - 1, 'an example per node');
    // Every shipped flow also under examples/flows/, for Import → Examples (generated by the build).
    const shipped = fs
      .readdirSync(path.join(root, 'flows'))
      .filter((f) => f.endsWith('.json'))
      .sort();
    assert.deepEqual(
      files.filter((f) => f.startsWith('examples/flows/')).map((f) => f.slice('examples/flows/'.length)),
      shipped,
    );
  });

  describe('installed from the tarball into a fresh user directory', () => {
    before(() => {
      userDir = path.join(tmp, 'userdir');
      fs.mkdirSync(userDir);
      // What the palette manager does: a user directory with a package.json, then npm install <tarball>.
      fs.writeFileSync(
        path.join(userDir, 'package.json'),
        JSON.stringify({ name: 'node-red-project', private: true, description: 'a Node-RED user directory' }),
      );
      npm([...INSTALL, tarball], userDir);
      const installed = JSON.parse(fs.readFileSync(path.join(userDir, 'package.json'), 'utf8')) as {
        dependencies: Record<string, string>;
      };
      assert.ok(installed.dependencies[pkg.name], 'the user directory depends on the package');
    });

    it('package.json "main" resolves in the installed package (or is absent)', () => {
      if (!pkg.main) return;
      const r = spawnSync(process.execPath, ['-e', `require(${JSON.stringify(pkg.name)})`], {
        cwd: userDir,
        encoding: 'utf8',
      });
      assert.equal(
        r.status,
        0,
        `require("${pkg.name}") fails: package.json main is ${pkg.main}, which the package does not contain`,
      );
    });

    it('the zk command runs from the installed package', () => {
      const dir = path.join(userDir, 'node_modules', ...pkg.name.split('/'));
      for (const b of Object.values(pkg.bin ?? {})) {
        const r = spawnSync(process.execPath, [path.join(dir, b), '--help'], { encoding: 'utf8' });
        assert.equal(r.status, 0, r.stderr);
        assert.match(r.stdout, /zk sim/);
      }
      // As the README tells a user: `npx zk` in the user directory finds the installed copy (no registry).
      assert.match(npm(['exec', '--no', '--offline', '--', 'zk', '--help'], userDir), /zk sim/);
    });

    it('Node-RED 4.1: /admin/nodes lists every PunchFlow node; the production flows start with no missing types or errors', async () => {
      const nodeRed = path.dirname(require.resolve('node-red/package.json', { paths: [root] }));
      // All production flows at once (ids are distinct), with the dashboards from the repo's dev dependencies.
      const flows = PRODUCTION_FLOWS.flatMap(
        (f) => JSON.parse(fs.readFileSync(path.join(root, 'flows', f), 'utf8')) as unknown[],
      );
      const flowFile = path.join(tmp, 'production-flows.json');
      fs.writeFileSync(flowFile, JSON.stringify(flows));
      const started = await startRuntime(nodeRed, userDir, flowFile, FLOW_ENV);
      child = started.child;
      const { port, missing, errors } = started.report;
      const sets = await listNodes(port);
      assertPaletteHasUs(sets);
      const version = JSON.parse(fs.readFileSync(path.join(nodeRed, 'package.json'), 'utf8')) as { version: string };
      assert.match(version.version, /^4\.1\./);
      // Loaded from the user directory (the tarball), not from the repository.
      const ours = sets.find((s) => s.module === pkg.name);
      assert.equal(
        ours?.version,
        (JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string }).version,
      );
      assert.deepEqual(missing, [], 'no unknown node types');
      assert.deepEqual(errors, [], 'no errors while starting');
      for (const p of ['/ui/', '/dashboard/'])
        assert.equal((await fetch(`http://127.0.0.1:${port}${p}`)).status, 200, p);

      // Import → Examples offers every flow of flows/, byte for byte the same flow (no file copy needed on a server).
      const lib = `http://127.0.0.1:${port}/admin/library/examples/flows/${pkg.name}/flows/`;
      const listed = (await (await fetch(lib)).json()) as { fn: string }[];
      const shipped = fs
        .readdirSync(path.join(root, 'flows'))
        .filter((f) => f.endsWith('.json'))
        .map((f) => f.slice(0, -5))
        .sort();
      assert.deepEqual(listed.map((e) => e.fn).sort(), shipped);
      for (const name of shipped) {
        const res = await fetch(lib + name);
        assert.equal(res.status, 200, name);
        assert.deepEqual(
          await res.json(),
          JSON.parse(fs.readFileSync(path.join(root, 'flows', `${name}.json`), 'utf8')),
          `${name}: the example equals flows/${name}.json`,
        );
      }
    });

    it('Node-RED 5.0 (embedded; its CLI needs Node ≥ 22.9): /admin/nodes lists every PunchFlow node', async function () {
      if (process.env.PUNCHFLOW_PACK_NR5 === '0') this.skip();
      const nr5 = path.join(tmp, 'nr5');
      fs.mkdirSync(nr5);
      fs.writeFileSync(path.join(nr5, 'package.json'), JSON.stringify({ name: 'nr5', private: true }));
      npm([...INSTALL, 'node-red@5'], nr5);
      const nodeRed = path.join(nr5, 'node_modules', 'node-red');
      assert.match(
        (JSON.parse(fs.readFileSync(path.join(nodeRed, 'package.json'), 'utf8')) as { version: string }).version,
        /^5\./,
      );
      const flowFile = path.join(root, 'flows', 'live-http.json'); // no dashboard nodes: those are not installed here
      const started = await startRuntime(nodeRed, userDir, flowFile, FLOW_ENV);
      child = started.child;
      assertPaletteHasUs(await listNodes(started.report.port));
      assert.deepEqual(started.report.missing, []);
      // Node-RED 5 on Node 20 logs an "Unsupported version of Node.js" banner: expected here.
      const banner = /Unsupported version of Node\.js|^\s*:\s*\*+\s*$/;
      assert.deepEqual(
        started.report.errors.filter((e) => !banner.test(e)),
        [],
      );
    });
  });
});
