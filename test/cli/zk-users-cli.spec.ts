/**
 * `zk users set|sync|delete` and `zk templates backup|restore`: parsed with parseCli and run in-process
 * against simulators over loopback sockets (the dispatch in bin/zk.ts is one line per command); one child
 * process checks the exit status and the file mode as a user sees them.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Writable } from 'node:stream';
import { ZkSimulator, SimOptions } from '../../lib/sim';
import { Cmd } from '../../lib/protocol/constants';
import { parseCli, UsageError, helpText } from '../../lib/cli/args';
import type { UsersCommand, TemplatesCommand } from '../../lib/cli/args';
import { runTemplates, runUserWrite } from '../../bin/user-commands';
import type { CliIo } from '../../bin/commands';
import { Prng } from '../../lib/sim/prng';

const ROOT = path.resolve(__dirname, '..', '..');

class Sink extends Writable {
  text = '';
  override _write(chunk: Buffer | string, _enc: BufferEncoding, cb: () => void): void {
    this.text += String(chunk);
    cb();
  }
}

function io(): { io: CliIo; out: Sink; err: Sink } {
  const out = new Sink();
  const err = new Sink();
  // Never resolves: no signal in these runs.
  return {
    io: {
      stdout: out,
      stderr: err,
      onInterrupt: () => ({ signal: new Promise<void>(() => undefined), dispose: () => undefined }),
    },
    out,
    err,
  };
}

async function zk(args: string[]): Promise<{ code: number; stdout: string }> {
  const cmd = parseCli(args);
  const { io: cio, out } = io();
  const code =
    cmd.command === 'templates'
      ? await runTemplates(cmd as TemplatesCommand, cio)
      : await runUserWrite(cmd as UsersCommand, cio);
  return { code, stdout: out.text };
}

function sent(sim: ZkSimulator, before: Record<number, number>, cmds: number[]): number {
  return cmds.reduce((n, c) => n + (sim.counters.commandsSeen[c] ?? 0) - (before[c] ?? 0), 0);
}

const WRITES = [Cmd.USER_WRQ, Cmd.DELETE_USER, Cmd.REFRESHDATA, Cmd.TMP_WRITE, Cmd.PREPARE_DATA, Cmd.DEL_FPTMP];

describe('zk users set|sync|delete and zk templates backup|restore', function () {
  this.timeout(60_000);
  const sims: ZkSimulator[] = [];
  let dir: string;

  async function sim(opts: SimOptions): Promise<{ sim: ZkSimulator; target: string }> {
    const s = new ZkSimulator({ host: '127.0.0.1', port: 0, records: 0, ...opts });
    sims.push(s);
    const { port } = await s.start();
    return { sim: s, target: `127.0.0.1:${port}` };
  }

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zk-users-cli-'));
  });
  afterEach(async () => {
    await Promise.all(sims.splice(0).map((s) => s.stop()));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  function file(name: string, content: string): string {
    const f = path.join(dir, name);
    fs.writeFileSync(f, content);
    return f;
  }

  it('parses the actions and refuses what does not fit, naming the option', () => {
    const set = parseCli([
      'users',
      'set',
      '10.0.0.5:4371',
      'staff.json',
      '--dry-run',
      '--comm-key',
      '7',
    ]) as UsersCommand;
    assert.deepEqual(
      [set.host, set.port, set.commKey, set.write],
      ['10.0.0.5', 4371, 7, { action: 'set', file: 'staff.json', userIds: [], dryRun: true, deleteMissing: false }],
    );
    const del = parseCli(['users', 'delete', 'h', '1', '2']) as UsersCommand;
    assert.deepEqual(del.write?.userIds, ['1', '2']);
    assert.equal((parseCli(['users', 'h']) as UsersCommand).write, undefined, 'the listing is unchanged');
    const t = parseCli(['templates', 'restore', 'h', 'b.json', '--user', '42', '--dry-run']) as TemplatesCommand;
    assert.deepEqual([t.action, t.file, t.userId, t.dryRun], ['restore', 'b.json', '42', true]);
    for (const [argv, msg] of [
      [['users', 'set', 'h'], /needs a FILE/],
      [['users', 'delete', 'h'], /PIN of at least one user/],
      [['users', 'set', 'h', 'f', '--delete-missing'], /--delete-missing goes with zk users sync/],
      [['users', 'h', '--dry-run'], /go with zk users set\|sync\|delete/],
      [['templates', 'backup', 'h', 'f', '--dry-run'], /--dry-run goes with zk templates restore/],
      [['templates', 'copy', 'h', 'f'], /backup or restore/],
      [['templates', 'backup', 'h'], /needs a FILE/],
    ] as const) {
      assert.throws(
        () => parseCli([...argv]),
        (e: unknown) => e instanceof UsageError && msg.test(e.message),
        argv.join(' '),
      );
    }
    assert.match(helpText(), /file mode 0600/);
    assert.match(helpText(), /face templates are not supported/);
  });

  it('users set: creates and updates from a JSON array; --dry-run sends no write', async () => {
    const { sim: s, target } = await sim({ users: 2, seed: 3 });
    const staff = file(
      'staff.json',
      JSON.stringify([
        { userId: 1001, name: 'Ada', card: 555, privilege: 0 },
        { userId: s.users[0].userId, name: 'Renamed' },
        { userId: 'X', privilege: 5 },
      ]),
    );
    const before = s.counters.commandsSeen;
    const dry = await zk(['users', 'set', target, staff, '--dry-run']);
    assert.equal(sent(s, before, WRITES), 0);
    assert.match(
      dry.stdout,
      /would change \(dry run, nothing written\): added 1, updated 1, disabled 0, deleted 0, unchanged 0, failed 1/,
    );
    assert.equal(dry.code, 1, 'a refused user makes the run fail');
    const real = await zk(['users', 'set', target, staff, '--json']);
    const r = JSON.parse(real.stdout) as {
      added: string[];
      updated: string[];
      failed: { userId: string; reason: string }[];
    };
    assert.deepEqual(r.added, ['1001']);
    assert.deepEqual(r.updated, [s.users[0].userId]);
    assert.match(
      r.failed[0].reason,
      /privilege 5 must be 0 \(user\), 2 \(enroller\), 6 \(admin\) or 14 \(super admin\)/,
    );
    assert.equal(s.users.find((u) => u.userId === '1001')?.cardNo, 555);
  });

  it('users sync: NDJSON list; users not in it are disabled (or deleted with --delete-missing); the same list twice writes nothing', async () => {
    const { sim: s, target } = await sim({ users: 3, seed: 4 });
    const keep = s.users[0].userId;
    const list = file('hr.ndjson', `{"userId":"${keep}"}\n{"userId":"2001","name":"New Hire","cardNo":4000000000}\n\n`);
    const first = await zk(['users', 'sync', target, list]);
    assert.equal(first.code, 0, first.stdout);
    assert.match(first.stdout, /added 1, updated 0, disabled 2, deleted 0, unchanged 1, failed 0/);
    assert.equal(s.users.filter((u) => ((u.privilege ?? 0) & 1) === 1).length, 2);
    const before = s.counters.commandsSeen;
    const second = await zk(['users', 'sync', target, list]);
    assert.match(second.stdout, /added 0, updated 0, disabled 0, deleted 0, unchanged 4, failed 0/);
    assert.equal(sent(s, before, WRITES), 0, 'no write command on the unchanged re-sync');
    const dry = await zk(['users', 'sync', target, list, '--delete-missing', '--dry-run']);
    assert.match(dry.stdout, /deleted 2/);
    assert.equal(s.users.length, 4);
    const del = await zk(['users', 'sync', target, list, '--delete-missing']);
    assert.match(del.stdout, /deleted 2/);
    assert.deepEqual(s.users.map((u) => u.userId).sort(), ['2001', keep].sort());
  });

  it('users delete: PINs, not found reported; bad files are named with the line', async () => {
    const { sim: s, target } = await sim({ users: 2, seed: 5 });
    const id = s.users[1].userId;
    const dry = await zk(['users', 'delete', target, id, 'nobody', '--dry-run']);
    assert.match(dry.stdout, /deleted 1.*not found 1/);
    assert.equal(s.users.length, 2);
    const r = await zk(['users', 'delete', target, id, 'nobody']);
    assert.equal(r.code, 0);
    assert.equal(s.users.length, 1);
    await assert.rejects(
      zk(['users', 'set', target, file('bad.ndjson', '{"userId":"1"}\n{oops\n')]),
      /bad\.ndjson line 2 is not JSON/,
    );
    await assert.rejects(
      zk(['users', 'set', target, file('typo.json', '[{"userId":"1","nmae":"x"}]')]),
      /entry 1 has an unknown field "nmae"/,
    );
  });

  it('templates backup (mode 0600) and restore to another device, users created, byte for byte; --dry-run writes nothing', async () => {
    const { sim: a, target: ta } = await sim({ users: 6, seed: 6 });
    const { sim: b, target: tb } = await sim({ users: 0, seed: 7 });
    const rng = new Prng(3);
    for (const u of a.users.slice(0, 4)) {
      for (const finger of [1, 5])
        a.addTemplate({
          userId: u.userId,
          finger,
          data: Buffer.from(Array.from({ length: 700 }, () => rng.int(0, 255))),
        });
    }
    const bk = path.join(dir, 'fp.json');
    fs.writeFileSync(bk, 'old', { mode: 0o644 });
    const saved = await zk(['templates', 'backup', ta, bk]);
    assert.match(saved.stdout, /saved 8 fingerprint templates of 4 users .*file mode 0600/);
    assert.equal(fs.statSync(bk).mode & 0o777, 0o600);

    const before = b.counters.commandsSeen;
    const dry = await zk(['templates', 'restore', tb, bk, '--dry-run']);
    assert.match(
      dry.stdout,
      /would write \(dry run, nothing written\) 8 fingerprint templates, 0 unchanged, 4 users created/,
    );
    assert.equal(sent(b, before, WRITES), 0);

    const r = await zk(['templates', 'restore', tb, bk]);
    assert.equal(r.code, 0, r.stdout);
    assert.match(r.stdout, /wrote 8 fingerprint templates, 0 unchanged, 4 users created, 0 failed/);
    const key = (t: { userId: string; finger: number; flag: number; data: Buffer }) =>
      `${t.userId}/${t.finger}/${t.flag}/${t.data.toString('hex')}`;
    assert.deepEqual(b.templates.map(key).sort(), a.templates.map(key).sort());
    const one = a.users[0];
    assert.deepEqual(b.users.find((u) => u.userId === one.userId)?.name, one.name);

    const onlyOne = path.join(dir, 'one.json');
    await zk(['templates', 'backup', ta, onlyOne, '--user', one.userId]);
    const again = await zk(['templates', 'restore', tb, onlyOne, '--json']);
    assert.deepEqual(JSON.parse(again.stdout).unchanged, 2);
  });

  it('as a child process: exit status 1 and the reason on stdout when a write is not kept', async () => {
    const { sim: s, target } = await sim({ users: 1, seed: 8 });
    await s.setFaults({ dropUserWrites: true });
    const staff = file('one.json', '[{"userId":"7","name":"Lost"}]');
    const child = spawn(
      process.execPath,
      ['-r', 'ts-node/register/transpile-only', path.join(ROOT, 'bin', 'zk.ts'), 'users', 'set', target, staff],
      {
        cwd: ROOT,
        env: { ...process.env, TS_NODE_TRANSPILE_ONLY: 'true' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    assert.equal(code, 1);
    assert.match(stdout, /failed 7: .* acknowledged the write of user "7" but did not keep the user/);
  });
});
