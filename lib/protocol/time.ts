/**
 * Device wall-clock time (docs/zk-protocol.md §6). Times on the wire carry no zone: they are the device's
 * local clock. We keep them as fields and never route them through the host's zone.
 */
export interface WallClock {
  year: number;
  month: number; // 1–12
  day: number; // 1–31
  hour: number;
  minute: number;
  second: number;
}

/** Largest encodable value: 2099-12-31 23:59:59. */
export const MAX_ENCODED_TIME = 0xbf92f7ff;

/** Decodes the u32 form. Every month counts as 31 days, so impossible dates (Feb 31) can come out. */
export function decodeTime(t: number): WallClock {
  let v = t >>> 0;
  const second = v % 60;
  v = Math.floor(v / 60);
  const minute = v % 60;
  v = Math.floor(v / 60);
  const hour = v % 24;
  v = Math.floor(v / 24);
  const day = (v % 31) + 1;
  v = Math.floor(v / 31);
  const month = (v % 12) + 1;
  const year = Math.floor(v / 12) + 2000;
  return { year, month, day, hour, minute, second };
}

/** Encodes the u32 form (years 2000–2099). */
export function encodeTime(w: WallClock): number {
  const days = (w.year % 100) * 12 * 31 + (w.month - 1) * 31 + (w.day - 1);
  return days * 86400 + (w.hour * 60 + w.minute) * 60 + w.second;
}

/** Decodes the 6-byte event form `[Y-2000, M, D, h, m, s]`. */
export function decodeEventTime(buf: Uint8Array, offset = 0): WallClock {
  return {
    year: 2000 + buf[offset],
    month: buf[offset + 1],
    day: buf[offset + 2],
    hour: buf[offset + 3],
    minute: buf[offset + 4],
    second: buf[offset + 5],
  };
}

export function encodeEventTime(w: WallClock): Buffer {
  return Buffer.from([w.year - 2000, w.month, w.day, w.hour, w.minute, w.second].map((n) => n & 0xff));
}

function daysInMonth(year: number, month: number): number {
  // Gregorian month lengths without Date (and so without any zone).
  if (month === 2) return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

/** True when the fields name a real calendar time in 2000–2099. */
export function isValidWallClock(w: WallClock): boolean {
  return (
    Number.isInteger(w.year) &&
    w.year >= 2000 &&
    w.year <= 2099 &&
    w.month >= 1 &&
    w.month <= 12 &&
    w.day >= 1 &&
    w.day <= daysInMonth(w.year, w.month) &&
    w.hour >= 0 &&
    w.hour < 24 &&
    w.minute >= 0 &&
    w.minute < 60 &&
    w.second >= 0 &&
    w.second < 60
  );
}

const p2 = (n: number) => (n < 10 ? '0' : '') + n;

/** `YYYY-MM-DDTHH:mm:ss`, exactly the device's wall clock. */
export function formatWallClock(w: WallClock): string {
  return `${w.year}-${p2(w.month)}-${p2(w.day)}T${p2(w.hour)}:${p2(w.minute)}:${p2(w.second)}`;
}

/** Parses `YYYY-MM-DD[T ]HH:mm[:ss]` (or a bare date) into fields; null when malformed. */
export function parseWallClock(s: string): WallClock | null {
  const m = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2}))?)?$/.exec(s.trim());
  if (!m) return null;
  const w = {
    year: +m[1],
    month: +m[2],
    day: +m[3],
    hour: m[4] ? +m[4] : 0,
    minute: m[5] ? +m[5] : 0,
    second: m[6] ? +m[6] : 0,
  };
  return isValidWallClock(w) ? w : null;
}

/** Seconds since 2000-01-01 treating the fields as UTC: a zone-free ordering key for wall clocks. */
export function wallClockSeconds(w: WallClock): number {
  return Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second) / 1000;
}

/** The wall clock of a UTC instant (ms) shifted by `offsetSec`: what a device at that offset shows. */
export function wallClockFromEpoch(ms: number): WallClock {
  const d = new Date(ms);
  return {
    year: d.getUTCFullYear(),
    month: d.getUTCMonth() + 1,
    day: d.getUTCDate(),
    hour: d.getUTCHours(),
    minute: d.getUTCMinutes(),
    second: d.getUTCSeconds(),
  };
}
