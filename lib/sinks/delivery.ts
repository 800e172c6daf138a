/**
 * The loop that drives one Sink from its outbox (design.md §4): read a batch (full, or whatever waited for
 * the flush interval), write it, and ack it in the outbox only after the target committed. A transient
 * failure retries the same batch with exponential backoff and jitter while new records keep queueing on
 * disk; a permanent one is bisected until the record(s) the target refuses are isolated, those go to the
 * error output, and the rest is committed, so one bad record never blocks the ones behind it.
 */
import type { AttendanceRecord } from '../record';
import type { Outbox, OutboxBatch } from './outbox';
import { RejectedRecord, Sink, SinkError, SinkTarget } from './types';

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

export const DEFAULT_DELIVERY_BACKOFF: Readonly<BackoffPolicy> = Object.freeze({ baseMs: 1000, factor: 2, maxMs: 300_000 });

export type DeliveryState =
  | { state: 'idle'; pending: number }
  | { state: 'sending'; pending: number }
  | { state: 'retry'; pending: number; retryInMs: number; attempt: number; error: string };

export interface DeliveryOptions {
  sink: Sink;
  outbox: Outbox<AttendanceRecord>;
  /** Records per write. Default 1000. */
  batchSize?: number;
  /** How long a partial batch may wait for more records. Default 200 ms. */
  flushIntervalMs?: number;
  backoff?: Partial<BackoffPolicy>;
  /** [0, 1); injectable so tests get exact delays. */
  random?: () => number;
  onCommit?: (report: DeliveryReport) => void;
  onRejected?: (rejected: RejectedRecord[]) => void;
  onState?: (state: DeliveryState) => void;
  /** open() failed or a write failed transiently: for the log, not the error output. */
  onTransientError?: (err: Error, attempt: number) => void;
}

/**
 * Delay before retry `attempt` (0-based): exponential up to the cap, with jitter over the upper half of the
 * step. (Full jitter could retry a target that just failed after a few ms; half keeps the spread that stops
 * many sinks retrying in lockstep.) A server's Retry-After wins when it asks for longer.
 */
export function retryDelay(attempt: number, policy: BackoffPolicy, random: () => number, retryAfterMs?: number): number {
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

class Stopped extends Error {}

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

  constructor(private readonly opts: DeliveryOptions) {
    this.batchSize = Math.max(1, Math.floor(opts.batchSize ?? 1000));
    this.flushIntervalMs = Math.max(0, opts.flushIntervalMs ?? 200);
    this.policy = { ...DEFAULT_DELIVERY_BACKOFF, ...(opts.backoff ?? {}) };
    this.random = opts.random ?? Math.random;
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
          // The outbox itself failed (disk full, permissions): keep the records, re-read from the ack later.
          await acking.catch(() => undefined);
          acking = Promise.resolve();
          ahead = null;
          const e = err instanceof Error ? err : new Error(String(err));
          this.opts.onTransientError?.(e, diskFailures);
          const delay = retryDelay(diskFailures++, this.policy, this.random);
          this.emitState({ state: 'retry', pending: outbox.pending, retryInMs: delay, attempt: diskFailures, error: e.message });
          outbox.rewind();
          await this.sleep(delay);
        }
      }
    } finally {
      // Nothing of the outbox may still run when stop() returns (the caller closes it next).
      await acking.catch(() => undefined);
    }
  }

  /** Waits for a full batch, or a partial one for up to the flush interval; null when there is none yet. */
  private async nextBatch(): Promise<OutboxBatch<AttendanceRecord> | null> {
    const { outbox } = this.opts;
    if (outbox.pending === 0) {
      this.emitState({ state: 'idle', pending: 0 });
      await this.sleepOrAppend(60_000);
      return null;
    }
    if (outbox.pending < this.batchSize && this.flushIntervalMs > 0) {
      // A partial batch waits up to the flush interval for company.
      const deadline = Date.now() + this.flushIntervalMs;
      while (this.running && outbox.pending < this.batchSize && Date.now() < deadline) {
        await this.sleepOrAppend(deadline - Date.now());
      }
      if (!this.running) return null;
    }
    const batch = await outbox.next(this.batchSize);
    if (!batch) {
      outbox.rewind();
      await this.sleepOrAppend(this.flushIntervalMs || 10);
    }
    return batch;
  }

  private async deliverBatch(batch: OutboxBatch<AttendanceRecord>): Promise<DeliveryReport> {
    const report: DeliveryReport = { target: this.opts.sink.target, inserted: 0, duplicates: 0, rejected: 0, batch: batch.items.length };
    if (batch.items.length > 0) await this.deliver(batch.items, report);
    return report;
  }

  /** Writes `items` until committed; bisects on a permanent error. Throws Stopped when stopped. */
  private async deliver(items: AttendanceRecord[], report: DeliveryReport): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      if (!this.running) throw new Stopped();
      try {
        if (!this.opened) {
          await this.opts.sink.open();
          this.opened = true;
        }
        const result = await this.opts.sink.write(items);
        report.inserted += result.inserted;
        report.duplicates += result.duplicates;
        if (result.parked) report.parked = (report.parked ?? 0) + result.parked;
        if (result.rejected.length > 0) {
          report.rejected += result.rejected.length;
          this.opts.onRejected?.(result.rejected);
        }
        return;
      } catch (err) {
        if (this.opened && isPermanent(err)) {
          if (items.length === 1) {
            report.rejected += 1;
            this.opts.onRejected?.([{ record: items[0], reason: (err as Error).message }]);
            return;
          }
          const mid = Math.ceil(items.length / 2);
          await this.deliver(items.slice(0, mid), report);
          await this.deliver(items.slice(mid), report);
          return;
        }
        // Transient, unknown, or open() failing (config errors hold the records: nothing to the error output).
        const e = err instanceof Error ? err : new Error(String(err));
        this.opts.onTransientError?.(e, attempt);
        const delay = retryDelay(attempt, this.policy, this.random, retryAfterOf(err));
        this.emitState({ state: 'retry', pending: this.opts.outbox.pending, retryInMs: delay, attempt: attempt + 1, error: e.message });
        await this.sleep(delay);
      }
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
