/** An in-memory Sink with scripted failures, idempotent on the record id like every real target. */
import type { AttendanceRecord } from '../../../lib/record';
import { Sink, SinkError, SinkWriteResult } from '../../../lib/sinks/types';

export class FakeSink implements Sink {
  readonly target = 'mysql' as const;
  readonly rows = new Map<string, AttendanceRecord>();
  /** How many times each id was committed (must stay 1). */
  writes = 0;
  calls: number[] = [];
  opened = 0;
  closed = 0;
  /** Return an error to throw for this call, or null to commit. */
  failWith: (batch: AttendanceRecord[], call: number) => Error | null = () => null;
  /** Records whose userId is here are refused permanently (a constraint they can never meet). */
  poison = new Set<string>();

  async open(): Promise<void> {
    this.opened++;
  }

  async write(batch: AttendanceRecord[]): Promise<SinkWriteResult> {
    this.calls.push(batch.length);
    const err = this.failWith(batch, this.calls.length);
    if (err) throw err;
    const bad = batch.find((r) => this.poison.has(r.userId));
    if (bad) throw new SinkError(`user_id ${bad.userId}: data too long`, true, 'mysql');
    let inserted = 0;
    let duplicates = 0;
    for (const r of batch) {
      if (this.rows.has(r.id)) duplicates++;
      else {
        this.rows.set(r.id, r);
        inserted++;
      }
    }
    this.writes++;
    return { inserted, duplicates, rejected: [] };
  }

  async close(): Promise<void> {
    this.closed++;
  }
}

export const transient = (msg = 'connection lost'): SinkError => new SinkError(msg, false, 'mysql');
