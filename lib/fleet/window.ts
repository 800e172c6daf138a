/**
 * Backfill windows: `{since, until}` as the device's local wall clock. A bare date means the whole day
 * (since → 00:00:00, until → 23:59:59); a time without seconds is completed the same way, so `until:
 * '2024-05-01T17:30'` includes 17:30:59. An instant with `Z` or an offset is converted to the device's zone.
 */
import { formatWallClock, parseWallClock } from '../protocol/time';
import { instantToWallClock } from '../record/zone';

export interface PollWindow {
  since?: string;
  until?: string;
}

/** Inclusive bounds as `YYYY-MM-DDTHH:mm:ss` strings (comparable with record.localTime). */
export interface ResolvedWindow {
  since: string | null;
  until: string | null;
}

export class WindowError extends Error {
  constructor(
    readonly field: 'since' | 'until',
    message: string,
  ) {
    super(message);
    this.name = 'WindowError';
  }
}

function bound(field: 'since' | 'until', value: unknown, tz: string): string | null {
  if (value === undefined || value === null || value === '') return null;
  if (typeof value !== 'string')
    throw new WindowError(
      field,
      `backfill ${field} must be a date/time string such as 2024-05-01 or 2024-05-01T08:00:00`,
    );
  const s = value.trim();
  if (/(Z|[+-]\d\d:?\d\d)$/i.test(s)) {
    const ms = Date.parse(s);
    if (Number.isNaN(ms)) throw new WindowError(field, `backfill ${field} "${value}" is not a valid date/time`);
    return formatWallClock(instantToWallClock(ms, tz));
  }
  const w = parseWallClock(s);
  if (!w)
    throw new WindowError(
      field,
      `backfill ${field} "${value}" is not a date/time such as 2024-05-01 or 2024-05-01T08:00:00 (device local time)`,
    );
  const text = formatWallClock(w);
  if (field === 'until') {
    const hasTime = /[T ]\d\d:\d\d/.test(s);
    const hasSeconds = /[T ]\d\d:\d\d:\d\d/.test(s);
    if (!hasTime) return text.slice(0, 10) + 'T23:59:59';
    if (!hasSeconds) return text.slice(0, 16) + ':59';
  }
  return text;
}

/** Validates and completes a window for a device in zone `tz`; throws WindowError naming the field. */
export function resolveWindow(win: PollWindow, tz: string): ResolvedWindow {
  const since = bound('since', win.since, tz);
  const until = bound('until', win.until, tz);
  if (since && until && since > until)
    throw new WindowError('since', `backfill since (${since}) is after until (${until})`);
  return { since, until };
}

export function inWindow(w: ResolvedWindow, localTime: string): boolean {
  return (w.since === null || localTime >= w.since) && (w.until === null || localTime <= w.until);
}
