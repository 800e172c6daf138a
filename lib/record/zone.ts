/**
 * Wall clock ⇄ instant in an IANA zone, with Intl only (no tz database dependency, no host zone).
 *
 * Rules (docs/zk-protocol.md §6): a wall-clock time that occurs twice (DST fall-back) takes the earlier
 * offset, i.e. the first occurrence; one that does not exist (spring-forward gap) is shifted forward by the
 * length of the gap. Both are flagged.
 *
 * Speed: Intl formatting costs microseconds, so offsets are cached per (zone, UTC day), and per hour on
 * transition days. A day (hour) whose start and end have the same offset is taken to hold no transition;
 * one whose ends differ is resolved more finely, down to the exact instant inside a transition hour.
 */
import { WallClock, wallClockFromEpoch } from '../protocol/time';

export type ZoneFlag = null | 'ambiguous' | 'gap';

export interface ZonedInstant {
  /** The UTC instant in ms since the epoch. */
  epochMs: number;
  /** The zone's offset from UTC in minutes at that instant (east positive: +330 for Asia/Kolkata). */
  offsetMin: number;
  /** 'ambiguous': the wall clock occurred twice, the first was taken; 'gap': it did not exist, shifted forward. */
  flag: ZoneFlag;
}

const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;
/** Bounded so a long-running process converting ever new times cannot grow without limit. */
const MAX_CACHED_BUCKETS = 100_000;

interface ZoneEntry {
  fmt: Intl.DateTimeFormat;
  /** Offset in ms at the start of each UTC day / hour (key: day or hour number since the epoch). */
  dayStart: Map<number, number>;
  hourStart: Map<number, number>;
}

const zones = new Map<string, ZoneEntry>();
const validity = new Map<string, boolean>();

function zoneEntry(tz: string): ZoneEntry {
  let e = zones.get(tz);
  if (!e) {
    // Throws RangeError for an unknown zone: callers validate first, or get that error.
    const fmt = new Intl.DateTimeFormat('en-US', {
      timeZone: tz,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
      era: 'short',
    });
    e = { fmt, dayStart: new Map(), hourStart: new Map() };
    zones.set(tz, e);
  }
  return e;
}

/** Exact offset (ms) at an instant, from Intl: the zone's wall clock read as UTC minus the instant. */
function exactOffsetMs(e: ZoneEntry, epochMs: number): number {
  const t = epochMs - (((epochMs % 1000) + 1000) % 1000); // Intl shows whole seconds
  let year = 0,
    month = 1,
    day = 1,
    hour = 0,
    minute = 0,
    second = 0,
    bc = false;
  for (const p of e.fmt.formatToParts(t)) {
    switch (p.type) {
      case 'year':
        year = Number(p.value);
        break;
      case 'month':
        month = Number(p.value);
        break;
      case 'day':
        day = Number(p.value);
        break;
      case 'hour':
        hour = Number(p.value);
        break;
      case 'minute':
        minute = Number(p.value);
        break;
      case 'second':
        second = Number(p.value);
        break;
      case 'era':
        bc = p.value.startsWith('B');
        break;
    }
  }
  if (bc) year = 1 - year;
  // Date.UTC maps years 0–99 to 1900–1999; setUTCFullYear does not.
  const d = new Date(Date.UTC(2000, month - 1, day, hour % 24, minute, second));
  d.setUTCFullYear(year);
  return d.getTime() - t;
}

function cachedOffsetMs(e: ZoneEntry, cache: Map<number, number>, bucket: number, size: number): number {
  let v = cache.get(bucket);
  if (v === undefined) {
    if (cache.size >= MAX_CACHED_BUCKETS) cache.clear();
    v = exactOffsetMs(e, bucket * size);
    cache.set(bucket, v);
  }
  return v;
}

/**
 * Days whose two ends agree hold no transition (no zone changes twice within a day), so one lookup
 * serves the whole day; only transition days go down to hours, and transition hours to the instant.
 */
function offsetMsAt(e: ZoneEntry, epochMs: number): number {
  const d = Math.floor(epochMs / DAY_MS);
  const d0 = cachedOffsetMs(e, e.dayStart, d, DAY_MS);
  if (d0 === cachedOffsetMs(e, e.dayStart, d + 1, DAY_MS)) return d0;
  const h = Math.floor(epochMs / HOUR_MS);
  const h0 = cachedOffsetMs(e, e.hourStart, h, HOUR_MS);
  return h0 === cachedOffsetMs(e, e.hourStart, h + 1, HOUR_MS) ? h0 : exactOffsetMs(e, epochMs);
}

/** The zone's offset from UTC in minutes at an instant. Throws RangeError for an unknown zone. */
export function zoneOffsetMinutes(epochMs: number, tz: string): number {
  return offsetMsAt(zoneEntry(tz), epochMs) / 60_000;
}

/**
 * The instant a device in zone `tz` meant by wall clock `w`. The fields are taken as given (validate them
 * first with isValidWallClock: an impossible date such as Feb 31 would roll over here).
 * Throws RangeError for an unknown zone.
 */
export function wallClockToInstant(w: WallClock, tz: string): ZonedInstant {
  const e = zoneEntry(tz);
  const d = new Date(Date.UTC(2000, w.month - 1, w.day, w.hour, w.minute, w.second));
  d.setUTCFullYear(w.year);
  const local = d.getTime(); // the wall clock read as if it were UTC
  // The offsets in force a day either side bracket any single transition near this wall clock.
  const before = offsetMsAt(e, local - DAY_MS);
  const after = offsetMsAt(e, local + DAY_MS);
  const tBefore = local - before;
  const tAfter = local - after;
  const okBefore = offsetMsAt(e, tBefore) === before;
  const okAfter = offsetMsAt(e, tAfter) === after;
  if (okBefore && okAfter) {
    if (before === after) return { epochMs: tBefore, offsetMin: before / 60_000, flag: null };
    // Fall-back overlap: both readings exist; the earlier instant is the one under the earlier offset.
    return { epochMs: tBefore, offsetMin: before / 60_000, flag: 'ambiguous' };
  }
  if (okBefore) return { epochMs: tBefore, offsetMin: before / 60_000, flag: null };
  if (okAfter) return { epochMs: tAfter, offsetMin: after / 60_000, flag: null };
  // Neither reading exists: a gap. Reading it with the offset before the gap lands the same distance past
  // the transition, i.e. shifted forward by the gap (02:30 in a 02:00→03:00 gap becomes 03:30).
  const t = tBefore;
  return { epochMs: t, offsetMin: offsetMsAt(e, t) / 60_000, flag: 'gap' };
}

/** The wall clock zone `tz` shows at an instant (whole seconds). Throws RangeError for an unknown zone. */
export function instantToWallClock(epochMs: number, tz: string): WallClock {
  const e = zoneEntry(tz);
  const t = epochMs - (((epochMs % 1000) + 1000) % 1000);
  return wallClockFromEpoch(t + offsetMsAt(e, t));
}

/** True when Intl knows the zone (IANA names such as 'Europe/Berlin', and 'UTC'). */
export function isValidTimeZone(tz: unknown): tz is string {
  if (typeof tz !== 'string' || tz === '' || tz.length > 64) return false;
  let ok = validity.get(tz);
  if (ok === undefined) {
    try {
      new Intl.DateTimeFormat('en-US', { timeZone: tz });
      ok = true;
    } catch {
      ok = false;
    }
    validity.set(tz, ok);
  }
  return ok;
}

/** The host's zone as an IANA name (honours TZ); 'UTC' when the runtime cannot tell. */
export function hostTimeZone(): string {
  const tz = new Intl.DateTimeFormat().resolvedOptions().timeZone;
  return isValidTimeZone(tz) ? tz : 'UTC';
}
