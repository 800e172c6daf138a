/** `zk sim --push URL`: simulated devices push to a server like firmware does (CLI in a child process). */
import { strict as assert } from 'assert';
import { spawn } from 'child_process';
import * as path from 'path';
import { parseCli, UsageError } from '../../lib/cli/args';
import { pushTroubleText } from '../../bin/commands';
import { removeDir } from '../support/node-red';
import { until } from '../../support/wait';
import { startPush, Running } from './support';

describe('zk sim --push', function () {
  this.timeout(60000);
  let run: Running | null = null;
  afterEach(async () => {
    if (run) {
      await run.close();
      removeDir(run.dir);
      run = null;
    }
  });

  it('parses --push and refuses what is not an http URL', () => {
    const c = parseCli(['sim', '--push', '127.0.0.1:8081', '--devices', '2']);
    assert.ok(c.command === 'sim' && c.push === 'http://127.0.0.1:8081/');
    assert.ok(!('push' in parseCli(['sim'])), 'pull mode unchanged');
    assert.throws(() => parseCli(['sim', '--push', 'ftp://x']), UsageError);
    assert.throws(() => parseCli(['sim', '--push', 'http://[bad']), UsageError);
  });

  it('devices hand-shake, upload their backlog in batches and print one ready line each; Ctrl-C stops them', async () => {
    run = await startPush({ unknownDevices: 'accept', defaultTz: 'UTC' });
    const child = spawn(
      process.execPath,
      [
        '-r',
        'ts-node/register/transpile-only',
        path.join(__dirname, '..', '..', 'bin', 'zk.ts'),
        'sim',
        '--push',
        run.url,
        '--devices',
        '3',
        '--records',
        '250',
        '--seed',
        '9',
        '--tz',
        'UTC',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    try {
      await until(() => out.split('\n').filter(Boolean).length === 3, 30000, `ready lines (stderr: ${err})`);
      const lines = out
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { ready: boolean; serial: string; records: number });
      assert.deepEqual(
        lines.map((l) => l.serial),
        ['PFSIM0001', 'PFSIM0002', 'PFSIM0003'],
      );
      await until(() => run!.seen.entries.reduce((n, e) => n + e.records.length, 0) === 750, 20000, 'all records');
      // 250 records in batches of 100: three posts per device.
      assert.equal(run.seen.entries.length, 9);
    } finally {
      child.kill('SIGINT');
    }
    assert.equal(await exited, 0);
  });

  it('a refused device says so on stderr at once, with the serial and where to add it, and keeps waiting (Ctrl-C stops it)', async () => {
    // As flows/push-mysql.json ships: an empty device list that refuses unknown serials.
    run = await startPush({ unknownDevices: 'reject' });
    const child = spawn(
      process.execPath,
      [
        '-r',
        'ts-node/register/transpile-only',
        path.join(__dirname, '..', '..', 'bin', 'zk.ts'),
        'sim',
        '--push',
        run.url,
        '--devices',
        '2',
        '--records',
        '5',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    try {
      await until(() => err.split('\n').filter(Boolean).length === 2, 30000, `two refusal lines (stderr: ${err})`);
      const lines = err.trim().split('\n').sort();
      assert.deepEqual(
        lines.map((l) => l.replace(run!.url, 'URL')),
        ['PFSIM0001', 'PFSIM0002'].map(
          (sn) =>
            `zk: ${sn}: refused by URL/ (HTTP 403 UNKNOWN DEVICE): add ${sn} to the zk-push node's Devices list (one serial per line) and deploy, or set its Unknown serials to accept; the device keeps its punches and retries every 30 s`,
        ),
      );
      assert.equal(out, '', 'no ready line while refused');
      assert.equal(run.seen.entries.length, 0);
    } finally {
      child.kill('SIGINT');
    }
    assert.equal(await exited, 0);
  });

  it('the refusal text for a wrong token, another status, and an unreachable server', () => {
    assert.match(
      pushTroubleText(
        { serial: 'S1', kind: 'refused', status: 401, reply: 'UNAUTHORIZED', retryMs: 30000 },
        'http://h:1/',
      ),
      /^zk: S1: refused by http:\/\/h:1\/ \(HTTP 401 UNAUTHORIZED\): the zk-push node has a Token set/,
    );
    assert.equal(
      pushTroubleText({ serial: 'S1', kind: 'refused', status: 503, reply: 'RETRY', retryMs: 10000 }, 'http://h:1/'),
      'zk: S1: refused by http://h:1/ (HTTP 503 RETRY); the device keeps its punches and retries every 10 s\n',
    );
    assert.match(
      pushTroubleText(
        { serial: 'S1', kind: 'unreachable', message: 'connect ECONNREFUSED 127.0.0.1:1', retryMs: 30000 },
        'http://127.0.0.1:1/',
      ),
      /cannot reach the push server at http:\/\/127\.0\.0\.1:1\/ \(connect ECONNREFUSED/,
    );
  });
});
