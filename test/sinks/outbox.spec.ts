import { strict as assert } from 'assert';
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Outbox } from '../../lib/sinks/outbox';
import type { AttendanceRecord } from '../../lib/record';
import { makeRecords } from '../support/records';
import { checkNoLeaks } from '../support/handles';

async function drainAll(box: Outbox<AttendanceRecord>, size = 1000): Promise<AttendanceRecord[]> {
  const out: AttendanceRecord[] = [];
  for (let b = await box.next(size); b; b = await box.next(size)) {
    out.push(...b.items);
    await box.ack(b);
  }
  return out;
}

describe('outbox', function () {
  this.timeout(60000);
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pf-outbox-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));
  checkNoLeaks();

  it('appends, reads in order in batches, acks; a reopened outbox is empty', async () => {
    const box = await Outbox.open<AttendanceRecord>(dir);
    const recs = makeRecords(2500);
    await box.append(recs.slice(0, 1000));
    await box.append(recs.slice(1000));
    assert.equal(box.pending, 2500);
    const b1 = await box.next(1000);
    assert.equal(b1?.items.length, 1000);
    assert.deepEqual(b1?.items[0], recs[0]);
    await box.ack(b1!);
    assert.equal(box.pending, 1500);
    const rest = await drainAll(box);
    assert.deepEqual(
      rest.map((r) => r.id),
      recs.slice(1000).map((r) => r.id),
    );
    assert.equal(box.pending, 0);
    assert.equal(await box.next(10), null);
    await box.close();
    const again = await Outbox.open<AttendanceRecord>(dir);
    assert.equal(again.pending, 0);
    assert.equal(await again.next(10), null);
    await again.close();
  });

  it('replays what was appended but not acked, from the last ack on', async () => {
    const box = await Outbox.open<AttendanceRecord>(dir);
    const recs = makeRecords(300);
    await box.append(recs);
    const b = await box.next(100);
    await box.ack(b!);
    await box.next(100); // handed out, never acked (the target did not commit)
    await box.close();
    const again = await Outbox.open<AttendanceRecord>(dir);
    assert.equal(again.pending, 200);
    const got = await drainAll(again);
    assert.deepEqual(
      got.map((r) => r.id),
      recs.slice(100).map((r) => r.id),
    );
    await again.close();
  });

  it('drops a torn last line on open (never parsed) and keeps appending after it', async () => {
    const box = await Outbox.open<AttendanceRecord>(dir);
    await box.append(makeRecords(10));
    await box.close();
    const seg = fs.readdirSync(dir).find((f) => f.startsWith('seg-'))!;
    const full = JSON.stringify(makeRecords(1, { from: 10 })[0]);
    fs.appendFileSync(path.join(dir, seg), full.slice(0, 57)); // a crash in the middle of a write
    const corrupt: number[] = [];
    const again = await Outbox.open<AttendanceRecord>(dir, { onCorrupt: (c) => corrupt.push(c.off) });
    assert.equal(again.pending, 10);
    await again.append(makeRecords(5, { from: 100 }));
    const got = await drainAll(again);
    assert.equal(got.length, 15);
    assert.deepEqual(
      got.slice(10).map((r) => r.id),
      makeRecords(5, { from: 100 }).map((r) => r.id),
    );
    assert.deepEqual(corrupt, []);
    await again.close();
  });

  it('skips and reports a corrupt line in the middle instead of handing out garbage', async () => {
    const box = await Outbox.open<AttendanceRecord>(dir);
    await box.append(makeRecords(2));
    await box.close();
    const seg = path.join(
      dir,
      fs.readdirSync(dir).find((f) => f.startsWith('seg-'))!,
    );
    fs.appendFileSync(seg, '\u0000\u0000garbage}\n42\n');
    const tail = await Outbox.open<AttendanceRecord>(dir);
    await tail.append(makeRecords(1, { from: 7 }));
    await tail.close();
    const corrupt: number[] = [];
    const again = await Outbox.open<AttendanceRecord>(dir, { onCorrupt: (c) => corrupt.push(c.bytes) });
    assert.equal(again.pending, 5);
    const got = await drainAll(again);
    assert.equal(got.length, 3);
    assert.equal(corrupt.length, 2);
    assert.equal(again.pending, 0);
    await again.close();
  });

  it('rolls segments and deletes the ones wholly acked', async () => {
    const box = await Outbox.open<AttendanceRecord>(dir, { segmentBytes: 20_000 });
    for (let i = 0; i < 20; i++) await box.append(makeRecords(50, { from: i * 50 }));
    const segs = () => fs.readdirSync(dir).filter((f) => f.startsWith('seg-')).length;
    assert.ok(segs() > 5, `segments: ${segs()}`);
    const got = await drainAll(box, 137);
    assert.equal(got.length, 1000);
    assert.deepEqual(
      got.map((r) => r.id),
      makeRecords(1000).map((r) => r.id),
    );
    assert.equal(segs(), 1);
    await box.close();
    const again = await Outbox.open<AttendanceRecord>(dir, { segmentBytes: 20_000 });
    assert.equal(again.pending, 0);
    await again.append(makeRecords(3, { from: 5000 }));
    assert.equal((await drainAll(again)).length, 3);
    await again.close();
  });

  it('an ack costs no fsync and no rename (SD cards): one write in place, synced on close; a reopen resumes there', async () => {
    const box = await Outbox.open<AttendanceRecord>(dir);
    await box.append(makeRecords(100));
    // Count what the acks do to the disk: every FileHandle shares one prototype.
    const proto = Object.getPrototypeOf(
      await (async () => {
        const h = await fs.promises.open(path.join(dir, 'probe'), 'w');
        await h.close();
        return h;
      })(),
    ) as { sync: () => Promise<void>; datasync: () => Promise<void> };
    const sync = proto.sync;
    const datasync = proto.datasync;
    const rename = fs.promises.rename;
    let syncs = 0;
    let renames = 0;
    proto.sync = function (this: unknown) {
      syncs++;
      return sync.call(this);
    };
    proto.datasync = function (this: unknown) {
      syncs++;
      return datasync.call(this);
    };
    fs.promises.rename = (async (a: fs.PathLike, b: fs.PathLike) => {
      renames++;
      return rename(a, b);
    }) as typeof rename;
    try {
      for (let i = 0; i < 7; i++) await box.ack((await box.next(10))!);
      assert.equal(syncs, 0, 'fsyncs for 7 acks');
      assert.equal(renames, 0, 'renames for 7 acks');
      await box.close();
      assert.equal(syncs, 1, 'one fsync of the ack on close');
    } finally {
      proto.sync = sync;
      proto.datasync = datasync;
      fs.promises.rename = rename;
    }
    const again = await Outbox.open<AttendanceRecord>(dir);
    assert.equal(again.pending, 30);
    assert.deepEqual(
      (await drainAll(again)).map((r) => r.id),
      makeRecords(100)
        .slice(70)
        .map((r) => r.id),
    );
    await again.close();
  });

  it('a damaged ack.json (power loss) replays the outbox from its first segment: repeats, nothing lost', async () => {
    const box = await Outbox.open<AttendanceRecord>(dir);
    await box.append(makeRecords(20));
    await box.ack((await box.next(15))!);
    await box.close();
    fs.writeFileSync(path.join(dir, 'ack.json'), Buffer.alloc(64)); // zeros: what a lost data block reads as
    const again = await Outbox.open<AttendanceRecord>(dir);
    assert.equal(again.pending, 20);
    assert.deepEqual(
      (await drainAll(again)).map((r) => r.id),
      makeRecords(20).map((r) => r.id),
    );
    await again.close();
  });

  it('refuses an out-of-order ack and a second open of the same directory', async () => {
    const box = await Outbox.open<AttendanceRecord>(dir);
    await box.append(makeRecords(4));
    const a = await box.next(2);
    const b = await box.next(2);
    await assert.rejects(box.ack(b!), /out of order/);
    await assert.rejects(Outbox.open(dir), /already open/);
    await box.ack(a!);
    await box.ack(b!);
    await box.close();
  });

  it('survives SIGKILL at any point: every acknowledged append is replayed, nothing parsed as garbage', async function () {
    // Six child processes, each compiled by ts-node: on a busy 2-core machine that alone can take a minute.
    this.timeout(240_000);
    for (const mode of ['append', 'consume']) {
      for (let round = 0; round < 3; round++) {
        const d = fs.mkdtempSync(path.join(dir, 'kill-'));
        const child = spawn(
          process.execPath,
          ['-r', 'ts-node/register/transpile-only', path.join(__dirname, 'support', 'outbox-child.ts'), d, mode],
          {
            stdio: ['ignore', 'pipe', 'pipe'],
            cwd: path.join(__dirname, '..', '..'),
          },
        );
        let out = '';
        let err = '';
        child.stdout.on('data', (c: Buffer) => (out += c.toString()));
        child.stderr.on('data', (c: Buffer) => (err += c.toString()));
        const target = 500 + round * 700;
        await new Promise<void>((resolve, reject) => {
          const check = (): void => {
            const m = /acked (\d+) consumed (\d+)\n[^\n]*$/.exec(out);
            if (m && Number(m[1]) >= target) {
              child.stdout.off('data', check);
              // Kill at a random moment after the threshold.
              setTimeout(() => child.kill('SIGKILL'), Math.floor(Math.random() * 20));
              resolve();
            }
          };
          child.stdout.on('data', check);
          child.once('exit', (code) => reject(new Error(`child exited early (${code}): ${err}`)));
        });
        await new Promise((r) => child.once('exit', r));
        const lines = out.split('\n').filter((l) => l.startsWith('acked'));
        const last = /acked (\d+) consumed (\d+)/.exec(lines[lines.length - 1])!;
        const acked = Number(last[1]);
        const consumed = Number(last[2]);
        const box = await Outbox.open<AttendanceRecord>(d);
        const got = await drainAll(box);
        await box.close();
        // A contiguous run of the appended records: starts where the last ack left it, reaches at least
        // everything the child saw acknowledged.
        assert.ok(got.length > 0);
        const expectStart = makeRecords(acked + 200).findIndex((r) => r.id === got[0].id);
        assert.ok(
          expectStart >= consumed && expectStart <= consumed + 120,
          `replay starts at ${expectStart}, consumed ${consumed}`,
        );
        const expected = makeRecords(got.length, { from: expectStart }).map((r) => r.id);
        assert.deepEqual(
          got.map((r) => r.id),
          expected,
          'replayed records are exactly the appended ones, in order',
        );
        assert.ok(
          expectStart + got.length >= acked,
          `lost records: replayed up to ${expectStart + got.length}, acked ${acked}`,
        );
      }
    }
  });

  it('append + fsync throughput (printed; generous bound)', async () => {
    const box = await Outbox.open<AttendanceRecord>(dir);
    const recs = makeRecords(100_000);
    let t0 = process.hrtime.bigint();
    for (let i = 0; i < recs.length; i += 1000) await box.append(recs.slice(i, i + 1000));
    const appendMs = Number(process.hrtime.bigint() - t0) / 1e6;
    t0 = process.hrtime.bigint();
    const parallel = [];
    for (let i = 0; i < 1000; i++) parallel.push(box.append(recs.slice(i * 10, i * 10 + 10)));
    await Promise.all(parallel);
    const groupMs = Number(process.hrtime.bigint() - t0) / 1e6;
    t0 = process.hrtime.bigint();
    const got = await drainAll(box);
    const readMs = Number(process.hrtime.bigint() - t0) / 1e6;
    assert.equal(got.length, 110_000);
    await box.close();
    const rate = Math.round(100_000 / (appendMs / 1000));
    const groupRate = Math.round(10_000 / (groupMs / 1000));
    const readRate = Math.round(110_000 / (readMs / 1000));
    // eslint-disable-next-line no-console
    console.log(
      `      outbox: append+fsync ${rate} records/s (batches of 1000), ${groupRate} records/s (1000 concurrent appends of 10, group commit), read+ack ${readRate} records/s`,
    );
    assert.ok(rate > 5000, `append throughput ${rate}/s`);
  });
});
