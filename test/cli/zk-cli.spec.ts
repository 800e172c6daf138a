/**
 * The `zk` command line as a user runs it: a child process against in-process simulators on loopback.
 * It runs the built dist/bin/zk.js when every compiled file is at least as new as its source (as after
 * `npm run build`, which `npm test` does first), and the TypeScript entry through ts-node otherwise, so
 * a stale build is never tested. ZK_CLI=dist or ZK_CLI=ts forces one.
 */
import assert from 'node:assert/strict';
import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { ZkSimulator, SimOptions } from '../../lib/sim';
import { freePort } from '../../support/ports';
import { Cmd } from '../../lib/protocol/constants';
import { formatWallClock, isValidWallClock, decodeTime } from '../../lib/protocol/time';
import { ATTENDANCE_RECORD_FIELDS, AttendanceRecord } from '../../lib/record/canonical';
import { until } from '../../support/wait';

const ROOT = path.resolve(__dirname, '..', '..');

/** True when dist/ holds a build of every .ts file under lib/ and bin/ at least as new as the source. */
function distIsFresh(): boolean {
  const walk = (dir: string): string[] =>
    fs
      .readdirSync(path.join(ROOT, dir), { withFileTypes: true })
      .flatMap((e) =>
        e.isDirectory()
          ? walk(path.join(dir, e.name))
          : e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')
            ? [path.join(dir, e.name)]
            : [],
      );
  try {
    return [...walk('lib'), ...walk('bin')].every((src) => {
      const out = path.join(ROOT, 'dist', src.replace(/\.ts$/, '.js'));
      return fs.existsSync(out) && fs.statSync(out).mtimeMs >= fs.statSync(path.join(ROOT, src)).mtimeMs;
    });
  } catch {
    return false;
  }
}

const USE_DIST = process.env.ZK_CLI === 'dist' || (process.env.ZK_CLI !== 'ts' && distIsFresh());

function zkArgs(args: string[]): string[] {
  return USE_DIST
    ? [path.join(ROOT, 'dist', 'bin', 'zk.js'), ...args]
    : ['-r', 'ts-node/register/transpile-only', path.join(ROOT, 'bin', 'zk.ts'), ...args];
}

interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function start(args: string[]): { child: ChildProcess; done: Promise<RunResult> } {
  const child = spawn(process.execPath, zkArgs(args), {
    cwd: ROOT,
    env: { ...process.env, TS_NODE_TRANSPILE_ONLY: 'true', ZK_DEBUG: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const done = new Promise<RunResult>((resolve) => {
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  return { child, done };
}

const children = new Set<ChildProcess>();

function run(args: string[], timeoutMs = 60_000): Promise<RunResult> {
  const { child, done } = start(args);
  children.add(child);
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  return done.finally(() => {
    clearTimeout(timer);
    children.delete(child);
  });
}

function stderrLines(r: RunResult): string[] {
  return r.stderr.split('\n').filter((l) => l !== '');
}

function expectedIds(sim: ZkSimulator): string[] {
  return sim.records
    .filter((r) => r.rawTime === undefined || isValidWallClock(decodeTime(r.rawTime)))
    .map((r) => `${sim.serial}|${r.userId}|${formatWallClock(r.time)}`);
}

describe(`zk command line (child process: ${USE_DIST ? 'dist/bin/zk.js' : 'ts-node bin/zk.ts'}, loopback simulators)`, function () {
  this.timeout(120_000);
  const sims: ZkSimulator[] = [];

  async function sim(opts: SimOptions): Promise<{ sim: ZkSimulator; target: string }> {
    const s = new ZkSimulator({ host: '127.0.0.1', port: 0, tz: 'UTC', ...opts });
    sims.push(s);
    const { port } = await s.start();
    return { sim: s, target: `127.0.0.1:${port}` };
  }

  afterEach(async () => {
    for (const c of children) c.kill('SIGKILL');
    await Promise.all(sims.splice(0).map((s) => s.stop()));
  });

  describe('zk sim', () => {
    it('prints one ready line per device and exits 0 on SIGINT', async () => {
      const { child, done } = start([
        'sim',
        '--port',
        '0',
        '--host',
        '127.0.0.1',
        '--records',
        '25',
        '--users',
        '4',
        '--devices',
        '2',
        '--seed',
        '5',
        '--tz',
        'UTC',
      ]);
      children.add(child);
      let out = '';
      child.stdout?.on('data', (d: Buffer | string) => (out += String(d)));
      await until(() => out.split('\n').filter(Boolean).length >= 2, 30_000, 'two ready lines');
      const lines = out
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      assert.equal(lines.length, 2);
      for (const l of lines) {
        assert.deepEqual(Object.keys(l), ['ready', 'host', 'port', 'serial', 'records', 'users', 'liveEvery']);
        assert.equal(l.liveEvery, 5);
        assert.equal(l.ready, true);
        assert.equal(l.host, '127.0.0.1');
        assert.equal(l.records, 25);
        assert.equal(l.users, 4);
        assert.ok(typeof l.port === 'number' && l.port > 0);
      }
      assert.notEqual(lines[0].serial, lines[1].serial);
      assert.notEqual(lines[0].port, lines[1].port);

      // The simulator answers: the CLI's own info reads back the serial it announced.
      const info = await run(['info', `127.0.0.1:${String(lines[0].port)}`, '--json', '--tz', 'UTC']);
      assert.equal(info.code, 0, info.stderr);
      assert.equal((JSON.parse(info.stdout) as { serial: string }).serial, lines[0].serial);

      child.kill('SIGINT');
      const r = await done;
      children.delete(child);
      assert.equal(r.signal, null);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stderr, '');
    });

    /** Starts `zk sim` with args and resolves with its ready lines once all `devices` are up. */
    async function simChild(
      args: string[],
      devices = 1,
    ): Promise<{ ready: Array<{ port: number; serial: string }>; stop: () => Promise<RunResult> }> {
      const { child, done } = start(['sim', '--host', '127.0.0.1', '--tz', 'UTC', ...args]);
      children.add(child);
      let out = '';
      child.stdout?.on('data', (d: Buffer | string) => (out += String(d)));
      await until(
        () => out.split('\n').filter(Boolean).length >= devices || child.exitCode !== null,
        30_000,
        'ready lines',
      );
      const ready = out
        .trim()
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as { port: number; serial: string });
      assert.equal(ready.length, devices, 'every device announced itself');
      const stop = async () => {
        child.kill('SIGINT');
        const r = await done;
        children.delete(child);
        return r;
      };
      return { ready, stop };
    }

    it('serials follow the port unless --seed fixes them; user ids are plain unless --user-ids edge', async () => {
      const [p1, p2] = [await freePort(), await freePort()];
      const a = await simChild(['--port', String(p1), '--records', '5', '--users', '8']);
      const b = await simChild(['--port', String(p2), '--records', '5', '--users', '8']);
      try {
        assert.notEqual(a.ready[0].serial, b.ready[0].serial, 'two runs on other ports must not share a serial');
        const users = await run(['users', `127.0.0.1:${p1}`, '--json']);
        assert.equal(users.code, 0, users.stderr);
        const ids = users.stdout
          .trim()
          .split('\n')
          .map((l) => (JSON.parse(l) as { userId: string }).userId);
        assert.equal(ids.length, 8);
        for (const id of ids) assert.match(id, /^[1-9]\d{3}$/, 'plain ids: no 24-digit id, no leading zeros');
      } finally {
        await a.stop();
        await b.stop();
      }
      const [p3, p4] = [await freePort(), await freePort()];
      const c = await simChild([
        '--port',
        String(p3),
        '--records',
        '5',
        '--users',
        '8',
        '--seed',
        '42',
        '--user-ids',
        'edge',
      ]);
      const d = await simChild(['--port', String(p4), '--records', '5', '--users', '8', '--seed', '42']);
      try {
        assert.equal(c.ready[0].serial, d.ready[0].serial, '--seed fixes the serial');
        const users = await run(['users', `127.0.0.1:${p3}`, '--json']);
        const ids = users.stdout
          .trim()
          .split('\n')
          .map((l) => (JSON.parse(l) as { userId: string }).userId);
        assert.ok(
          ids.some((id) => id.length === 24),
          'edge ids: a 24-digit id',
        );
        assert.ok(
          ids.some((id) => id.startsWith('00')),
          'edge ids: leading zeros',
        );
      } finally {
        await c.stop();
        await d.stop();
      }
    });

    it('the README example: `zk live` against a plain `zk sim` says it waits on stderr, then prints punches', async () => {
      const sim = await simChild(['--port', '0', '--records', '5', '--users', '4']);
      try {
        const { child, done } = start(['live', `127.0.0.1:${sim.ready[0].port}`, '--count', '1', '--tz', 'UTC']);
        children.add(child);
        let err = '';
        child.stderr?.on('data', (d: Buffer | string) => (err += String(d)));
        // Said on stderr even when stderr is a pipe, as it is here.
        await until(() => err.includes('\n'), 30_000, 'the waiting line');
        assert.equal(
          err,
          `zk: connected to 127.0.0.1:${sim.ready[0].port} (serial ${sim.ready[0].serial}); waiting for punches, Ctrl-C to stop\n`,
        );
        const r = await done;
        children.delete(child);
        assert.equal(r.code, 0, r.stderr);
        const rec = JSON.parse(r.stdout) as AttendanceRecord;
        assert.equal(rec.source, 'live');
        assert.equal(rec.deviceSn, sim.ready[0].serial);
      } finally {
        await sim.stop();
      }
    });

    it('--udp starts UDP-only simulators', async () => {
      const { child, done } = start([
        'sim',
        '--port',
        '0',
        '--records',
        '5',
        '--udp',
        '--live-every',
        '0',
        '--tz',
        'UTC',
      ]);
      children.add(child);
      let out = '';
      child.stdout?.on('data', (d: Buffer | string) => (out += String(d)));
      await until(() => out.includes('\n'), 30_000, 'ready line');
      const { port } = JSON.parse(out.split('\n')[0]) as { port: number };
      const tcp = await run(['info', `127.0.0.1:${port}`, '--timeout', '2000']);
      assert.equal(tcp.code, 1);
      const udp = await run(['fetch', `127.0.0.1:${port}`, '--udp', '--tz', 'UTC']);
      assert.equal(udp.code, 0, udp.stderr);
      assert.equal(udp.stdout.trim().split('\n').length, 5);
      child.kill('SIGTERM');
      assert.equal((await done).code, 0);
      children.delete(child);
    });
  });

  describe('zk fetch', () => {
    it('prints exactly the 50,000 records of the device as distinct canonical NDJSON records', async () => {
      const { sim: s, target } = await sim({ records: 50_000, users: 40, seed: 11 });
      const r = await run(['fetch', target, '--format', 'ndjson', '--tz', 'UTC']);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stderr, '');
      const lines = r.stdout.split('\n');
      assert.equal(lines.pop(), '', 'ends with a newline');
      assert.equal(lines.length, 50_000);
      const recs = lines.map((l) => JSON.parse(l) as AttendanceRecord);
      const ids = recs.map((x) => x.id);
      assert.equal(new Set(ids).size, 50_000, 'ids distinct');
      assert.deepEqual([...ids].sort(), expectedIds(s).sort());
      for (const x of recs.slice(0, 100)) {
        assert.deepEqual(Object.keys(x), [...ATTENDANCE_RECORD_FIELDS]);
        assert.equal(x.deviceSn, s.serial);
        assert.equal(x.deviceHost, target);
        assert.equal(x.source, 'poll');
        assert.equal(x.tz, 'UTC');
        assert.equal(x.timestamp, `${x.localTime}.000Z`);
        assert.equal(x.id, `${x.deviceSn}|${x.userId}|${x.localTime}`);
      }
    });

    it('applies --tz to timestamps', async () => {
      const { target } = await sim({ records: 30, users: 5, seed: 2, tz: 'Asia/Kolkata' });
      const r = await run(['fetch', target, '--tz', 'Asia/Kolkata']);
      assert.equal(r.code, 0, r.stderr);
      for (const l of r.stdout.trim().split('\n')) {
        const x = JSON.parse(l) as AttendanceRecord;
        assert.equal(Date.parse(x.timestamp), Date.parse(`${x.localTime}Z`) - 330 * 60_000);
        assert.equal(x.tz, 'Asia/Kolkata');
      }
    });

    it('--format csv prints a header and one row per record, to stdout or --out', async () => {
      const { sim: s, target } = await sim({ records: 20, users: 5, seed: 3 });
      const r = await run(['fetch', target, '--format', 'csv', '--tz', 'UTC']);
      assert.equal(r.code, 0, r.stderr);
      const rows = r.stdout.split('\r\n');
      assert.equal(rows.pop(), '');
      assert.equal(rows[0], ATTENDANCE_RECORD_FIELDS.join(','));
      assert.equal(rows.length, 21);
      const idCol = rows.slice(1).map((row) => row.split(',')[0]);
      assert.deepEqual(idCol.sort(), expectedIds(s).sort());

      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zk-cli-'));
      try {
        const file = path.join(dir, 'out.csv');
        const w = await run(['fetch', target, '--format', 'csv', '--tz', 'UTC', '--out', file]);
        assert.equal(w.code, 0, w.stderr);
        assert.equal(w.stdout, `wrote 20 records to ${file}\n`);
        const content = fs.readFileSync(file, 'utf8');
        assert.equal(content.split('\r\n')[0], rows[0]);
        assert.equal(content.split('\r\n').length, 22);
        const bad = await run(['fetch', target, '--tz', 'UTC', '--out', path.join(dir, 'no', 'such', 'dir', 'x')]);
        assert.equal(bad.code, 1);
        assert.equal(stderrLines(bad).length, 1);
        assert.match(bad.stderr, /^zk: .*ENOENT/);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });

    it('--since / --until filter on the device wall clock, inclusive', async () => {
      const { sim: s, target } = await sim({ records: 200, users: 5, seed: 4 });
      const times = s.records.map((x) => formatWallClock(x.time)).sort();
      const since = times[50];
      const until = times[149];
      const r = await run(['fetch', target, '--tz', 'UTC', '--since', since, '--until', until]);
      assert.equal(r.code, 0, r.stderr);
      const got = r.stdout
        .trim()
        .split('\n')
        .map((l) => (JSON.parse(l) as AttendanceRecord).localTime);
      assert.equal(got.length, times.filter((t) => t >= since && t <= until).length);
      assert.ok(got.every((t) => t >= since && t <= until));
      const day = times[0].slice(0, 10);
      const d = await run(['fetch', target, '--tz', 'UTC', '--until', day]);
      assert.equal(
        d.stdout.trim().split('\n').filter(Boolean).length,
        times.filter((t) => t.slice(0, 10) <= day).length,
      );
    });

    it('skips records with impossible times with one warning line each, and still exits 0', async () => {
      const { sim: s, target } = await sim({ records: 10, users: 3, seed: 6, faults: { invalidTimestamps: 'feb31' } });
      const bad = s.records.filter((x) => x.rawTime !== undefined);
      assert.ok(bad.length >= 1, 'the simulator made an invalid record');
      const r = await run(['fetch', target, '--tz', 'UTC']);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout.trim().split('\n').length, 10 - bad.length);
      const warnings = stderrLines(r);
      assert.ok(warnings.length >= bad.length);
      assert.match(
        warnings[0],
        new RegExp(
          `^zk: warning: device ${s.serial} \\(${target}\\): .*impossible time .*-02-31T.*raw 0x[0-9a-f]{8}.*skipped$`,
        ),
      );
    });
  });

  describe('zk live', () => {
    it('--count 2 prints two canonical records for two punches and exits 0', async () => {
      const { sim: s, target } = await sim({ records: 5, users: 5, seed: 7 });
      const p = run(['live', target, '--count', '2', '--tz', 'UTC']);
      await until(() => (s.counters.commandsSeen[Cmd.REG_EVENT] ?? 0) >= 1, 30_000, 'REG_EVENT from the CLI');
      const user = s.users[0].userId;
      s.punch({
        userId: user,
        state: 0,
        verify: 1,
        at: { year: 2024, month: 3, day: 15, hour: 8, minute: 0, second: 1 },
      });
      s.punch({
        userId: user,
        state: 1,
        verify: 15,
        at: { year: 2024, month: 3, day: 15, hour: 17, minute: 0, second: 2 },
      });
      const r = await p;
      assert.equal(r.code, 0, r.stderr);
      const recs = r.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as AttendanceRecord);
      assert.equal(recs.length, 2);
      assert.deepEqual(
        recs.map((x) => [x.id, x.direction, x.verifyMethod, x.source, x.timestamp]),
        [
          [`${s.serial}|${user}|2024-03-15T08:00:01`, 'in', 'fingerprint', 'live', '2024-03-15T08:00:01.000Z'],
          [`${s.serial}|${user}|2024-03-15T17:00:02`, 'out', 'face', 'live', '2024-03-15T17:00:02.000Z'],
        ],
      );
    });

    it('exits 0 on SIGINT before --count is reached', async () => {
      const { sim: s, target } = await sim({ records: 5, users: 5, seed: 8 });
      const { child, done } = start(['live', target, '--tz', 'UTC']);
      children.add(child);
      let printed = '';
      child.stdout?.on('data', (d: string) => (printed += d));
      await until(() => (s.counters.commandsSeen[Cmd.REG_EVENT] ?? 0) >= 1, 30_000, 'REG_EVENT from the CLI');
      s.punch({ userId: s.users[1].userId });
      await until(() => printed.includes('\n'), 5_000, 'the punch printed');
      child.kill('SIGINT');
      const r = await done;
      children.delete(child);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout.trim().split('\n').length, 1);
    });
  });

  describe('failures: non-zero exit and one line on stderr', () => {
    it('wrong comm key', async () => {
      const { target } = await sim({ records: 5, users: 2, commKey: 1234 });
      const r = await run(['info', target, '--comm-key', '99']);
      assert.equal(r.code, 1);
      assert.equal(r.stdout, '');
      assert.deepEqual(stderrLines(r), [`zk: device ${target} rejected the comm key — check --comm-key`]);
      const missing = await run(['fetch', target]);
      assert.equal(missing.code, 1);
      assert.deepEqual(stderrLines(missing), [`zk: device ${target} requires a comm key — pass it with --comm-key`]);
      const right = await run(['fetch', target, '--comm-key', '1234', '--tz', 'UTC']);
      assert.equal(right.code, 0, right.stderr);
      assert.equal(right.stdout.trim().split('\n').length, 5);
    });

    it('unreachable port', async () => {
      const port = await freePort();
      for (const cmd of ['info', 'users', 'fetch', 'live']) {
        const r = await run([cmd, `127.0.0.1:${port}`, '--timeout', '3000']);
        assert.equal(r.code, 1, cmd);
        assert.deepEqual(
          stderrLines(r),
          [
            `zk: cannot reach 127.0.0.1:${port} over TCP: connection refused — check the host, port and that the device is on`,
          ],
          cmd,
        );
      }
    });

    it('no answer over TCP: a timeout line; Ctrl-C while waiting exits 130 at once', async () => {
      const { sim: s, target } = await sim({ records: 1, users: 1, faults: { tcpMode: 'blackhole' } });
      const r = await run(['info', target, '--timeout', '700']);
      assert.equal(r.code, 1);
      assert.equal(stderrLines(r).length, 1);
      assert.match(r.stderr, new RegExp(`^zk: ${target} did not answer CONNECT within 700 ms .*--udp`));
      const { child, done } = start(['live', target, '--timeout', '20000']);
      children.add(child);
      // Its TCP connection is the sign that it listens for Ctrl-C (set up before connecting); a fixed wait raced ts-node.
      await until(() => s.counters.connections >= 2, 30_000, 'the live command connecting');
      const t0 = Date.now();
      child.kill('SIGINT');
      const i = await done;
      children.delete(child);
      assert.equal(i.code, 130);
      assert.deepEqual(stderrLines(i), ['zk: interrupted']);
      assert.ok(Date.now() - t0 < 5000, 'did not wait for the 20 s timeout');
    });

    it('no answer over UDP: a timeout line', async () => {
      const port = await freePort();
      const r = await run(['info', `127.0.0.1:${port}`, '--udp', '--timeout', '500']);
      assert.equal(r.code, 1);
      const lines = stderrLines(r);
      assert.equal(lines.length, 1);
      assert.match(lines[0], new RegExp(`^zk: .*127\\.0\\.0\\.1:${port}`));
    });

    it('a port that answers HTTP: one line saying so, not a bad frame', async () => {
      const web = http.createServer((_req, res) => res.end('ok'));
      await new Promise<void>((r) => web.listen(0, '127.0.0.1', () => r()));
      const { port } = web.address() as net.AddressInfo;
      try {
        const r = await run(['info', `127.0.0.1:${port}`, '--timeout', '3000']);
        assert.equal(r.code, 1);
        const lines = stderrLines(r);
        assert.equal(lines.length, 1, r.stderr);
        assert.match(
          lines[0],
          new RegExp(
            `^zk: 127\\.0\\.0\\.1:${port} answers HTTP .*not the ZK protocol: perhaps a push-mode \\(ADMS/iclock\\) device or a web page`,
          ),
        );
      } finally {
        web.closeAllConnections();
        await new Promise<void>((r) => web.close(() => r()));
      }
    });

    it('bad usage exits 2 with the usage line', async () => {
      for (const args of [['frobnicate'], ['fetch'], ['fetch', '127.0.0.1', '--bogus'], []]) {
        const r = await run(args);
        assert.equal(r.code, 2, args.join(' '));
        assert.match(r.stderr, /^zk: .+\nusage: zk <sim\|info\|users\|fetch\|live[|>]/, args.join(' '));
        assert.ok(!/\n\s+at /.test(r.stderr), 'no stack trace');
      }
      const h = await run(['--help']);
      assert.equal(h.code, 0);
      assert.match(h.stdout, /zk fetch HOST\[:PORT\]/);
    });
  });

  describe('zk users and zk info', () => {
    it('users: a table, or JSON lines without passwords', async () => {
      const { sim: s, target } = await sim({ records: 5, users: 6, seed: 9 });
      const t = await run(['users', target]);
      assert.equal(t.code, 0, t.stderr);
      const lines = t.stdout.trimEnd().split('\n');
      assert.match(lines[0], /^UID\s+USER ID\s+NAME/);
      assert.equal(lines.length, 7);
      const j = await run(['users', target, '--json']);
      const users = j.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      assert.deepEqual(
        users.map((u) => u.userId),
        s.users.map((u) => u.userId),
      );
      assert.ok(users.every((u) => !('password' in u) && typeof u.hasPassword === 'boolean'));
    });

    it('info: a readable summary', async () => {
      const { sim: s, target } = await sim({ records: 7, users: 3, seed: 10 });
      const r = await run(['info', target, '--tz', 'UTC']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`^Serial: +${s.serial}$`, 'm'));
      assert.match(r.stdout, /^Records: +7 of \d+/m);
      assert.match(r.stdout, /^Users: +3 of \d+/m);
    });
  });
});
