/**
 * The loop that drives one Sink from its outbox (docs/architecture.md §4): read a batch (up to a full one of what
 * waits, at once when the target is idle), write it, and ack it in the outbox only after the target committed. A transient
 * failure retries the same batch with exponential backoff and jitter while new records keep queueing on
 * disk; a permanent one is bisected until the record(s) the target refuses are isolated, those go to the
 * error output, and the rest is committed, so one bad record never blocks the ones behind it.
 *
 * A target may also refuse a record with an error that looks temporary (a driver that cannot say "this row"):
 * retried as it is, that record would hold its queue forever. So when a batch fails `isolateAfter` times in a
 * row with the same error that is no outage, the loop looks for the record (isolate()). A record is set aside
 * only when it failed that many times in a row on its own while the target took other records: an outage, a
 * full disk or a target that refuses everything only waits, as before.
 */
import type { AttendanceRecord } from '../record';
import type { Outbox, OutboxBatch } from './outbox';
import { RejectedRecord, Sink, SinkError, SinkTarget, SinkWriteResult } from './types';

export interface DeliveryReport {
  target: SinkTarget;
  /** Rows newly committed from this outbox batch. */
  inserted: number;
  /** Records the target already had. */
  duplicates: number;
  /** Records sent to the error output from this batch. */
  rejected: number;
  /** Records in the outbox batch. */
  batch: number;
  /** Records the target keeps to write later (Access 'park'); present only when there were some. */
  parked?: number;
}

export interface BackoffPolicy {
  /** First retry delay. Default 1 s. */
  baseMs: number;
  /** Growth per attempt. Default 2. */
  factor: number;
  /** Cap. Default 5 min. */
  maxMs: number;
}

export const DEFAULT_DELIVERY_BACKOFF: Readonly<BackoffPolicy> = Object.freeze({
  baseMs: 1000,
  factor: 2,
  maxMs: 300_000,
});

export type DeliveryState =
  | { state: 'idle'; pending: number }
  | { state: 'sending'; pending: number }
  | { state: 'retry'; pending: number; retryInMs: number; attempt: number; error: string };

export interface DeliveryOptions {
  sink: Sink;
  outbox: Outbox<AttendanceRecord>;
  /** Records per write. Default 1000. */
  batchSize?: number;
  /**
   * Kept for settings saved before batching followed load: a partial batch no longer waits for company (see
   * nextBatch()); the interval only paces re-reads when the outbox counts records it cannot read yet.
   * Default 200 ms.
   */
  flushIntervalMs?: number;
  backoff?: Partial<BackoffPolicy>;
  /** [0, 1); injectable so tests get exact delays. */
  random?: () => number;
  onCommit?: (report: DeliveryReport) => void;
  onRejected?: (rejected: RejectedRecord[]) => void;
  onState?: (state: DeliveryState) => void;
  /** open() failed or a write failed transiently: for the log, not the error output. */
  onTransientError?: (err: Error, attempt: number) => void;
  /**
   * Failures in a row, with the same error that is no outage, after which a batch is searched for the record
   * the target refuses; that record is set aside after as many failures on its own. 0: never (wait, as for an
   * outage). Default 5; values below 2 count as 2.
   */
  isolateAfter?: number;
}

export const DEFAULT_ISOLATE_AFTER = 5;

/**
 * Delay before retry `attempt` (0-based): exponential up to the cap, with jitter over the upper half of the
 * step. (Full jitter could retry a target that just failed after a few ms; half keeps the spread that stops
 * many sinks retrying in lockstep.) A server's Retry-After wins when it asks for longer.
 */
export function retryDelay(
  attempt: number,
  policy: BackoffPolicy,
  random: () => number,
  retryAfterMs?: number,
): number {
  const step = Math.min(policy.maxMs, policy.baseMs * Math.pow(policy.factor, Math.max(0, attempt)));
  const jittered = Math.round(step / 2 + (random() * step) / 2);
  const wanted = retryAfterMs !== undefined && retryAfterMs > jittered ? retryAfterMs : jittered;
  return Math.max(1, Math.min(policy.maxMs, wanted));
}

/** A sink error may carry the server's Retry-After (the HTTP sink does). */
function retryAfterOf(err: unknown): number | undefined {
  const v = (err as { retryAfterMs?: unknown } | null)?.retryAfterMs;
  return typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : undefined;
}

const isPermanent = (err: unknown): boolean => err instanceof SinkError && err.permanent;

/** Error codes of a network or connection failure (Node, mysql2, tedious). */
const OUTAGE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ESOCKET',
  'ETIMEOUT',
  'ELOGIN',
  'ECONNCLOSED',
  'ENOSPC',
  'EACCES',
  'EPERM',
  'EROFS',
  'EIO',
  'EBUSY',
  'EMFILE',
  'PROTOCOL_CONNECTION_LOST',
  'PROTOCOL_SEQUENCE_TIMEOUT',
  'POOL_CLOSED',
]);
/** Words of errors that are about the target or the way to it, not about a record. Generous on purpose: a
 *  false "outage" only waits (the old behaviour), a false "record" could set a good record aside. */
const OUTAGE_TEXT =
  /connect|network|socket|timed? ?out|timeout|unreachable|refused|gone away|communication link|08S01|shut ?down|unavailable|overload|too many|throttl|auth|login|logon|access denied|password|permission|credential|locked|lock wait|in use|busy|deadlock|disk|space|quota|read-only|no such (table|file)|not found|closed|not open|gateway|proxy/i;

/** HTTP answers that say the service, not the request, is the problem: timeout, throttled, gateway, unavailable. */
const OUTAGE_STATUS = new Set([408, 429, 502, 503, 504]);

/** Whether a failure is about the target (wait) rather than something in the batch (may isolate). */
export function isOutage(err: unknown): boolean {
  if (err instanceof SinkError && err.scope) return err.scope === 'outage';
  if (retryAfterOf(err) !== undefined) return true; // the server asked us to wait
  const status = (err as { status?: unknown } | null)?.status;
  if (typeof status === 'number' && OUTAGE_STATUS.has(status)) return true;
  const e = err as { code?: unknown; cause?: { code?: unknown } } | null;
  for (const code of [e?.code, e?.cause?.code]) if (typeof code === 'string' && OUTAGE_CODES.has(code)) return true;
  const message = err instanceof Error ? err.message : String(err);
  return OUTAGE_TEXT.test(message);
}

/** "The same error": its code and message, numbers aside (row numbers and durations vary between tries). */
function signature(err: Error): string {
  const code = (err as { code?: unknown }).code;
  return `${typeof code === 'string' ? code : ''}|${err.message.replace(/\d+/g, '#')}`;
}

class Stopped extends Error {}
/** The batch could not be settled and more records wait: read it again with them (it stays first). */
class Regrow extends Error {}

export class DeliveryLoop {
  private readonly batchSize: number;
  private readonly flushIntervalMs: number;
  private readonly policy: BackoffPolicy;
  private readonly random: () => number;
  private running = false;
  private loopDone: Promise<void> = Promise.resolve();
  private stopper = new AbortController();
  private opened = false;
  private lastState: DeliveryState['state'] | null = null;
  private readonly isolateAfter: number;
  /** Failures in a row of the current outbox batch with one non-outage error (kept while it regrows). */
  private streak = { sig: '', n: 0 };
  /** Failures in a row of single records written on their own, by record id, for the current outbox batch. */
  private alone = new Map<string, { sig: string; n: number }>();

  constructor(private readonly opts: DeliveryOptions) {
    this.batchSize = Math.max(1, Math.floor(opts.batchSize ?? 1000));
    this.flushIntervalMs = Math.max(0, opts.flushIntervalMs ?? 200);
    this.policy = { ...DEFAULT_DELIVERY_BACKOFF, ...(opts.backoff ?? {}) };
    this.random = opts.random ?? Math.random;
    const n = Math.floor(opts.isolateAfter ?? DEFAULT_ISOLATE_AFTER);
    this.isolateAfter = n > 0 ? Math.max(2, n) : 0;
  }

  /** Records waiting in the outbox (appended, not committed). */
  get pending(): number {
    return this.opts.outbox.pending;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.stopper = new AbortController();
    this.loopDone = this.run();
  }

  /** Stops after the write in flight settles (its batch stays un-acked and is replayed next start). */
  async stop(): Promise<void> {
    this.running = false;
    this.stopper.abort();
    await this.loopDone;
  }

  private emitState(s: DeliveryState): void {
    // 'retry' always reports (the delay changes); the others only on change, to keep status traffic low.
    if (s.state !== 'retry' && s.state === this.lastState) return;
    this.lastState = s.state;
    this.opts.onState?.(s);
  }

  private async run(): Promise<void> {
    const { outbox } = this.opts;
    outbox.rewind(); // a previous loop may have stopped with a batch handed out and not acked
    let diskFailures = 0;
    // Under load the outbox works beside the target: while batch N is written, N-1 is acked and then N+1
    // read (and parsed) and handed to the sink's prepare(). The outbox takes one of ack()/next() at a time,
    // so the read waits for the ack.
    let ahead: OutboxBatch<AttendanceRecord> | null = null;
    let acking: Promise<void> = Promise.resolve();
    try {
      while (this.running) {
        try {
          let batch: OutboxBatch<AttendanceRecord> | null = ahead;
          ahead = null;
          if (!batch) {
            await acking;
            batch = await this.nextBatch();
            if (!batch) continue;
          }
          this.emitState({ state: 'sending', pending: outbox.pending });
          const current = batch;
          const writing = this.deliverBatch(current);
          const reading = acking.then(async (): Promise<OutboxBatch<AttendanceRecord> | null> => {
            if (!this.running || outbox.pending - current.lines < this.batchSize) return null;
            const next = await outbox.next(this.batchSize);
            try {
              if (next) this.opts.sink.prepare?.(next.items);
            } catch {
              /* only a hint: write() does the work itself */
            }
            return next;
          });
          const [written, read] = await Promise.allSettled([writing, reading]);
          if (written.status === 'rejected') throw written.reason;
          // Committed: report it now; the ack (bookkeeping only) runs beside the next write.
          this.opts.onCommit?.(written.value);
          if (read.status === 'rejected') {
            // The read failed (disk): still record the commit, so only unsent records are read again.
            await outbox.ack(current);
            throw read.reason;
          }
          ahead = read.value;
          acking = outbox.ack(current);
          acking.catch(() => undefined); // observed when awaited; a failure rewinds and re-sends (idempotent)
          diskFailures = 0;
        } catch (err) {
          if (err instanceof Stopped) return;
          if (err instanceof Regrow) {
            // Read the unsettled batch again from its start, now with the records that queued behind it.
            await acking.catch(() => undefined);
            acking = Promise.resolve();
            ahead = null;
            outbox.rewind();
            continue;
          }
          // The outbox itself failed (disk full, permissions): keep the records, re-read from the ack later.
          await acking.catch(() => undefined);
          acking = Promise.resolve();
          ahead = null;
          const e = err instanceof Error ? err : new Error(String(err));
          this.opts.onTransientError?.(e, diskFailures);
          const delay = retryDelay(diskFailures++, this.policy, this.random);
          this.emitState({
            state: 'retry',
            pending: outbox.pending,
            retryInMs: delay,
            attempt: diskFailures,
            error: e.message,
          });
          outbox.rewind();
          await this.sleep(delay);
        }
      }
    } finally {
      // Nothing of the outbox may still run when stop() returns (the caller closes it next).
      await acking.catch(() => undefined);
    }
  }

  /**
   * The next batch, read at once: the loop comes here only when no write is in flight, so a waiting record
   * goes now, whatever its company. Batching comes from load: records that arrive while a write is in flight
   * wait for it and then go together (up to a full batch), so a lone punch never waits out an interval and a
   * busy target still gets large batches. Null when there is none yet (after a wait for the next append).
   */
  private async nextBatch(): Promise<OutboxBatch<AttendanceRecord> | null> {
    const { outbox } = this.opts;
    if (outbox.pending === 0) {
      this.emitState({ state: 'idle', pending: 0 });
      await this.sleepOrAppend(60_000);
      return null;
    }
    const batch = await outbox.next(this.batchSize);
    if (!batch) {
      outbox.rewind();
      await this.sleepOrAppend(this.flushIntervalMs || 10);
    }
    return batch;
  }

  private async deliverBatch(batch: OutboxBatch<AttendanceRecord>): Promise<DeliveryReport> {
    const report: DeliveryReport = {
      target: this.opts.sink.target,
      inserted: 0,
      duplicates: 0,
      rejected: 0,
      batch: batch.items.length,
    };
    // It may grow (be read again with what queued behind it) while it is smaller than a batch and more waits.
    const canGrow = (): boolean => batch.items.length < this.batchSize && this.opts.outbox.pending > batch.lines;
    if (batch.items.length > 0) await this.deliver(batch.items, report, canGrow);
    this.streak = { sig: '', n: 0 };
    this.alone.clear();
    return report;
  }

  /** One write; its counts go into the report. */
  private async writeCounted(items: AttendanceRecord[], report: DeliveryReport): Promise<void> {
    if (!this.opened) {
      await this.opts.sink.open();
      this.opened = true;
    }
    const result: SinkWriteResult = await this.opts.sink.write(items);
    report.inserted += result.inserted;
    report.duplicates += result.duplicates;
    if (result.parked) report.parked = (report.parked ?? 0) + result.parked;
    if (result.rejected.length > 0) {
      report.rejected += result.rejected.length;
      this.opts.onRejected?.(result.rejected);
    }
  }

  private reject(record: AttendanceRecord, reason: string, report: DeliveryReport): void {
    report.rejected += 1;
    this.opts.onRejected?.([{ record, reason }]);
  }

  /** A permanent error: halve until the refused record(s) stand alone; they go to the error output. */
  private async splitPermanent(items: AttendanceRecord[], err: unknown, report: DeliveryReport): Promise<void> {
    if (items.length === 1) return this.reject(items[0], (err as Error).message, report);
    const mid = Math.ceil(items.length / 2);
    await this.deliver(items.slice(0, mid), report);
    await this.deliver(items.slice(mid), report);
  }

  /**
   * Writes `items` until committed; bisects on a permanent error; isolates after `isolateAfter` failures in a
   * row with one error that is no outage. Throws Stopped when stopped, Regrow when the batch should be read
   * again with the records behind it.
   */
  private async deliver(items: AttendanceRecord[], report: DeliveryReport, canGrow?: () => boolean): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      if (!this.running) throw new Stopped();
      try {
        await this.writeCounted(items, report);
        return;
      } catch (err) {
        if (err instanceof Stopped) throw err;
        if (this.opened && isPermanent(err)) return this.splitPermanent(items, err, report);
        // Transient, unknown, or open() failing (config errors hold the records: nothing to the error output).
        let e = err instanceof Error ? err : new Error(String(err));
        if (this.opened && this.isolateAfter > 0 && !isOutage(err)) {
          const sig = signature(e);
          this.streak = sig === this.streak.sig ? { sig, n: this.streak.n + 1 } : { sig, n: 1 };
          if (this.streak.n >= this.isolateAfter) {
            const before = items.length;
            const out = await this.isolate(items, e, report);
            items = out.rest;
            if (items.length === 0) return;
            if (out.outage) {
              e = out.outage;
              this.streak = { sig: '', n: 0 };
              this.alone.clear();
            } else if (items.length === before && canGrow?.()) throw new Regrow();
          }
        } else {
          this.streak = { sig: '', n: 0 };
          this.alone.clear();
        }
        this.opts.onTransientError?.(e, attempt);
        const delay = retryDelay(attempt, this.policy, this.random, retryAfterOf(err));
        this.emitState({
          state: 'retry',
          pending: this.opts.outbox.pending,
          retryInMs: delay,
          attempt: attempt + 1,
          error: e.message,
        });
        await this.sleep(delay);
      }
    }
  }

  /**
   * Looks for the record(s) in `items` that make the target fail with `err`, writing halves: a half that
   * commits proves the target takes records; a failing one is halved again down to single records. Those
   * are written on their own until each has failed `isolateAfter` times in a row with one error, and then go
   * to the error output, but only if the target took other records meanwhile. Without that proof (every part
   * failed: the target refuses everything) nothing is set aside. An outage on the way stops the search.
   * Returns the records still to write (in their order) and the outage, if one stopped it.
   */
  private async isolate(
    items: AttendanceRecord[],
    err: Error,
    report: DeliveryReport,
  ): Promise<{ rest: AttendanceRecord[]; outage?: Error }> {
    const settled = new Set<AttendanceRecord>();
    let committed = false;
    const candidates: { record: AttendanceRecord; err: Error }[] = [];
    const deferred: AttendanceRecord[][] = [];
    const rest = (): AttendanceRecord[] => items.filter((r) => !settled.has(r));
    const need = this.isolateAfter;
    class OutageStop extends Error {
      constructor(readonly failure: Error) {
        super(failure.message);
      }
    }

    /** Writes `part` once: null when it is settled (committed, or refused record by record), else the error. */
    const attempt = async (part: AttendanceRecord[]): Promise<Error | null> => {
      if (!this.running) throw new Stopped();
      try {
        await this.writeCounted(part, report);
      } catch (x) {
        if (isPermanent(x)) {
          await this.splitPermanent(part, x, report);
        } else {
          const e = x instanceof Error ? x : new Error(String(x));
          if (isOutage(x)) throw new OutageStop(e);
          return e;
        }
      }
      for (const r of part) settled.add(r);
      committed = true; // the target answered and took (or refused) records: it works
      return null;
    };
    /** `part` failed with `e`: find the single records behind it. */
    const search = async (part: AttendanceRecord[], e: Error): Promise<void> => {
      if (part.length === 1) {
        candidates.push({ record: part[0], err: e });
        return;
      }
      const mid = Math.ceil(part.length / 2);
      const left = part.slice(0, mid);
      const right = part.slice(mid);
      const el = await attempt(left);
      const er = await attempt(right);
      if (el) await search(left, el);
      // Both halves failing and nothing taken yet: the target may refuse everything. Do not write every
      // record of the batch on its own against a broken target; come back to this half once one commits.
      if (er) {
        if (committed) await search(right, er);
        else deferred.push(right);
      }
    };
    /** Counts a failure of `c` on its own; true once it has failed often enough in a row to be set aside. */
    const countAlone = (record: AttendanceRecord, e: Error, times: number): boolean => {
      const sig = signature(e);
      const prev = this.alone.get(record.id);
      const n = (prev?.sig === sig ? prev.n : 0) + times;
      this.alone.set(record.id, { sig, n });
      return n >= need;
    };

    try {
      if (items.length === 1) candidates.push({ record: items[0], err });
      else await search(items, err);
      while (committed && deferred.length > 0) {
        const part = deferred.shift()!;
        const e = await attempt(part);
        if (e) await search(part, e);
      }
      // A batch of one failed alone every time the batch did; a found record once so far.
      const due = candidates.filter((c) => countAlone(c.record, c.err, items.length === 1 ? this.streak.n : 1));
      if (!committed) return { rest: rest() };
      let waiting = candidates.filter((c) => !due.includes(c));
      const setAside = (c: { record: AttendanceRecord; err: Error }): void => {
        settled.add(c.record);
        const n = this.alone.get(c.record.id)?.n ?? need;
        this.reject(
          c.record,
          `${c.err.message} (failed ${n} times in a row on its own while the target took the other records: set aside so the queue moves)`,
          report,
        );
      };
      due.forEach(setAside);
      for (let round = 0; waiting.length > 0; round++) {
        const delay = retryDelay(round, this.policy, this.random);
        this.emitState({
          state: 'retry',
          pending: this.opts.outbox.pending,
          retryInMs: delay,
          attempt: round + 1,
          error: waiting[0].err.message,
        });
        await this.sleep(delay);
        const next: typeof waiting = [];
        for (const c of waiting) {
          const e = await attempt([c.record]);
          if (!e) continue;
          const cur = { record: c.record, err: e };
          if (countAlone(c.record, e, 1)) setAside(cur);
          else next.push(cur);
        }
        waiting = next;
      }
      return { rest: rest() };
    } catch (x) {
      if (x instanceof OutageStop) return { rest: rest(), outage: x.failure };
      throw x;
    }
  }

  /** Sleeps `ms`, woken early by stop(). */
  private sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const signal = this.stopper.signal;
      if (signal.aborted) return resolve();
      const done = (): void => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal.addEventListener('abort', done);
    });
  }

  /** Sleeps until an append, `ms`, or stop(). */
  private sleepOrAppend(ms: number): Promise<void> {
    if (ms <= 0) return Promise.resolve();
    return this.opts.outbox.waitForAppend(ms, this.stopper.signal);
  }
}
