import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Outbox } from '../../lib/sinks/outbox';
import {
  DeliveryLoop,
  DeliveryReport,
  DeliveryState,
  isOutage,
  retryDelay,
  DEFAULT_DELIVERY_BACKOFF,
} from '../../lib/sinks/delivery';
import { RejectedRecord, SinkError } from '../../lib/sinks/types';
import type { AttendanceRecord } from '../../lib/record';
import { FakeSink, transient } from './support/fake-sink';
import { makeRecord, makeRecords } from '../support/records';
import { checkNoLeaks } from '../support/handles';
import { sleep, until } from '../../support/wait';

describe('delivery loop', function () {
  this.timeout(30000);
  let dir: string;
  let box: Outbox<AttendanceRecord>;
  let loop: DeliveryLoop | null;
  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pf-delivery-'));
    box = await Outbox.open<AttendanceRecord>(dir);
    loop = null;
  });
  afterEach(async () => {
    await loop?.stop();
    await box.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  checkNoLeaks();

  function start(sink: FakeSink, extra: Partial<ConstructorParameters<typeof DeliveryLoop>[0]> = {}) {
    const reports: DeliveryReport[] = [];
    const rejected: RejectedRecord[] = [];
    const states: DeliveryState[] = [];
    loop = new DeliveryLoop({
      sink,
      outbox: box,
      batchSize: 100,
      flushIntervalMs: 20,
      backoff: { baseMs: 10, maxMs: 200 },
      onCommit: (r) => reports.push(r),
      onRejected: (r) => rejected.push(...r),
      onState: (s) => states.push(s),
      ...extra,
    });
    loop.start();
    return { reports, rejected, states };
  }

  it('exactly once across many segment roll-overs with a target that takes its time', async () => {
    // Small segments roll every few batches, and a sink with latency lets outbox work and target work
    // interleave: the shape in which overlapping ack() with next() once lost whole batches.
    const rollDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pf-delivery-roll-'));
    const rollBox = await Outbox.open<AttendanceRecord>(rollDir, { segmentBytes: 8 * 1024 });
    class SlowSink extends FakeSink {
      override async write(batch: AttendanceRecord[]) {
        await sleep(1);
        return super.write(batch);
      }
    }
    const sink = new SlowSink();
    let committed = 0;
    const rollLoop = new DeliveryLoop({
      sink,
      outbox: rollBox,
      batchSize: 50,
      flushIntervalMs: 5,
      backoff: { baseMs: 10, maxMs: 50 },
      onCommit: (r) => (committed += r.batch),
    });
    rollLoop.start();
    try {
      const all = makeRecords(3000);
      for (let i = 0; i < all.length; i += 37) await rollBox.append(all.slice(i, i + 37));
      await until(() => rollBox.pending === 0 && sink.rows.size === all.length, 20000);
      assert.deepEqual([...sink.rows.keys()].sort(), all.map((r) => r.id).sort(), 'every record once');
      assert.equal(committed, all.length, 'no batch delivered twice');
      await rollLoop.stop(); // the last ack (and its segment deletions) may still be running beside the report
      const segments = fs.readdirSync(rollDir).filter((f) => f.startsWith('seg-'));
      assert.ok(segments.length <= 2, `acked segments are deleted (left: ${segments.join(', ')})`);
    } finally {
      await rollLoop.stop();
      await rollBox.close();
      fs.rmSync(rollDir, { recursive: true, force: true });
    }
  });

  it('reads the next batch while the target writes the current one; a stop and restart in the middle loses and doubles nothing', async () => {
    const aheadDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pf-delivery-ahead-'));
    const aheadBox = await Outbox.open<AttendanceRecord>(aheadDir, { segmentBytes: 8 * 1024 });
    class SlowSink extends FakeSink {
      inFlight = false;
      readonly preparedAhead = new WeakSet<AttendanceRecord[]>();
      writesPrepared = 0;
      prepare(batch: AttendanceRecord[]): void {
        this.preparedAhead.add(batch);
      }
      override async write(batch: AttendanceRecord[]) {
        if (this.preparedAhead.has(batch)) this.writesPrepared++;
        this.inFlight = true;
        try {
          await sleep(2);
          return await super.write(batch);
        } finally {
          this.inFlight = false;
        }
      }
    }
    const sink = new SlowSink();
    let readsBesideWrites = 0;
    const next = aheadBox.next.bind(aheadBox);
    aheadBox.next = (max: number) => {
      if (sink.inFlight) readsBesideWrites++;
      return next(max);
    };
    const all = makeRecords(2000);
    await aheadBox.append(all);
    const reports: DeliveryReport[] = [];
    const loopFor = () =>
      new DeliveryLoop({ sink, outbox: aheadBox, batchSize: 40, flushIntervalMs: 5, onCommit: (r) => reports.push(r) });
    let current = loopFor();
    try {
      current.start();
      await until(() => sink.rows.size >= 700, 20000);
      await current.stop();
      assert.ok(sink.rows.size < all.length, 'stopped in the middle of the stream');
      assert.ok(readsBesideWrites > 0, 'the outbox was read while the target was writing');
      assert.ok(sink.writesPrepared > 0, 'write() got the very batch prepare() was given');
      current = loopFor();
      current.start();
      await until(() => aheadBox.pending === 0 && sink.rows.size === all.length, 20000);
      await current.stop();
      assert.deepEqual([...sink.rows.keys()].sort(), all.map((r) => r.id).sort(), 'every record once');
      const inserted = reports.reduce((n, r) => n + r.inserted, 0);
      const batches = reports.reduce((n, r) => n + r.batch, 0);
      assert.equal(inserted, all.length, 'each record inserted once');
      // A committed batch is acked before stop() returns, so nothing is sent a second time.
      assert.equal(batches, all.length, 'no batch delivered twice');
      assert.ok(fs.readdirSync(aheadDir).filter((f) => f.startsWith('seg-')).length <= 1, 'acked segments are deleted');
    } finally {
      await current.stop();
      await aheadBox.close();
      fs.rmSync(aheadDir, { recursive: true, force: true });
    }
  });

  it('a sink whose prepare() throws still gets every record once (the hint is only a hint)', async () => {
    class ThrowingPrepare extends FakeSink {
      prepared = 0;
      prepare(): void {
        this.prepared++;
        throw new Error('prepare exploded');
      }
      override async write(batch: AttendanceRecord[]) {
        await sleep(1);
        return super.write(batch);
      }
    }
    const sink = new ThrowingPrepare();
    const all = makeRecords(600);
    await box.append(all);
    const { reports } = start(sink, { batchSize: 50 });
    await until(() => box.pending === 0 && sink.rows.size === all.length, 20000);
    await loop!.stop();
    assert.ok(sink.prepared > 0, 'prepare() was called');
    assert.equal(
      reports.reduce((n, r) => n + r.batch, 0),
      all.length,
      'no batch delivered twice',
    );
    assert.equal(
      reports.reduce((n, r) => n + r.inserted, 0),
      all.length,
    );
  });

  it('retryDelay: exponential, jittered over the upper half, capped, Retry-After wins when longer', () => {
    const p = DEFAULT_DELIVERY_BACKOFF;
    assert.equal(
      retryDelay(0, p, () => 0),
      500,
    );
    assert.equal(
      retryDelay(0, p, () => 0.999999),
      1000,
    );
    assert.equal(
      retryDelay(3, p, () => 0),
      4000,
    );
    assert.equal(
      retryDelay(30, p, () => 1),
      300000,
    );
    assert.equal(
      retryDelay(0, p, () => 0, 7000),
      7000,
    );
    assert.equal(
      retryDelay(0, p, () => 0, 10 * 60_000),
      300000,
    );
    for (let a = 0; a < 12; a++) {
      const d = retryDelay(a, p, Math.random);
      assert.ok(d >= Math.min(p.maxMs, 1000 * 2 ** a) / 2 && d <= p.maxMs);
    }
  });

  it('batches by size, the rest as a partial batch; reports after each commit', async () => {
    const sink = new FakeSink();
    const { reports } = start(sink);
    await box.append(makeRecords(250));
    await until(() => sink.rows.size === 250);
    assert.deepEqual(sink.calls, [100, 100, 50]);
    await until(() => reports.length === 3);
    assert.deepEqual(reports[0], { target: 'mysql', inserted: 100, duplicates: 0, rejected: 0, batch: 100 });
    await until(() => box.pending === 0);
  });

  it('an idle target gets a lone record at once, however long the flush interval', async () => {
    const sink = new FakeSink();
    const { reports } = start(sink, { flushIntervalMs: 600_000 });
    await box.append(makeRecords(1));
    // The old loop held a partial batch for the whole interval (ten minutes here): this waited it out.
    await until(() => reports.length === 1, 20000, 'the lone record committed');
    assert.deepEqual(sink.calls, [1]);
    await box.append(makeRecords(1, { from: 1 }));
    await until(() => reports.length === 2, 20000, 'the second lone record committed');
    assert.deepEqual(sink.calls, [1, 1]);
  });

  it('records that arrive while a write is in flight wait for it, then go out together', async () => {
    const sink = new FakeSink();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const write = sink.write.bind(sink);
    sink.write = async (batch) => {
      if (sink.calls.length === 0) {
        sink.calls.push(batch.length);
        await gate;
        sink.calls.pop();
      }
      return write(batch);
    };
    const { reports } = start(sink, { flushIntervalMs: 600_000 });
    await box.append(makeRecords(1));
    await until(() => sink.calls.length === 1, 20000, 'the first write started');
    for (let i = 1; i <= 7; i++) await box.append(makeRecords(1, { from: i }));
    release();
    await until(() => reports.length === 2, 20000, 'both writes committed');
    assert.deepEqual(sink.calls, [1, 7]);
    assert.deepEqual(
      reports.map((r) => r.inserted),
      [1, 7],
    );
    await until(() => box.pending === 0);
  });

  it('retries a failing target with backoff while records keep queueing; then every record exactly once', async () => {
    const sink = new FakeSink();
    let down = true;
    sink.failWith = () => (down ? transient() : null);
    const { states } = start(sink);
    for (let i = 0; i < 10; i++) {
      await box.append(makeRecords(100, { from: i * 100 }));
      await sleep(15);
    }
    await until(() => states.filter((s) => s.state === 'retry').length >= 4);
    const retries = states.filter((s): s is Extract<DeliveryState, { state: 'retry' }> => s.state === 'retry');
    assert.ok(retries[3].retryInMs >= retries[0].retryInMs, 'delays grow');
    assert.equal(retries[0].error, 'connection lost');
    assert.ok(box.pending >= 1000 - 100, `queued while down: ${box.pending}`);
    down = false;
    await until(() => sink.rows.size === 1000);
    await until(() => box.pending === 0);
    assert.equal(sink.rows.size, 1000);
  });

  it('a permanent rejection goes to the error output and does not block the records behind it', async () => {
    const sink = new FakeSink();
    sink.poison.add('bad-1');
    sink.poison.add('bad-2');
    const { rejected, reports } = start(sink);
    const recs = makeRecords(100);
    recs[17] = makeRecord(17, { userId: 'bad-1' });
    recs[80] = makeRecord(80, { userId: 'bad-2' });
    await box.append(recs);
    await box.append(makeRecords(50, { from: 100 }));
    await until(() => sink.rows.size === 148);
    assert.deepEqual(rejected.map((r) => r.record.userId).sort(), ['bad-1', 'bad-2']);
    assert.match(rejected[0].reason, /data too long/);
    await until(() => reports.length === 2);
    assert.equal(reports[0].rejected, 2);
    assert.equal(reports[0].inserted, 98);
  });

  it('records the sink rejects in its result go to the error output too', async () => {
    const sink = new FakeSink();
    const orig = sink.write.bind(sink);
    sink.write = async (batch) => {
      const r = await orig(batch.filter((x) => x.userId !== '3'));
      return {
        ...r,
        rejected: batch.filter((x) => x.userId === '3').map((record) => ({ record, reason: 'unknown badge' })),
      };
    };
    const { rejected } = start(sink);
    await box.append(makeRecords(10));
    await until(() => rejected.length === 1 && box.pending === 0);
    assert.equal(rejected[0].reason, 'unknown badge');
  });

  it('exactly once under injected failures, including a commit whose answer was lost, and a restart', async () => {
    const sink = new FakeSink();
    // Every 3rd call fails before writing; every 5th commits and then "loses the answer".
    const orig = sink.write.bind(sink);
    sink.write = async (batch) => {
      const n = sink.calls.length + 1;
      if (n % 3 === 0) {
        sink.calls.push(batch.length);
        throw transient('deadlock');
      }
      const r = await orig(batch);
      if (n % 5 === 0) throw transient('socket closed after commit');
      return r;
    };
    start(sink, { random: () => 0 });
    const all = makeRecords(3000);
    for (let i = 0; i < 3000; i += 300) await box.append(all.slice(i, i + 300));
    await until(() => sink.rows.size >= 1500);
    await loop!.stop(); // Node-RED stopped mid-stream
    loop = null;
    start(sink, { random: () => 0 });
    await until(() => box.pending === 0, 20000);
    assert.equal(sink.rows.size, 3000);
    assert.deepEqual([...sink.rows.keys()].sort(), all.map((r) => r.id).sort());
  });

  it('stop() during a backoff returns promptly and leaves the batch for the next start', async () => {
    const sink = new FakeSink();
    sink.failWith = () => transient();
    start(sink, { backoff: { baseMs: 60_000, maxMs: 60_000 } });
    await box.append(makeRecords(5));
    await until(() => sink.calls.length === 1);
    const t0 = Date.now();
    await loop!.stop();
    loop = null;
    assert.ok(Date.now() - t0 < 1000);
    assert.equal(box.pending, 5);
  });

  it('open() failing holds the records (config error), then delivers when it works', async () => {
    const sink = new FakeSink();
    let fails = 2;
    sink.open = async () => {
      sink.opened++;
      if (fails-- > 0) throw new Error('ER_ACCESS_DENIED_ERROR');
    };
    const { rejected } = start(sink);
    await box.append(makeRecords(3));
    await until(() => sink.rows.size === 3);
    assert.equal(rejected.length, 0);
    assert.equal(sink.opened, 3);
  });

  describe('a record the target refuses with an error that looks temporary', () => {
    /** Refuses any batch holding a `poison` user, the way a driver does that cannot name the row. */
    const refusing = (
      sink: FakeSink,
      msg = "Syntax error in string in query expression 'x|y'",
      scope?: 'outage' | 'records',
    ): void => {
      sink.failWith = (batch) =>
        batch.some((r) => r.userId.startsWith('poison')) ? new SinkError(msg, false, 'mysql', scope) : null;
    };

    it('is isolated after isolateAfter failures in a row, goes to output 2 with the error, and the queue moves', async () => {
      const sink = new FakeSink();
      refusing(sink);
      const { rejected, reports } = start(sink, { isolateAfter: 3, random: () => 0 });
      const recs = makeRecords(100);
      recs[41] = makeRecord(41, { userId: 'poison-1' });
      await box.append(recs);
      await box.append(makeRecords(30, { from: 100 }));
      await until(() => box.pending === 0);
      assert.equal(sink.rows.size, 129);
      assert.deepEqual(
        rejected.map((r) => r.record.userId),
        ['poison-1'],
      );
      assert.match(
        rejected[0].reason,
        /^Syntax error in string .* \(failed 3 times in a row on its own while the target took the other records: set aside so the queue moves\)$/,
      );
      assert.deepEqual(
        reports.map((r) => [r.inserted, r.rejected, r.batch]),
        [
          [99, 1, 100],
          [30, 0, 30],
        ],
      );
      assert.ok(!sink.rows.has(recs[41].id));
    });

    it('alone in its batch (a quiet hour): the batch grows with the punches that queue behind it, then the record is set aside', async () => {
      const sink = new FakeSink();
      refusing(sink);
      const { rejected } = start(sink, { isolateAfter: 3, random: () => 0 });
      const poison = makeRecord(0, { userId: 'poison-alone' });
      await box.append([poison]);
      // Failed alone again and again: with nothing behind it, there is no proof the target takes records.
      await until(() => sink.calls.length >= 6);
      assert.equal(rejected.length, 0);
      assert.equal(sink.rows.size, 0);
      await box.append(makeRecords(5, { from: 1 }));
      await until(() => box.pending === 0);
      assert.deepEqual(
        rejected.map((r) => r.record.id),
        [poison.id],
      );
      assert.equal(sink.rows.size, 5);
    });

    it('an outage never isolates: every record waits, however many tries, and then arrives once', async () => {
      for (const [msg, scope] of [
        ['connect ECONNREFUSED 127.0.0.1:3306', undefined],
        ['odd driver message', 'outage'],
      ] as const) {
        const sink = new FakeSink();
        let down = true;
        sink.failWith = () => (down ? new SinkError(msg, false, 'mysql', scope) : null);
        const { rejected } = start(sink, { isolateAfter: 2, random: () => 0 });
        await box.append(makeRecords(40));
        await until(() => sink.calls.length >= 12);
        assert.equal(rejected.length, 0, msg);
        assert.ok(
          sink.calls.every((n) => n === 40),
          `only whole batches were tried: ${sink.calls.join(',')}`,
        );
        down = false;
        await until(() => box.pending === 0);
        assert.equal(sink.rows.size, 40);
        assert.equal(rejected.length, 0);
        await loop!.stop();
        loop = null;
        sink.rows.clear();
      }
    });

    it('a target that refuses everything with one error (no outage words) sets nothing aside: no proof any record is at fault', async () => {
      const sink = new FakeSink();
      let broken = true;
      const alone = new Set<string>();
      sink.failWith = (batch) => {
        if (batch.length === 1) alone.add(batch[0].id);
        return broken ? new SinkError('Unexpected server error 1234', false, 'mysql') : null;
      };
      const { rejected } = start(sink, { isolateAfter: 2, random: () => 0 });
      await box.append(makeRecords(64));
      // Several isolation rounds: each halves down one branch only (a few writes), never every record alone.
      await until(() => sink.calls.filter((n) => n === 64).length >= 5);
      assert.equal(rejected.length, 0);
      assert.ok(alone.size > 0 && alone.size <= 2, `records written on their own: ${alone.size}`);
      broken = false;
      await until(() => box.pending === 0);
      assert.equal(sink.rows.size, 64);
      assert.equal(rejected.length, 0);
    });

    it('an error that changes between tries is not "the same error" (no isolation); scope "records" isolates even with outage words', async () => {
      const sink = new FakeSink();
      let n = 0;
      sink.failWith = (batch) =>
        batch.some((r) => r.userId === 'poison')
          ? new SinkError(`strange failure ${'x'.repeat(n++ % 3)}`, false, 'mysql')
          : null;
      const { rejected } = start(sink, { isolateAfter: 2, random: () => 0 });
      await box.append([...makeRecords(10), makeRecord(10, { userId: 'poison' })]);
      await until(() => sink.calls.length >= 10);
      assert.equal(rejected.length, 0);
      await loop!.stop();
      loop = null;
      refusing(sink, 'connection-ish words, but the target says it is the records', 'records');
      const second = start(sink, { isolateAfter: 2, random: () => 0 });
      // With a good punch behind it: a record alone in the outbox is never set aside (no proof the target works).
      await box.append([makeRecord(11, { userId: 'poison-2' }), makeRecord(12)]);
      // The stopped batch replays (with the first poison record), then the second, or all in one batch.
      await until(() => box.pending === 0);
      assert.deepEqual(second.rejected.map((r) => r.record.userId).sort(), ['poison', 'poison-2']);
      assert.equal(sink.rows.size, 11);
    });

    it('isolateAfter 0 keeps the old behaviour: the batch only waits', async () => {
      const sink = new FakeSink();
      refusing(sink);
      const { rejected } = start(sink, { isolateAfter: 0 });
      await box.append([...makeRecords(10), makeRecord(10, { userId: 'poison' })]);
      await until(() => sink.calls.length >= 10);
      assert.equal(rejected.length, 0);
      assert.ok(sink.calls.every((c) => c === 11));
    });

    it('isOutage: codes, Retry-After, scope, connection words; a record error is none of them', () => {
      assert.equal(isOutage(Object.assign(new Error('x'), { code: 'ECONNRESET' })), true);
      assert.equal(isOutage(Object.assign(new Error('x'), { retryAfterMs: 1000 })), true);
      assert.equal(isOutage(new SinkError('Could not update; currently locked.', false, 'access')), true);
      assert.equal(isOutage(new SinkError('Login failed for user', false, 'mssql')), true);
      assert.equal(isOutage(new SinkError('anything', false, 'http', 'outage')), true);
      assert.equal(isOutage(new SinkError('connection words', false, 'http', 'records')), false);
      assert.equal(isOutage(new SinkError("Syntax error in string in query expression 'a|b'", false, 'access')), false);
      assert.equal(
        isOutage(
          new SinkError(
            'Access write CHECKINOUT: [odbc] Error executing the sql statement: 37000 [Microsoft][ODBC Microsoft Access Driver] Syntax error',
            false,
            'access',
          ),
        ),
        false,
      );
      assert.equal(isOutage(Object.assign(new SinkError('http target: 503', false, 'http'), { status: 503 })), true);
      assert.equal(
        isOutage(Object.assign(new SinkError('http target: 500 cannot parse field x', false, 'http'), { status: 500 })),
        false,
      );
    });
  });
});
