/**
 * At-least-once delivery (docs/adms.md §6): a crash right after the journal write loses nothing; a server
 * that fails before OK gets the same batch again from the (simulated) device.
 */
import { strict as assert } from 'assert';
import { spawn } from 'child_process';
import * as path from 'path';
import { PushJournal, JournalEntry } from '../../lib/push/journal';
import { PushDevice } from '../../lib/sim/push-device';
import { removeDir } from '../support/node-red';
import { checkNoLeaks } from '../support/handles';
import { until } from '../../support/wait';
import { Running, startPush, tempDir, devices } from './support';

function crashChild(
  dir: string,
  mode: 'after-journal' | 'before-journal',
): Promise<{ port: number; exited: Promise<NodeJS.Signals | null> }> {
  const child = spawn(
    process.execPath,
    ['-r', 'ts-node/register/transpile-only', path.join(__dirname, 'support', 'crash-child.ts'), dir, mode],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const exited = new Promise<NodeJS.Signals | null>((r) => child.once('exit', (_c, sig) => r(sig)));
  return new Promise((resolve, reject) => {
    let buf = '';
    child.stdout!.on('data', (c: Buffer) => {
      buf += c.toString();
      const nl = buf.indexOf('\n');
      if (nl >= 0) resolve({ port: (JSON.parse(buf.slice(0, nl)) as { port: number }).port, exited });
    });
    child.once('error', reject);
    child.once('exit', () => reject(new Error('child exited before listening')));
  });
}

async function replay(dir: string): Promise<JournalEntry[]> {
  const j = await PushJournal.open(path.join(dir, 'journal'));
  const got: JournalEntry[] = [];
  const pending = j.pending;
  j.start((e) => void got.push(e));
  await until(() => got.length >= pending);
  await j.close();
  return got;
}

describe('push delivery: journal before OK', function () {
  this.timeout(60000);
  checkNoLeaks();

  it('an entry appended while the pump finds the journal empty is handed on without waiting for the idle timeout', async () => {
    const dir = tempDir();
    const j = await PushJournal.open(path.join(dir, 'journal'));
    try {
      const got: JournalEntry[] = [];
      const entry = (n: number): JournalEntry => ({
        deviceSn: 'RACE1',
        stamp: String(n),
        receivedAt: new Date().toISOString(),
        records: [],
      });
      // The race made deterministic: each empty read is answered only after an append has landed, the way an
      // append can complete while next() is still reading.
      const box = (j as unknown as { box: { next: (max: number) => Promise<unknown> } }).box;
      const next = box.next.bind(box);
      let raced = 0;
      box.next = async (max: number) => {
        const batch = await next(max);
        if (batch === null && raced < 3) {
          raced++;
          await j.append(entry(raced));
        }
        return batch;
      };
      // An idle wait far beyond the test's patience: a missed wake-up would show as a timeout, not a delay.
      j.start((e) => void got.push(e), undefined, 200, 10 * 60_000);
      await until(() => got.length === 3, 10_000);
      assert.deepEqual(
        got.map((e) => e.stamp),
        ['1', '2', '3'],
      );
    } finally {
      await j.close();
      removeDir(dir);
    }
  });

  it('a crash right after the journal write (before OK) loses nothing: the journal replays on restart, and the device resends', async () => {
    const dir = tempDir();
    // Both devices stand for the same device before and after the restart: the same backlog, built from one
    // instant (built from the clock, the second one's records would shift by a second when one ticked by).
    const backlogUntilMs = Date.UTC(2026, 3, 1, 12, 0, 0);
    const dev = (url: string) =>
      new PushDevice({ url, serial: 'CR1', records: 25, batchSize: 25, errorDelayMs: 50, backlogUntilMs });
    let dev1: PushDevice | null = null;
    let dev2: PushDevice | null = null;
    let run: Running | null = null;
    try {
      const child = await crashChild(dir, 'after-journal');
      dev1 = dev(`http://127.0.0.1:${child.port}`);
      dev1.start();
      assert.equal(await child.exited, 'SIGKILL');
      assert.equal(dev1.acked, 0, 'the device never got its OK');
      await dev1.stop();
      // Restart on the same directory: the journal holds the post.
      const entries = await replay(dir);
      assert.equal(entries.length, 1);
      assert.equal(entries[0].records.length, 25);
      assert.deepEqual(
        entries[0].records.map((r) => r.userId),
        dev1.records.map((r) => r.userId),
      );
      // The device sends the same batch again to the restarted server (a duplicate that downstream dedupe drops).
      run = await startPush({ devices: devices('CR1') }, { dir: tempDir() });
      dev2 = dev(run.url);
      dev2.start();
      await until(() => dev2!.acked === 25);
      await dev2.stop();
      // The pump emits what was journaled after the OK: wait for it rather than race it.
      await until(() => run!.seen.entries.length > 0);
      assert.deepEqual(
        run.seen.entries[0].records.map((r) => r.id),
        entries[0].records.map((r) => r.id),
      );
    } finally {
      // Stopped on every path, so a failure above is reported as itself and not as leftover timers.
      await dev1?.stop();
      await dev2?.stop();
      if (run) {
        await run.close();
        removeDir(run.dir);
      }
      removeDir(dir);
    }
  });

  it('a crash before the journal write leaves nothing behind, and the device keeps the batch', async () => {
    const dir = tempDir();
    try {
      const child = await crashChild(dir, 'before-journal');
      const dev = new PushDevice({
        url: `http://127.0.0.1:${child.port}`,
        serial: 'CR2',
        records: 10,
        batchSize: 10,
        errorDelayMs: 50,
      });
      dev.start();
      assert.equal(await child.exited, 'SIGKILL');
      assert.equal(dev.acked, 0);
      assert.equal((await replay(dir)).length, 0);
      await dev.stop();
    } finally {
      removeDir(dir);
    }
  });

  it('a journal write that fails → 503, the device waits ErrorDelay and sends the same batch again; each record journaled once', async () => {
    let failures = 2;
    const run = await startPush(
      { devices: devices('RT1') },
      {
        wrap: (j) => ({
          append: (e) => (failures-- > 0 ? Promise.reject(new Error('disk full')) : j.append(e)),
        }),
      },
    );
    const dev = new PushDevice({
      url: run.url,
      serial: 'RT1',
      records: 40,
      batchSize: 20,
      errorDelayMs: 30,
      pollMs: 1000,
    });
    try {
      dev.start();
      await until(() => dev.acked === 40);
      assert.equal(dev.stats.failedPosts, 2);
      await until(() => run.seen.entries.length === 2);
      const ids = run.seen.entries.flatMap((e) => e.records.map((r) => r.id));
      assert.equal(ids.length, 40);
      assert.equal(new Set(ids).size, 40);
      assert.equal(run.seen.errors.length, 2);
      assert.match(run.seen.errors[0].message, /will resend/);
    } finally {
      await dev.stop();
      await run.close();
      removeDir(run.dir);
    }
  });
});
