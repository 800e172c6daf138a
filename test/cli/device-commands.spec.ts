/**
 * `zk time`, `zk clear --safe`, `zk unlock`, `zk restart`: parsed as from argv and run in-process against
 * simulators over loopback, with the output captured.
 */
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Writable } from 'stream';
import { CliIo, runClear, runRestart, runTime, runUnlock } from '../../bin/commands';
import { ClearCommand, RestartCommand, TimeCommand, UnlockCommand, UsageError, parseCli } from '../../lib/cli/args';
import { describeError } from '../../lib/cli/errors';
import { ZkSimulator } from '../../lib/sim';
import type { SimOptions } from '../../lib/sim';
import { Cmd } from '../../lib/protocol/constants';
import { wallClockSeconds } from '../../lib/protocol/time';
import { ZkClient } from '../../lib/client';

class Capture extends Writable {
  text = '';
  override _write(chunk: Buffer, _enc: string, cb: () => void): void {
    this.text += chunk.toString();
    cb();
  }
}

function io(): CliIo & { out: Capture; err: Capture } {
  const out = new Capture();
  const err = new Capture();
  // Never interrupted: the signal never resolves.
  return {
    stdout: out,
    stderr: err,
    out,
    err,
    onInterrupt: () => ({ signal: new Promise<void>(() => undefined), dispose: () => undefined }),
  };
}

async function withSim(opts: SimOptions, fn: (sim: ZkSimulator, target: string) => Promise<void>): Promise<void> {
  const sim = new ZkSimulator({ host: '127.0.0.1', port: 0, ...opts });
  const { port } = await sim.start();
  try {
    await fn(sim, `127.0.0.1:${port}`);
  } finally {
    await sim.stop();
  }
}

const seen = (sim: ZkSimulator, cmd: number) => sim.counters.commandsSeen[cmd] ?? 0;
const drift = (sim: ZkSimulator) => wallClockSeconds(sim.now()) - Math.floor(Date.now() / 1000);

describe('zk time / clear / unlock / restart', function () {
  this.timeout(30000);
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'punchflow-cli-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('parses, and refuses what it cannot do safely', () => {
    const t = parseCli(['time', '10.0.0.5', '--sync', '--threshold', '5', '--tz', 'UTC']) as TimeCommand;
    assert.deepEqual([t.command, t.sync, t.thresholdSec, t.dryRun], ['time', true, 5, false]);
    assert.equal((parseCli(['unlock', '10.0.0.5']) as UnlockCommand).seconds, 3);
    assert.throws(
      () => parseCli(['unlock', '10.0.0.5', '--seconds', '61']),
      /--seconds must be a whole number from 1 to 60/,
    );
    assert.throws(
      () => parseCli(['clear', '10.0.0.5']),
      (e: Error) => e instanceof UsageError && /only clears safely: add --safe/.test(e.message),
    );
    assert.throws(() => parseCli(['clear', '10.0.0.5', '--safe']), /needs --out FILE/);
    assert.throws(() => parseCli(['time', '10.0.0.5', '--threshold', '5']), /only applies with --sync/);
    assert.equal((parseCli(['restart', '10.0.0.5', '--dry-run']) as RestartCommand).dryRun, true);
  });

  for (const udp of [false, true]) {
    const via = udp ? ['--udp'] : [];
    it(`${udp ? 'UDP' : 'TCP'} with a comm key: time --sync sets a drifted clock, --dry-run does not`, async () => {
      await withSim({ seed: 1, users: 2, records: 5, commKey: 77, clockOffsetSec: 600 }, async (sim, target) => {
        const dry = io();
        assert.equal(
          await runTime(
            parseCli(['time', target, '--sync', '--dry-run', '--comm-key', '77', '--tz', 'UTC', ...via]) as TimeCommand,
            dry,
          ),
          0,
        );
        assert.match(dry.out.text, /dry run: --sync would set it; nothing was changed/);
        assert.equal(seen(sim, Cmd.SET_TIME), 0);
        const real = io();
        assert.equal(
          await runTime(
            parseCli(['time', target, '--sync', '--comm-key', '77', '--tz', 'UTC', ...via]) as TimeCommand,
            real,
          ),
          0,
        );
        assert.match(real.out.text, /clock was \+(599|600|601) s off; set to .* \(UTC\)/);
        assert.ok(Math.abs(drift(sim)) <= 2);
      });
    });
  }

  it('clear --safe saves the log to --out (read back) and clears; a punch in the window: nothing cleared, exit 1', async () => {
    await withSim({ seed: 2, users: 4, records: 60 }, async (sim, target) => {
      const file = path.join(dir, 'log.ndjson');
      const dry = io();
      assert.equal(
        await runClear(parseCli(['clear', target, '--safe', '--dry-run', '--tz', 'UTC']) as ClearCommand, dry),
        0,
      );
      assert.match(dry.out.text, /would save 60 records/);
      assert.equal(seen(sim, Cmd.CLEAR_ATTLOG), 0);

      // A punch while the file is written (between download and check): the clear must not happen.
      const off = sim.onCommand(Cmd.DISABLEDEVICE, (n) => {
        if (n === 2) sim.punch({ userId: sim.users[0].userId, silent: true });
      });
      const blocked = io();
      assert.equal(
        await runClear(parseCli(['clear', target, '--safe', '--out', file, '--tz', 'UTC']) as ClearCommand, blocked),
        1,
      );
      off();
      assert.match(blocked.err.text, /not cleared: 1 record\(s\) arrived .* run the safe clear again/);
      assert.equal(sim.records.length, 61);
      assert.equal(fs.readFileSync(file, 'utf8').trim().split('\n').length, 60);

      await assert.rejects(
        runClear(parseCli(['clear', target, '--safe', '--out', file, '--tz', 'UTC']) as ClearCommand, io()),
        /exists: choose a new file/,
      );
      const file2 = path.join(dir, 'log2.ndjson');
      const ok = io();
      assert.equal(
        await runClear(parseCli(['clear', target, '--safe', '--out', file2, '--tz', 'UTC']) as ClearCommand, ok),
        0,
      );
      assert.match(ok.out.text, /saved 61 records to .*log2\.ndjson, then cleared them/);
      const lines = fs
        .readFileSync(file2, 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { userId: string });
      assert.equal(lines.length, 61);
      assert.equal(lines[60].userId, sim.users[0].userId);
      assert.equal(sim.records.length, 0);
    });
  });

  it('unlock and restart, each with --dry-run sending nothing', async () => {
    await withSim({ seed: 3, users: 1, records: 1 }, async (sim, target) => {
      const d = io();
      await runUnlock(parseCli(['unlock', target, '--seconds', '8', '--dry-run']) as UnlockCommand, d);
      assert.match(d.out.text, /dry run: would unlock the door of .* for 8 s; nothing was sent/);
      assert.equal(seen(sim, Cmd.UNLOCK), 0);
      await runUnlock(parseCli(['unlock', target, '--seconds', '8']) as UnlockCommand, io());
      assert.deepEqual(
        sim.doorUnlocks.map((u) => u.seconds),
        [8],
      );
      await runRestart(parseCli(['restart', target, '--dry-run']) as RestartCommand, io());
      assert.equal(seen(sim, Cmd.RESTART), 0);
      const r = io();
      await runRestart(parseCli(['restart', target]) as RestartCommand, r);
      assert.match(r.out.text, /restarting/);
      assert.equal(seen(sim, Cmd.RESTART), 1);
    });
  });

  it('a connect answered with 6001: the one-line error names the code and the comm key', async () => {
    await withSim({ seed: 4, users: 1, records: 1, faults: { connectReply: 6001 } }, async (_sim, target) => {
      const [host, port] = target.split(':');
      const c = new ZkClient({ host, port: Number(port), timeoutMs: 2000 });
      const err = await c.connect().then(
        () => null,
        (e: Error) => e,
      );
      await c.close();
      const line = describeError(err, { target, transport: 'tcp', commKey: 0 });
      assert.match(line, /code 6001/);
      assert.match(line, /comm key/);
    });
  });
});
