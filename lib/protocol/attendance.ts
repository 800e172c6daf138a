import { ZkProtocolError, hexSample } from '../errors';
import { readAsciiField, writeTextField, isCleanAsciiField } from './text';
import { WallClock, decodeTime, encodeTime, isValidWallClock } from './time';

/** Attendance record sizes we know (docs/zk-protocol.md §8.1–8.4). */
export type AttendanceRecordSize = 40 | 49 | 16 | 8;
export const ATTENDANCE_RECORD_SIZES: readonly AttendanceRecordSize[] = [40, 49, 16, 8];

/** One attendance record as the device stored it (no zone applied). */
export interface DeviceAttendance {
  /** Internal user slot; null in 16-byte records, which carry none. */
  uid: number | null;
  /** The PIN as the device shows it; for 8-byte records the decimal uid until resolved via the user table. */
  userId: string;
  verify: number;
  state: number;
  time: WallClock;
  /** The u32 time as stored, kept for diagnosis of impossible dates. */
  rawTime: number;
  workCode: number;
  /**
   * Bytes we do not interpret (40/49-byte layouts), kept raw; absent when a 40-byte record carries the
   * usual `00 00 00 00 FF 00 00 00` (a Buffer per record would double the memory of a 100,000-record read).
   */
  extra?: Buffer;
}

export interface AttendanceInput {
  uid?: number | null;
  userId: string;
  verify: number;
  state: number;
  time: WallClock;
  /** Overrides `time` with a raw value (simulating impossible dates). */
  rawTime?: number;
  workCode?: number;
  extra?: Buffer;
}

/** Default reserved bytes of a 40-byte record as observed on devices. */
const TFT_RESERVED = Buffer.from([0, 0, 0, 0, 0xff, 0, 0, 0]);

function reservedBytes(buf: Buffer, offset: number, size: AttendanceRecordSize): Buffer | undefined {
  if (size === 40) {
    let usual = true;
    for (let i = 0; i < 8 && usual; i++) usual = buf[offset + 32 + i] === TFT_RESERVED[i];
    if (usual) return undefined;
  }
  return Buffer.from(buf.subarray(offset + 32, offset + size));
}

export function decodeAttendanceRecord(buf: Buffer, offset: number, size: AttendanceRecordSize): DeviceAttendance {
  switch (size) {
    case 40:
    case 49: {
      const rawTime = buf.readUInt32LE(offset + 27);
      return {
        uid: buf.readUInt16LE(offset),
        userId: readAsciiField(buf, offset + 2, 24),
        verify: buf[offset + 26],
        rawTime,
        time: decodeTime(rawTime),
        state: buf[offset + 31],
        // The meaning of bytes 40–48 is unconfirmed (§8.2): keep them raw, workCode 0.
        workCode: 0,
        extra: reservedBytes(buf, offset, size),
      };
    }
    case 16: {
      const rawTime = buf.readUInt32LE(offset + 4);
      return {
        uid: null,
        userId: String(buf.readUInt32LE(offset)),
        rawTime,
        time: decodeTime(rawTime),
        state: buf[offset + 8],
        verify: buf[offset + 9],
        workCode: buf.readUInt32LE(offset + 12),
      };
    }
    case 8: {
      const rawTime = buf.readUInt32LE(offset + 3);
      const uid = buf.readUInt16LE(offset);
      return {
        uid,
        userId: String(uid),
        verify: buf[offset + 2],
        rawTime,
        time: decodeTime(rawTime),
        state: buf[offset + 7],
        workCode: 0,
      };
    }
  }
}

export function encodeAttendanceRecord(r: AttendanceInput, size: AttendanceRecordSize): Buffer {
  const buf = Buffer.alloc(size);
  const rawTime = r.rawTime ?? encodeTime(r.time);
  switch (size) {
    case 40:
    case 49:
      buf.writeUInt16LE((r.uid ?? 0) & 0xffff, 0);
      writeTextField(buf, 2, 24, r.userId);
      buf[26] = r.verify & 0xff;
      buf.writeUInt32LE(rawTime >>> 0, 27);
      buf[31] = r.state & 0xff;
      (r.extra ?? TFT_RESERVED).copy(buf, 32, 0, size - 32);
      if (size === 49 && !r.extra) buf.writeUInt32LE((r.workCode ?? 0) >>> 0, 40);
      return buf;
    case 16:
      buf.writeUInt32LE(numericUserId(r.userId, 16), 0);
      buf.writeUInt32LE(rawTime >>> 0, 4);
      buf[8] = r.state & 0xff;
      buf[9] = r.verify & 0xff;
      buf.writeUInt32LE((r.workCode ?? 0) >>> 0, 12);
      return buf;
    case 8:
      buf.writeUInt16LE((r.uid ?? 0) & 0xffff, 0);
      buf[2] = r.verify & 0xff;
      buf.writeUInt32LE(rawTime >>> 0, 3);
      buf[7] = r.state & 0xff;
      return buf;
  }
}

/** ZK6 layouts store the user id as a u32: only decimal ids without leading zeros survive. */
export function numericUserId(userId: string, layout: number): number {
  if (!/^(0|[1-9]\d{0,9})$/.test(userId) || Number(userId) > 0xffffffff) {
    throw new RangeError(
      `user id "${userId}" cannot be stored in the ${layout}-byte layout (numeric ids up to 4294967295 only)`,
    );
  }
  return Number(userId);
}

function recordLooksValid(buf: Buffer, offset: number, size: AttendanceRecordSize, r: DeviceAttendance): boolean {
  if (!isValidWallClock(r.time)) return false;
  if (size === 40 || size === 49) return isCleanAsciiField(buf, offset + 2, 24);
  return true;
}

interface Candidate extends LayoutChoice {
  /** Fraction of records that decode to a valid time (and, for 40/49, a clean userId). */
  score: number;
  /** Fraction whose time is after the year 2000: misaligned reads of real logs land in 2000 (time >> 8). */
  plausible: number;
}

/**
 * Orders candidates: validity, then plausibility (8-byte logs also decode as valid 16-byte records, but
 * with times in 2000), then an exact fit over a padded one (a count hint off by one must not let a padded
 * layout win), then the count closest to the device's.
 */
function compareCandidates(a: Candidate, b: Candidate, n: number): number {
  if (a.score !== b.score) return a.score - b.score;
  if (a.plausible !== b.plausible) return a.plausible - b.plausible;
  if ((a.padding === 0) !== (b.padding === 0)) return a.padding === 0 ? 1 : -1;
  return Math.abs(b.count - n) - Math.abs(a.count - n);
}

export interface LayoutChoice {
  size: AttendanceRecordSize;
  count: number;
  /** Trailing bytes that are not a whole record (tolerated up to size − 1 in the scored path). */
  padding: number;
}

/**
 * Chooses the record size (docs/zk-protocol.md §8.8): exact division by the device's count first, then scoring
 * candidates by how many records validate. Throws UNKNOWN_RECORD_SIZE with the sizes and a hex sample.
 */
export function detectAttendanceLayout(data: Buffer, deviceCount: number | null): LayoutChoice {
  const total = data.length;
  if (total === 0) return { size: 40, count: 0, padding: 0 };
  const n = deviceCount ?? 0;
  if (n > 0 && total % n === 0) {
    const size = total / n;
    if ((ATTENDANCE_RECORD_SIZES as readonly number[]).includes(size))
      return { size: size as AttendanceRecordSize, count: n, padding: 0 };
  }
  let best: Candidate | null = null;
  for (const size of ATTENDANCE_RECORD_SIZES) {
    const count = Math.floor(total / size);
    const padding = total - count * size;
    if (count === 0) continue;
    // Exact multiples first; a few pad bytes are tolerated only when a count hint agrees.
    if (padding !== 0 && !(n > 0 && count === n)) continue;
    let ok = 0;
    let plausible = 0;
    for (let i = 0; i < count; i++) {
      const r = decodeAttendanceRecord(data, i * size, size);
      if (!recordLooksValid(data, i * size, size, r)) continue;
      ok++;
      if (r.time.year > 2000) plausible++;
    }
    const c: Candidate = { size, count, padding, score: ok / count, plausible: plausible / count };
    if (c.score < 0.99) continue;
    if (!best || compareCandidates(c, best, n) > 0) best = c;
  }
  if (!best) {
    throw new ZkProtocolError(
      `unknown attendance record size: ${total} bytes of records, device count ${deviceCount ?? 'unknown'}; ` +
        `none of ${ATTENDANCE_RECORD_SIZES.join('/')}-byte layouts fits. First bytes: ${hexSample(data)}`,
      { totalSize: total, deviceCount, sample: hexSample(data) },
      'UNKNOWN_RECORD_SIZE',
    );
  }
  return { size: best.size, count: best.count, padding: best.padding };
}

/** Decodes all records of an attendance buffer's record area (after the 4-byte total_size). */
export function decodeAttendanceRecords(
  data: Buffer,
  deviceCount: number | null,
): { layout: LayoutChoice; records: DeviceAttendance[] } {
  const layout = detectAttendanceLayout(data, deviceCount);
  const records = new Array<DeviceAttendance>(layout.count);
  for (let i = 0; i < layout.count; i++) records[i] = decodeAttendanceRecord(data, i * layout.size, layout.size);
  return { layout, records };
}
