/**
 * One incremental poll of one device (docs/internal-apis.md, capture contracts).
 *
 * 1. Read the device's record count (GET_FREE_SIZES, one small command). If a cursor exists and the count
 *    is unchanged, stop: no download at all. That is what makes an idle fleet cheap.
 * 2. Otherwise download the whole log (the protocol has no "records since" query), canonicalise it, and keep
 *    the records past the cursor (later second, or the cursor's second with an id not yet emitted) and the
 *    ones appended since the last download whatever their time (a clock set back), unless zk-live sent them
 *    (cursor.ts explains both rules).
 * 3. A count lower than the cursor's means the log was cleared or wrapped: positions say nothing then, and the
 *    time filter yields the records not emitted yet; it is reported (countWentDown).
 *
 * The returned cursor is not saved here: the caller saves it after the records were sent, so a crash in
 * between repeats records instead of losing them.
 */
import type { DeviceInfo, AttendanceResult } from '../client';
import type { DeviceSession } from '../device/device-session';
import type { FreeSizes } from '../protocol/free-sizes';
import { WallClock, isValidWallClock, wallClockSeconds } from '../protocol/time';
import { instantToWallClock, wallClockToInstant } from '../record/zone';
import type { AttendanceRecord, RecordAnomaly } from '../record/canonical';
import { ZkError } from '../errors';
import { DeviceCursor, emptyCursor, isPastCursor } from './cursor';
import { PollWindow, ResolvedWindow, inWindow, resolveWindow } from './window';

export interface PollProgress {
  /** Records received so far (estimated from bytes while downloading). */
  records: number;
  /** The device's record count. */
  totalRecords: number;
}

export interface PollOptions {
  /** Stamped on the records. zk-live's catch-up after a reconnect uses 'poll' (they came from the log). */
  source: 'poll' | 'live';
  /** Backfill: re-fetch this window of device local time; ignores and does not advance the cursor. */
  window?: PollWindow;
  onProgress?: (p: PollProgress) => void;
  /**
   * Immediate retries of a download that broke after it had started (the device answered, then the link
   * dropped midway). Default 1. Failures before that (device off, refused, wrong key) are not retried here:
   * the scheduler's backoff handles those without hammering a dead device.
   */
  midwayRetries?: number;
  /** Clock for receivedAt/updatedAt (tests). */
  now?: () => Date;
}

export interface PollOutcome {
  /** New (past the cursor, or appended since the last download), or in the window; in device order. */
  records: AttendanceRecord[];
  /** Flagged, not emitted as records; each is reported once, when it first appears in the log. */
  anomalies: RecordAnomaly[];
  /** False when the count was unchanged (no download at all). */
  downloaded: boolean;
  deviceCount: number;
  countWentDown: boolean;
  /** The new cursor (NOT yet saved: the caller saves after emitting). Unchanged for a window. */
  cursor: DeviceCursor;
  /** False when the caller need not save (unchanged count, backfill). */
  cursorChanged: boolean;
  info?: DeviceInfo;
  sizes: FreeSizes;
  /** Device clock minus host clock (seconds), when it was read (downloads only). */
  clockDriftSec: number | null;
}

/** Devices at capacity may overwrite their oldest records and keep the same count: always download them. */
export function atCapacity(sizes: FreeSizes): boolean {
  return sizes.recordsCapacity > 0 && sizes.records >= sizes.recordsCapacity;
}

interface Fetched {
  sizes: FreeSizes;
  att: AttendanceResult | null;
  deviceTime: WallClock | null;
}

function isLinkFailure(err: unknown): boolean {
  return err instanceof ZkError && (err.code === 'CONNECTION' || err.code === 'TIMEOUT' || err.code === 'PROTOCOL');
}

export async function pollIncremental(
  session: DeviceSession,
  cursor: DeviceCursor | null,
  opts: PollOptions,
): Promise<PollOutcome> {
  const now = opts.now ?? (() => new Date());
  const tz = session.config.tz;
  // Validate the window before touching the device: a typo should not cost a download.
  const win: ResolvedWindow | null = opts.window ? resolveWindow(opts.window, tz) : null;
  const retries = opts.midwayRetries ?? 1;

  let fetched: Fetched | null = null;
  for (let attempt = 0; ; attempt++) {
    let downloadStarted = false;
    try {
      fetched = await session.run('poll', async (client) => {
        // Serial once per session: records carry it, and it is the cursor key.
        if (session.serial === null) {
          const sn = await client.option('~SerialNumber');
          if (sn) session.serial = sn;
        }
        const sizes = await client.freeSizes();
        if (!win && cursor && cursor.count >= 0 && sizes.records === cursor.count && !atCapacity(sizes)) {
          return { sizes, att: null, deviceTime: null };
        }
        const deviceTime = await client.getTime();
        downloadStarted = true;
        const att = await client.attendance({
          onProgress: (p) => opts.onProgress?.({ records: p.records, totalRecords: sizes.records }),
        });
        return { sizes, att, deviceTime };
      });
      break;
    } catch (err) {
      if (attempt < retries && downloadStarted && isLinkFailure(err)) continue;
      throw err;
    }
  }

  const { sizes, att, deviceTime } = fetched;
  const info = session.lastInfo ?? undefined;
  if (!att) {
    return {
      records: [],
      anomalies: [],
      downloaded: false,
      deviceCount: sizes.records,
      countWentDown: false,
      cursor: cursor ?? emptyCursor(now()),
      cursorChanged: false,
      info,
      sizes,
      clockDriftSec: null,
    };
  }

  const nowDate = now();
  const receivedAt = nowDate.toISOString();
  const deviceEpochMs =
    deviceTime && isValidWallClock(deviceTime) ? wallClockToInstant(deviceTime, tz).epochMs : nowDate.getTime();
  const toleranceSec = session.config.futureToleranceSec ?? 86400;
  const notAfterMs = deviceEpochMs + toleranceSec * 1000;
  const clockDriftSec =
    deviceTime && isValidWallClock(deviceTime)
      ? wallClockSeconds(deviceTime) - wallClockSeconds(instantToWallClock(nowDate.getTime(), tz))
      : null;

  const deviceCount = att.deviceCount;
  const countWentDown = cursor !== null && cursor.count >= 0 && deviceCount < cursor.count;
  // Anomalies have no trustworthy time to compare with the cursor, so they are reported by position: the
  // ones that appeared since the last download (all of them after a clear, a backfill or the first poll).
  const firstNewIndex = win || !cursor || cursor.count < 0 || countWentDown ? 0 : cursor.count;
  // The position rule: appended since the last download. Not after a clear (positions restarted), nor at
  // capacity with an unchanged count (the log wrapped in place), nor before the first download.
  const appendedFrom = !win && cursor && cursor.count >= 0 && !countWentDown ? cursor.count : Infinity;
  const sentLive = new Set(cursor?.liveIds ?? []);

  const records: AttendanceRecord[] = [];
  const anomalies: RecordAnomaly[] = [];
  const seen = new Set<string>();
  const src = att.records;
  for (let i = 0; i < src.length; i++) {
    const r = session.canonical(src[i], opts.source, receivedAt, notAfterMs);
    if (!r.ok) {
      if (i >= firstNewIndex) anomalies.push(r.anomaly);
      continue;
    }
    const rec = r.record;
    // The same id twice in one log is the same punch by the idempotency key: emit it once.
    if (seen.has(rec.id)) continue;
    seen.add(rec.id);
    if (win ? inWindow(win, rec.localTime) : isPastCursor(cursor, rec) || (i >= appendedFrom && !sentLive.has(rec.id)))
      records.push(rec);
  }

  if (win) {
    return {
      records,
      anomalies,
      downloaded: true,
      deviceCount,
      countWentDown,
      cursor: cursor ?? emptyCursor(nowDate),
      cursorChanged: false,
      info,
      sizes,
      clockDriftSec,
    };
  }
  return {
    records,
    anomalies,
    downloaded: true,
    deviceCount,
    countWentDown,
    cursor: nextCursor(cursor, records, deviceCount, nowDate),
    cursorChanged: true,
    info,
    sizes,
    clockDriftSec,
  };
}

/** The cursor after emitting `emitted` (all past `cursor`) from a log of `count` records. */
export function nextCursor(
  cursor: DeviceCursor | null,
  emitted: readonly AttendanceRecord[],
  count: number,
  now: Date,
): DeviceCursor {
  let last = cursor?.lastLocalTime ?? null;
  for (const r of emitted) if (last === null || r.localTime > last) last = r.localTime;
  const carried = cursor && cursor.lastLocalTime === last ? cursor.idsAtLast : [];
  const ids = new Set(carried);
  for (const r of emitted) if (r.localTime === last) ids.add(r.id);
  return { count, lastLocalTime: last, idsAtLast: [...ids], updatedAt: now.toISOString() };
}
