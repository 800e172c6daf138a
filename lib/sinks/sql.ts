/**
 * What the SQL targets (MySQL/MariaDB, SQL Server, Access) share: the identifier rule, the record key and the
 * in-batch dedupe on it, chunking by rows and by size, the value checks that decide whether a value would be
 * stored exactly, and one write in flight per sink. Pure: no driver, no connection.
 */
import type { AttendanceRecord } from '../record';
import type { RejectedRecord } from './types';

// ---- identifiers ----

export type SqlTarget = 'mysql' | 'mssql' | 'access';

/** The longest name each target takes: MySQL 64, SQL Server's sysname 128, Jet 64. */
export const SQL_IDENTIFIER_MAX: Readonly<Record<SqlTarget, number>> = Object.freeze({
  mysql: 64,
  mssql: 128,
  access: 64,
});

/**
 * Identifiers (table, schema, columns) come from the configuration or from the database, and must be a plain
 * name: a letter or `_`, then letters, digits and `_`. No quote character can occur, so a quoted name cannot be
 * broken out of, and quoting makes keywords safe. The editor checks the same patterns (their `source`).
 */
export function sqlIdentifierPattern(maxLength: number): RegExp {
  return new RegExp(`^[A-Za-z_][A-Za-z0-9_]{0,${maxLength - 1}}$`);
}

export const SQL_IDENTIFIER: Readonly<Record<SqlTarget, RegExp>> = Object.freeze({
  mysql: sqlIdentifierPattern(SQL_IDENTIFIER_MAX.mysql),
  mssql: sqlIdentifierPattern(SQL_IDENTIFIER_MAX.mssql),
  access: sqlIdentifierPattern(SQL_IDENTIFIER_MAX.access),
});

export function isSqlIdentifier(name: unknown, target: SqlTarget): name is string {
  return typeof name === 'string' && SQL_IDENTIFIER[target].test(name);
}

// ---- the record key ----

/** Key parts joined by NUL, which no key field may hold: distinct parts never make the same key. */
export function keyOf(...parts: readonly (string | number)[]): string {
  return parts.join('\u0000');
}

/** The table contract's unique key (device_sn, user_id, local_time), byte for byte; `localTime` as stored. */
export function recordKey(r: AttendanceRecord, localTime: string = r.localTime): string {
  return `${r.deviceSn}\u0000${r.userId}\u0000${localTime}`;
}

/** Why a record cannot be stored as it is (a row converter returns it instead of a row). */
export class RowRejection {
  constructor(readonly reason: string) {}
}

export interface ConvertedBatch<R> {
  /** The rows to write, in batch order, one per key. */
  rows: R[];
  /** The record of each row (same index). */
  records: AttendanceRecord[];
  rejected: RejectedRecord[];
  /** Records whose key an earlier record of the batch has: written once, counted as duplicates. */
  duplicates: AttendanceRecord[];
}

/**
 * Converts every record, rejects the ones the converter refuses, and keeps the first record of each key: a
 * statement cannot see its sibling rows, so the batch is deduped before it is sent.
 */
export function convertBatch<R>(
  batch: readonly AttendanceRecord[],
  toRow: (record: AttendanceRecord) => R | RowRejection,
  key: (record: AttendanceRecord) => string = recordKey,
): ConvertedBatch<R> {
  const out: ConvertedBatch<R> = { rows: [], records: [], rejected: [], duplicates: [] };
  const seen = new Set<string>();
  for (const record of batch) {
    const row = toRow(record);
    if (row instanceof RowRejection) {
      out.rejected.push({ record, reason: row.reason });
      continue;
    }
    const k = key(record);
    if (seen.has(k)) {
      out.duplicates.push(record);
      continue;
    }
    seen.add(k);
    out.rows.push(row);
    out.records.push(record);
  }
  return out;
}

// ---- chunking ----

/** `items` in slices of at most `size`. */
export function chunk<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/**
 * [start, end) ranges of at most `maxItems` items whose sizes add up to at most `maxSize`. An item larger than
 * `maxSize` gets a range of its own (the server then decides; a too-large row is refused as data).
 */
export function planRanges<T>(
  items: readonly T[],
  maxItems: number,
  size: (item: T) => number,
  maxSize: number,
): [number, number][] {
  const out: [number, number][] = [];
  let start = 0;
  let total = 0;
  for (let i = 0; i < items.length; i++) {
    const n = size(items[i]);
    if (i > start && (i - start >= maxItems || total + n > maxSize)) {
      out.push([start, i]);
      start = i;
      total = 0;
    }
    total += n;
  }
  if (start < items.length) out.push([start, items.length]);
  return out;
}

// ---- value checks ----

// Only a well-formed string is stored unchanged: a lone surrogate becomes U+FFFD or an error on the way in.
// The plain class finds any surrogate cheaply; only then does the /u pattern look for an unpaired one.
const ANY_SURROGATE = /[\uD800-\uDFFF]/;
const LONE_SURROGATE = /\p{Cs}/u;

export function hasLoneSurrogate(s: string): boolean {
  return ANY_SURROGATE.test(s) && LONE_SURROGATE.test(s);
}

/** Length in code points (how MySQL counts characters), not UTF-16 units. */
export function codePoints(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

export interface DateTimeParts {
  y: number;
  mo: number;
  d: number;
  h: number;
  mi: number;
  s: number;
}

/** The decimal number in v[at, at+len), or -1 when a character there is not an ASCII digit. */
function digits(v: string, at: number, len: number): number {
  let x = 0;
  for (let i = at; i < at + len; i++) {
    const c = v.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return -1;
    x = x * 10 + c;
  }
  return x;
}

/**
 * The `YYYY-MM-DD?HH:mm:ss` prefix of `v`, with `T` (or, with `spaceToo`, a space) between date and time; null
 * when the shape is wrong. Hand-parsed: it runs several times per record on the MySQL hot path.
 */
export function dateTimeParts(v: string, spaceToo = false): DateTimeParts | null {
  if (
    v.length < 19 ||
    v.charCodeAt(4) !== 45 ||
    v.charCodeAt(7) !== 45 ||
    v.charCodeAt(13) !== 58 ||
    v.charCodeAt(16) !== 58
  )
    return null;
  const sep = v.charCodeAt(10);
  if (sep !== 84 && !(spaceToo && sep === 32)) return null;
  const y = digits(v, 0, 4),
    mo = digits(v, 5, 2),
    d = digits(v, 8, 2),
    h = digits(v, 11, 2),
    mi = digits(v, 14, 2),
    s = digits(v, 17, 2);
  if (y < 0 || mo < 0 || d < 0 || h < 0 || mi < 0 || s < 0) return null;
  return { y, mo, d, h, mi, s };
}

const MONTH_DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** Whether the parts name a real calendar second from `minYear` on (no leap seconds). */
export function isCalendarTime(p: DateTimeParts, minYear: number): boolean {
  const leap = p.y % 4 === 0 && (p.y % 100 !== 0 || p.y % 400 === 0);
  const days = p.mo === 2 && leap ? 29 : MONTH_DAYS[p.mo - 1];
  return p.y >= minYear && days !== undefined && p.d >= 1 && p.d <= days && p.h <= 23 && p.mi <= 59 && p.s <= 59;
}

/** `YYYY-MM-DD HH:mm:ss` from a value dateTimeParts accepted: string surgery, never a Date (no zone can shift it). */
export function sqlDateTimeText(v: string): string {
  return v.slice(0, 10) + ' ' + v.slice(11, 19);
}

// ---- one write at a time ----

/**
 * Runs writes one after the other: a sink keeps one batch in flight, and a later write waits for the earlier
 * ones whether they succeeded or failed.
 */
export class SerialWrites {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(write: () => Promise<T>): Promise<T> {
    const run = this.tail.then(write);
    this.tail = run.catch(() => undefined);
    return run;
  }

  /** Settles once every write started so far has settled; never rejects. */
  idle(): Promise<void> {
    return this.tail.then(() => undefined);
  }
}
