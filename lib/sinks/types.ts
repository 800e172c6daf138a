/**
 * The one interface every delivery target implements (docs/internal-apis.md, "Delivery contracts").
 * The delivery loop (lib/sinks/delivery.ts) drives any Sink from the durable outbox, so a target only has to
 * write one batch idempotently and say whether a failure is worth retrying.
 */
import type { AttendanceRecord } from '../record';

export type SinkTarget = 'mysql' | 'mssql' | 'access' | 'http' | 'file' | 'mqtt';

export interface RejectedRecord {
  record: AttendanceRecord;
  reason: string;
}

export interface SinkWriteResult {
  /** Rows the target newly committed. */
  inserted: number;
  /** Records the target already had (idempotent re-write). */
  duplicates: number;
  /** Permanent per-record rejections (→ error output), e.g. an unknown badge in Access. */
  rejected: RejectedRecord[];
  /** Records the target keeps to write later (the Access 'park' policy); in no other count. */
  parked?: number;
}

export interface Sink {
  readonly target: SinkTarget;
  /** Connect / discover columns / create the table if configured. */
  open(): Promise<void>;
  /** All-or-nothing per batch; idempotent on the record key. */
  write(batch: AttendanceRecord[]): Promise<SinkWriteResult>;
  /**
   * Optional hint: `batch` (this very array) is what write() gets next. The delivery loop calls it while
   * the previous batch is still being written, so a target can do its CPU work (conversion, encoding)
   * while the server works. Must not throw and must not send anything; write() stays correct without it.
   */
  prepare?(batch: AttendanceRecord[]): void;
  /** Optional: records the target keeps to write later (the Access 'park' policy), for the node status. */
  held?(): number;
  close(): Promise<void>;
}

/**
 * What a non-permanent failure is about, when the target can tell (the delivery loop's isolation rule):
 * - 'outage': the target, or the way to it, is down or misconfigured (connection lost, login refused, file
 *   locked, table missing). The records only wait, however long it lasts.
 * - 'records': the target answered and refused something in this batch without naming the record. After
 *   `isolateAfter` such failures in a row the loop looks for the record that causes it.
 * Unset: the loop decides from the error itself (isOutage in delivery.ts: network codes, Retry-After, and
 * words such as connection, timeout, locked or login count as an outage).
 */
export type SinkFailureScope = 'outage' | 'records';

/**
 * A target failure. permanent=false (network down, deadlock, 5xx, bad credentials until fixed): the
 * delivery loop retries with backoff. permanent=true (a 4xx, a constraint the record can never meet): the
 * records go to the error output so they never block the ones behind them.
 */
export class SinkError extends Error {
  constructor(
    message: string,
    readonly permanent: boolean,
    readonly target: SinkTarget,
    readonly scope?: SinkFailureScope,
  ) {
    super(message);
    this.name = 'SinkError';
  }
}

/** Optional logger the sinks accept; secrets are never passed to it. */
export type SinkLogger = (
  level: 'debug' | 'info' | 'warn' | 'error',
  message: string,
  details?: Record<string, unknown>,
) => void;
