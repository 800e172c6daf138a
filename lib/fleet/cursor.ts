/**
 * The per-device cursor: how far a device's attendance log has been emitted (docs/internal-apis.md,
 * capture contracts). Time-based rather than index-based because devices clear and wrap their logs, which
 * shifts positions but never changes a record's wall-clock time; records at the cursor's own second are told
 * apart by id, so two punches in the same second are neither lost nor repeated.
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
}

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
export function advanceCursor(cursor: DeviceCursor | null, record: Pick<AttendanceRecord, 'id' | 'localTime'>, now = new Date()): DeviceCursor {
  const base = cursor ?? emptyCursor(now);
  const last = base.lastLocalTime;
  if (last === null || record.localTime > last) {
    return { count: base.count, lastLocalTime: record.localTime, idsAtLast: [record.id], updatedAt: now.toISOString() };
  }
  if (record.localTime === last && !base.idsAtLast.includes(record.id)) {
    return { ...base, idsAtLast: [...base.idsAtLast, record.id], updatedAt: now.toISOString() };
  }
  return base;
}

/** Shape check for cursors read from disk (anything else is treated as corrupt). */
export function isDeviceCursor(v: unknown): v is DeviceCursor {
  if (typeof v !== 'object' || v === null) return false;
  const c = v as Record<string, unknown>;
  return (
    typeof c.count === 'number' && Number.isInteger(c.count) &&
    (c.lastLocalTime === null || (typeof c.lastLocalTime === 'string' && /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$/.test(c.lastLocalTime))) &&
    Array.isArray(c.idsAtLast) && c.idsAtLast.every((x) => typeof x === 'string') &&
    typeof c.updatedAt === 'string'
  );
}
