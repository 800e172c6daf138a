/**
 * The canonical attendance record (docs/architecture.md §3): the one shape every capture node emits and every sink
 * takes. The enumerations and the field order are constants so the JSON Schema (lib/record/schema.ts),
 * CSV columns and database mappings can derive from them instead of repeating them.
 */
import { DeviceAttendance } from '../protocol/attendance';
import { AttendanceEvent } from '../protocol/events';
import { WallClock, formatWallClock, isValidWallClock } from '../protocol/time';
import { ZoneFlag, wallClockToInstant } from './zone';

export const DIRECTIONS = ['in', 'out', 'break-out', 'break-in', 'overtime-in', 'overtime-out', 'unknown'] as const;
export type Direction = (typeof DIRECTIONS)[number];

export const VERIFY_METHODS = ['password', 'fingerprint', 'card', 'face', 'palm', 'other'] as const;
export type VerifyMethod = (typeof VERIFY_METHODS)[number];

export const RECORD_SOURCES = ['poll', 'live', 'push'] as const;
export type RecordSource = (typeof RECORD_SOURCES)[number];

export interface AttendanceRecord {
  /** `deviceSn|userId|localTime`: the idempotency key. */
  id: string;
  deviceSn: string;
  deviceName: string | null;
  site: string | null;
  /** host:port the record came from; null for push. */
  deviceHost: string | null;
  /** The PIN as the device shows it, never truncated. */
  userId: string;
  /** The device's internal user slot, when the record carries one. */
  uid: number | null;
  /** Device wall clock `YYYY-MM-DDTHH:mm:ss`, exactly as the device wrote it. */
  localTime: string;
  /** The same instant in UTC: `YYYY-MM-DDTHH:mm:ss.000Z` (Date#toISOString; device times have whole seconds). */
  timestamp: string;
  /** The IANA zone `timestamp` was computed in. */
  tz: string;
  /** Raw punch state. */
  state: number;
  direction: Direction;
  /** Raw verify type. */
  verify: number;
  verifyMethod: VerifyMethod;
  /** 0 when none. */
  workCode: number;
  source: RecordSource;
  /** When PunchFlow got it, ISO 8601 UTC. */
  receivedAt: string;
}

/** Field order for CSV headers and schemas: the order of docs/architecture.md §3. */
export const ATTENDANCE_RECORD_FIELDS: readonly (keyof AttendanceRecord)[] = [
  'id',
  'deviceSn',
  'deviceName',
  'site',
  'deviceHost',
  'userId',
  'uid',
  'localTime',
  'timestamp',
  'tz',
  'state',
  'direction',
  'verify',
  'verifyMethod',
  'workCode',
  'source',
  'receivedAt',
];

/** Punch state → direction as shipped by ZKTeco firmware; a device's own mapping overrides entries. */
export const DEFAULT_DIRECTION_MAP: Readonly<Record<number, Direction>> = Object.freeze({
  0: 'in',
  1: 'out',
  2: 'break-out',
  3: 'break-in',
  4: 'overtime-in',
  5: 'overtime-out',
});

/**
 * Verify type → method. 0/1/2/15 are documented (docs/zk-protocol.md §1.1); 25 for palm is what push firmware is
 * reported to send (docs/adms.md §4), not yet confirmed on a device. Values some firmware
 * uses for cards (4) or combinations vary by model, so they stay 'other' unless a device map says so.
 */
export const DEFAULT_VERIFY_MAP: Readonly<Record<number, VerifyMethod>> = Object.freeze({
  0: 'password',
  1: 'fingerprint',
  2: 'card',
  15: 'face',
  25: 'palm',
});

export interface CanonicalContext {
  deviceSn: string;
  deviceName?: string | null;
  site?: string | null;
  deviceHost?: string | null;
  /** The device's IANA zone. Must be valid (isValidTimeZone); an unknown zone throws RangeError. */
  tz: string;
  source: RecordSource;
  /** Defaults to now. Pass one value for a whole batch: cheaper, and the batch arrived together. */
  receivedAt?: string;
  /** Per-device overrides of DEFAULT_DIRECTION_MAP (e.g. an exit-only reader: {0: 'out'}). */
  directionMap?: Readonly<Record<number, Direction>>;
  /** In-only / out-only doors: every punch gets this direction, whatever its state. */
  directionOverride?: Direction | null;
  /** Per-device overrides of DEFAULT_VERIFY_MAP. */
  verifyMap?: Readonly<Record<number, VerifyMethod>>;
  /**
   * uid → userId, to resolve realtime events whose body carries only a u16 user number (10/14-byte
   * bodies, userResolved false). Without it, or without an entry, the number is used as the userId.
   */
  usersByUid?: ReadonlyMap<number, string>;
  /** Records later than this instant (ms) are anomalies ('future-time'): device clock or data wrong. */
  notAfterMs?: number;
}

export type AnomalyReason = 'empty-user-id' | 'invalid-time' | 'implausible-time' | 'future-time';

/** A record that cannot become canonical without guessing; reported, never silently fixed. */
export interface RecordAnomaly {
  reason: AnomalyReason;
  /** One line for people: what is wrong, with the raw value. */
  message: string;
  deviceSn: string;
  deviceHost: string | null;
  userId: string;
  /** The time fields as decoded (may name an impossible date such as 2024-02-31). */
  localTime: string;
  /** The u32 time as stored (polled records); null for realtime events, which carry six bytes. */
  rawTime: number | null;
}

export type CanonicalResult =
  | {
      ok: true;
      record: AttendanceRecord;
      /** 'ambiguous' (DST overlap, earlier offset taken) or 'gap' (shifted forward); null when exact. */
      timeFlag: ZoneFlag;
    }
  | { ok: false; anomaly: RecordAnomaly };

/** Times before this are implausible (docs/zk-protocol.md §6): a cleared or never-set clock. */
const EARLIEST: WallClock = { year: 2000, month: 1, day: 2, hour: 0, minute: 0, second: 0 };

function isEvent(r: DeviceAttendance | AttendanceEvent): r is AttendanceEvent {
  return (r as AttendanceEvent).kind === 'attendance';
}

/** Field-wise order as one number (fields may be out of range, so no Date). */
function wallKey(w: WallClock): number {
  return ((((w.year * 100 + w.month) * 100 + w.day) * 100 + w.hour) * 100 + w.minute) * 100 + w.second;
}
const EARLIEST_KEY = wallKey(EARLIEST);

/**
 * Turns a device record (polled) or realtime event into the canonical record, or explains why it cannot:
 * an impossible calendar time, a time before 2000-01-02, or one later than `ctx.notAfterMs`.
 * Never throws for bad device data; throws RangeError only for an unknown `ctx.tz` (a configuration error).
 */
export function toCanonicalRecord(rec: DeviceAttendance | AttendanceEvent, ctx: CanonicalContext): CanonicalResult {
  let userId = rec.userId;
  let uid: number | null;
  let workCode = 0;
  let rawTime: number | null = null;
  if (isEvent(rec)) {
    uid = rec.uid ?? null;
    if (!rec.userResolved && rec.userNumber !== null) {
      uid = rec.userNumber;
      userId = ctx.usersByUid?.get(rec.userNumber) ?? userId;
    }
  } else {
    uid = rec.uid;
    workCode = rec.workCode;
    rawTime = rec.rawTime;
  }
  // Also renders out-of-range fields (2024-02-31T…), so anomalies show what the device sent.
  const localTime = formatWallClock(rec.time);
  const deviceHost = ctx.deviceHost ?? null;
  const anomaly = (reason: AnomalyReason, what: string): CanonicalResult => ({
    ok: false,
    anomaly: {
      reason,
      message:
        `device ${ctx.deviceSn}${deviceHost ? ` (${deviceHost})` : ''}: record of user ${JSON.stringify(userId)} ` +
        `has ${what} ${localTime}` +
        (rawTime !== null ? ` (raw 0x${rawTime.toString(16).padStart(8, '0')})` : ''),
      deviceSn: ctx.deviceSn,
      deviceHost,
      userId,
      localTime,
      rawTime,
    },
  });
  // A punch nobody can be paid for: flagged with the reason rather than written under an empty key.
  if (userId.trim() === '') return anomaly('empty-user-id', 'an empty user id at');
  if (!isValidWallClock(rec.time)) return anomaly('invalid-time', 'an impossible time');
  if (wallKey(rec.time) < EARLIEST_KEY) return anomaly('implausible-time', 'an implausible time (device clock unset?)');
  const z = wallClockToInstant(rec.time, ctx.tz);
  if (ctx.notAfterMs !== undefined && z.epochMs > ctx.notAfterMs) return anomaly('future-time', 'a time in the future');
  const state = rec.state;
  const verify = rec.verify;
  const record: AttendanceRecord = {
    id: `${ctx.deviceSn}|${userId}|${localTime}`,
    deviceSn: ctx.deviceSn,
    deviceName: ctx.deviceName ?? null,
    site: ctx.site ?? null,
    deviceHost,
    userId,
    uid,
    localTime,
    timestamp: new Date(z.epochMs).toISOString(),
    tz: ctx.tz,
    state,
    direction: ctx.directionOverride ?? ctx.directionMap?.[state] ?? DEFAULT_DIRECTION_MAP[state] ?? 'unknown',
    verify,
    verifyMethod: ctx.verifyMap?.[verify] ?? DEFAULT_VERIFY_MAP[verify] ?? 'other',
    workCode,
    source: ctx.source,
    receivedAt: ctx.receivedAt ?? new Date().toISOString(),
  };
  return { ok: true, record, timeFlag: z.flag };
}
