/**
 * Punches → daily worked hours per employee. Pure and deterministic: the same punches in any order, with
 * any duplicates, give the same result. flows/workhours.json carries a plain-JS copy of this algorithm in a
 * function node (function nodes cannot require our package); test/workhours/flow-function.spec.ts runs that
 * copy against this module, so the two cannot drift apart unnoticed.
 *
 * Rules, per user, in time order:
 * - `in` (and `break-in`, `overtime-in`) opens a segment; the next `out` (`break-out`, `overtime-out`) closes it.
 * - Breaks are unpaid by default: `break-out` closes the segment and `break-in` opens a new one, so the break
 *   is not counted. With `breaks: 'paid'` break punches are ignored and the segment runs through the break.
 * - `overtime-in`/`overtime-out` work the same and count in the day's `overtimeHours` too.
 * - A second opening punch while a segment is open is a repeat (double tap) and ignored, unless it comes more
 *   than the maximum segment length after the open one: then the open one is reported as an open session
 *   (forgotten punch-out) and the new one opens a segment.
 * - A segment longer than `maxSegmentHours` (default 16) is clamped to it and flagged `clamped`.
 * - A segment belongs to the local date of its opening punch (`localTime`), even when it ends after midnight.
 * - What is still open at the end (working, or on a break that never ended) is reported in `open`, apart
 *   from the totals; closing punches with nothing open are reported in `unmatched`.
 * Durations come from `timestamp` (UTC) when both punches have it, so a night across a DST change is right;
 * otherwise from `localTime`.
 */
import type { Direction } from '../record/canonical';

/** The fields of a canonical record this needs (a whole AttendanceRecord fits). */
export interface WorkPunch {
  userId: string;
  /** Device wall clock `YYYY-MM-DDTHH:mm:ss`. */
  localTime: string;
  direction: Direction | string;
  /** UTC instant, ISO 8601; preferred for ordering and durations. */
  timestamp?: string | null;
  id?: string | null;
}

export interface WorkHoursOptions {
  /** Longest credited segment, hours. Default 16. */
  maxSegmentHours?: number;
  /** 'unpaid' (default): break-out..break-in is not worked time. 'paid': break punches are ignored. */
  breaks?: 'unpaid' | 'paid';
}

export type SegmentKind = 'work' | 'overtime';

export interface WorkSegment {
  userId: string;
  /** Local date of the opening punch, `YYYY-MM-DD`. */
  date: string;
  kind: SegmentKind;
  in: string;
  out: string;
  /** Credited seconds (after clamping). */
  seconds: number;
  /** Seconds between the punches before clamping. */
  rawSeconds: number;
  clamped: boolean;
}

export interface DayHours {
  userId: string;
  date: string;
  /** Credited hours, all kinds, rounded to 2 decimals (from the exact seconds). */
  hours: number;
  overtimeHours: number;
  seconds: number;
  segments: number;
  /** Segments cut to the maximum: worth a look by a person. */
  clampedSegments: number;
  firstIn: string;
  lastOut: string;
}

export interface OpenSession {
  userId: string;
  date: string;
  /** 'working': an opening punch without its closing one. 'on-break': a break-out without a break-in. */
  state: 'working' | 'on-break';
  kind: SegmentKind;
  since: string;
}

export interface SkippedPunch {
  userId: string;
  localTime: string;
  direction: string;
  reason: 'out-without-in' | 'repeated-in' | 'unknown-direction' | 'invalid';
}

export interface WorkHoursResult {
  days: DayHours[];
  segments: WorkSegment[];
  open: OpenSession[];
  unmatched: SkippedPunch[];
  duplicates: number;
}

const LOCAL_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$/;

interface Punch {
  userId: string;
  localTime: string;
  direction: string;
  /** Epoch ms for ordering: timestamp, else localTime read as UTC. */
  at: number;
  /** Epoch ms of localTime read as UTC (durations when a timestamp is missing). */
  wall: number;
  hasTs: boolean;
}

/** Open/close role of a direction, or null when it is ignored. */
function roleOf(
  direction: string,
  breaks: 'unpaid' | 'paid',
): { open: boolean; kind: SegmentKind; isBreak: boolean } | null {
  switch (direction) {
    case 'in':
      return { open: true, kind: 'work', isBreak: false };
    case 'out':
      return { open: false, kind: 'work', isBreak: false };
    case 'overtime-in':
      return { open: true, kind: 'overtime', isBreak: false };
    case 'overtime-out':
      return { open: false, kind: 'overtime', isBreak: false };
    case 'break-in':
      return breaks === 'paid' ? null : { open: true, kind: 'work', isBreak: true };
    case 'break-out':
      return breaks === 'paid' ? null : { open: false, kind: 'work', isBreak: true };
    default:
      return null;
  }
}

const round2 = (seconds: number): number => Math.round((seconds / 3600) * 100) / 100;
const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

function toPunch(p: WorkPunch): Punch | null {
  if (
    !p ||
    typeof p.userId !== 'string' ||
    p.userId === '' ||
    typeof p.localTime !== 'string' ||
    !LOCAL_RE.test(p.localTime)
  )
    return null;
  const wall = Date.parse(p.localTime + 'Z');
  if (!Number.isFinite(wall)) return null;
  const ts = typeof p.timestamp === 'string' ? Date.parse(p.timestamp) : NaN;
  const hasTs = Number.isFinite(ts);
  return {
    userId: p.userId,
    localTime: p.localTime,
    direction: String(p.direction),
    at: hasTs ? ts : wall,
    wall,
    hasTs,
  };
}

export function workHours(punches: readonly WorkPunch[], options: WorkHoursOptions = {}): WorkHoursResult {
  const maxHours = options.maxSegmentHours === undefined ? 16 : Number(options.maxSegmentHours);
  if (!Number.isFinite(maxHours) || maxHours <= 0)
    throw new RangeError(`maximum segment must be a positive number of hours (got ${String(options.maxSegmentHours)})`);
  const maxSec = Math.round(maxHours * 3600);
  const breaks = options.breaks === 'paid' ? 'paid' : 'unpaid';
  const unmatched: SkippedPunch[] = [];

  // Duplicates: the same user, instant and direction (the same punch polled twice, or read from two paths).
  const seen = new Set<string>();
  const list: Punch[] = [];
  let duplicates = 0;
  for (const raw of punches) {
    const p = toPunch(raw);
    if (!p) {
      const r = (raw ?? {}) as Partial<WorkPunch>;
      unmatched.push({
        userId: String(r.userId ?? ''),
        localTime: String(r.localTime ?? ''),
        direction: String(r.direction ?? ''),
        reason: 'invalid',
      });
      continue;
    }
    const key = `${p.userId}\u0000${p.at}\u0000${p.direction}`;
    if (seen.has(key)) {
      duplicates++;
      continue;
    }
    seen.add(key);
    list.push(p);
  }
  // Total order, so the result never depends on the input order.
  list.sort(
    (a, b) => cmp(a.userId, b.userId) || a.at - b.at || cmp(a.localTime, b.localTime) || cmp(a.direction, b.direction),
  );

  const segments: WorkSegment[] = [];
  const open: OpenSession[] = [];
  let i = 0;
  while (i < list.length) {
    const userId = list[i].userId;
    let current: { p: Punch; kind: SegmentKind } | null = null;
    let onBreak: Punch | null = null;
    for (; i < list.length && list[i].userId === userId; i++) {
      const p = list[i];
      const role = roleOf(p.direction, breaks);
      if (!role) {
        if (p.direction !== 'break-in' && p.direction !== 'break-out')
          unmatched.push({ userId, localTime: p.localTime, direction: p.direction, reason: 'unknown-direction' });
        continue;
      }
      if (role.open) {
        if (current) {
          // A double tap, or a forgotten punch-out long ago: only the second starts a new segment.
          if ((p.at - current.p.at) / 1000 <= maxSec) {
            unmatched.push({ userId, localTime: p.localTime, direction: p.direction, reason: 'repeated-in' });
            continue;
          }
          open.push({
            userId,
            date: current.p.localTime.slice(0, 10),
            state: 'working',
            kind: current.kind,
            since: current.p.localTime,
          });
        }
        current = { p, kind: role.kind };
        onBreak = null;
        continue;
      }
      if (!current) {
        // An `out` after a break-out just ends the break; anything else has nothing to close.
        if (onBreak && !role.isBreak) onBreak = null;
        else unmatched.push({ userId, localTime: p.localTime, direction: p.direction, reason: 'out-without-in' });
        continue;
      }
      const a = current.p;
      const rawSeconds = Math.max(0, Math.round((a.hasTs && p.hasTs ? p.at - a.at : p.wall - a.wall) / 1000));
      segments.push({
        userId,
        date: a.localTime.slice(0, 10),
        kind: current.kind,
        in: a.localTime,
        out: p.localTime,
        seconds: Math.min(rawSeconds, maxSec),
        rawSeconds,
        clamped: rawSeconds > maxSec,
      });
      current = null;
      onBreak = role.isBreak ? p : null;
    }
    if (current)
      open.push({
        userId,
        date: current.p.localTime.slice(0, 10),
        state: 'working',
        kind: current.kind,
        since: current.p.localTime,
      });
    else if (onBreak)
      open.push({
        userId,
        date: onBreak.localTime.slice(0, 10),
        state: 'on-break',
        kind: 'work',
        since: onBreak.localTime,
      });
  }

  // Invalid punches were collected in input order: sort everything so the order never leaks through.
  unmatched.sort(
    (a, b) =>
      cmp(a.userId, b.userId) ||
      cmp(a.localTime, b.localTime) ||
      cmp(a.direction, b.direction) ||
      cmp(a.reason, b.reason),
  );
  return { days: sumDays(segments), segments, open, unmatched, duplicates };
}

/** Segments → one row per user and local date, in user then date order. */
function sumDays(segments: readonly WorkSegment[]): DayHours[] {
  const byKey = new Map<string, DayHours>();
  for (const s of segments) {
    const key = `${s.userId}\u0000${s.date}`;
    let d = byKey.get(key);
    if (!d) {
      d = {
        userId: s.userId,
        date: s.date,
        hours: 0,
        overtimeHours: 0,
        seconds: 0,
        segments: 0,
        clampedSegments: 0,
        firstIn: s.in,
        lastOut: s.out,
      };
      byKey.set(key, d);
    }
    d.seconds += s.seconds;
    if (s.kind === 'overtime') d.overtimeHours += s.seconds; // seconds for now, hours below
    d.segments++;
    if (s.clamped) d.clampedSegments++;
    if (s.in < d.firstIn) d.firstIn = s.in;
    if (s.out > d.lastOut) d.lastOut = s.out;
  }
  const days = [...byKey.values()];
  for (const d of days) {
    d.hours = round2(d.seconds);
    d.overtimeHours = round2(d.overtimeHours);
  }
  return days.sort((a, b) => cmp(a.userId, b.userId) || cmp(a.date, b.date));
}
