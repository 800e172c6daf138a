/**
 * The per-device cursor: how far a device's attendance log has been emitted (docs/internal-apis.md,
 * capture contracts). Two rules, and a record either one calls new is emitted:
 *  - time: later than `lastLocalTime` (or at that second with an id not yet emitted). It survives logs that
 *    are cleared or wrap, which shift positions but never change a record's wall-clock time;
 *  - position: at or after `count`, the log's length at the last download, so appended since then whatever
 *    its time. This one catches a clock set back (a correction, a device's own DST fall-back), whose new
 *    punches are stamped before the cursor. Ids zk-live emitted since that download are in `liveIds`, so
 *    the next download does not emit them again.
 */
import type { AttendanceRecord } from '../record/canonical';

export interface DeviceCursor {
  /** The device's record count at the last download (the cheap "anything new?" check). */
  count: number;
  /** Largest `localTime` emitted (`YYYY-MM-DDTHH:mm:ss`), null before the first record. */
  lastLocalTime: string | null;
  /** Ids of the records at `lastLocalTime` that were emitted. */
  idsAtLast: string[];
  /** ISO 8601 UTC of the last change. */
  updatedAt: string;
  /** Ids emitted live since the last download (newest last, at most MAX_LIVE_IDS). */
  liveIds?: string[];
}

/** Bound on `liveIds`: past it the oldest go, and a download may repeat those (idempotent sinks absorb it). */
export const MAX_LIVE_IDS = 1000;

/** A cursor that knows nothing: count -1 never equals a device count, so the next poll downloads. */
export function emptyCursor(now = new Date()): DeviceCursor {
  return { count: -1, lastLocalTime: null, idsAtLast: [], updatedAt: now.toISOString() };
}

/**
 * True when a record lies past the cursor. `localTime` strings are fixed-width, so string order is time order.
 */
export function isPastCursor(cursor: DeviceCursor | null, rec: Pick<AttendanceRecord, 'id' | 'localTime'>): boolean {
  if (!cursor || cursor.lastLocalTime === null) return true;
  if (rec.localTime > cursor.lastLocalTime) return true;
  return rec.localTime === cursor.lastLocalTime && !cursor.idsAtLast.includes(rec.id);
}

/**
 * The cursor after emitting `record` (zk-live calls this for every live record it sends). `count` is left
 * alone on purpose: a live event is not proof that the log grew by exactly one, so the next poll downloads
 * once and filters by time instead of trusting an incremented count (which could hide a missed punch).
 */
export function advanceCursor(
  cursor: DeviceCursor | null,
  record: Pick<AttendanceRecord, 'id' | 'localTime'>,
  now = new Date(),
): DeviceCursor {
  const base = cursor ?? emptyCursor(now);
  const live = base.liveIds ?? [];
  const liveIds = live.includes(record.id)
    ? live
    : [...live.slice(Math.max(0, live.length - MAX_LIVE_IDS + 1)), record.id];
  const last = base.lastLocalTime;
  if (last === null || record.localTime > last) {
    return {
      count: base.count,
      lastLocalTime: record.localTime,
      idsAtLast: [record.id],
      updatedAt: now.toISOString(),
      liveIds,
    };
  }
  if (record.localTime === last && !base.idsAtLast.includes(record.id)) {
    return { ...base, idsAtLast: [...base.idsAtLast, record.id], updatedAt: now.toISOString(), liveIds };
  }
  // Earlier than the cursor (a clock set back): the time stays, but the next download must know it was sent.
  return liveIds === live ? base : { ...base, updatedAt: now.toISOString(), liveIds };
}

/** Shape check for cursors read from disk (anything else is treated as corrupt). */
export function isDeviceCursor(v: unknown): v is DeviceCursor {
  if (typeof v !== 'object' || v === null) return false;
  const c = v as Record<string, unknown>;
  return (
    typeof c.count === 'number' &&
    Number.isInteger(c.count) &&
    (c.lastLocalTime === null ||
      (typeof c.lastLocalTime === 'string' && /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$/.test(c.lastLocalTime))) &&
    Array.isArray(c.idsAtLast) &&
    c.idsAtLast.every((x) => typeof x === 'string') &&
    typeof c.updatedAt === 'string' &&
    (c.liveIds === undefined || (Array.isArray(c.liveIds) && c.liveIds.every((x) => typeof x === 'string')))
  );
}
