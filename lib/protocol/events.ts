import { EventFlag } from './constants';
import { readAsciiField, writeTextField } from './text';
import { WallClock, decodeEventTime, encodeEventTime, isValidWallClock } from './time';

/** A punch pushed in real time (EF_ATTLOG). */
export interface AttendanceEvent {
  kind: 'attendance';
  code: number;
  /** The user as sent; for 10/14-byte bodies a u16 that may be a uid (resolve via the user table). */
  userId: string;
  /** The u16 user field of 10/14-byte bodies (uid or numeric id); null for string bodies. */
  userNumber: number | null;
  /** False when the body carries only a u16 that still needs resolving through the user table. */
  userResolved: boolean;
  /**
   * The device's internal user number when the client knows it (from the user table it read): string bodies
   * carry none, and a polled copy of the same punch has one, so without it a row's uid would depend on timing.
   */
  uid?: number | null;
  verify: number;
  state: number;
  /** The state byte as received (10/14-byte bodies pack `valid << 4 | state`). */
  stateByte: number;
  time: WallClock;
  timeValid: boolean;
  bodyLength: number;
  /** Bytes after the known fields, kept raw. */
  extra: Buffer;
}

/** Anything we cannot (or need not) decode: passed on as code + body. */
export interface RawEvent {
  kind: 'raw';
  code: number;
  body: Buffer;
}

export type ZkEvent = AttendanceEvent | RawEvent;

/** EF_ATTLOG body layouts by length (docs/zk-protocol.md §9.3). */
export type AttEventBodyLength = 10 | 12 | 14 | 32 | 36 | 37 | 52;

function att(
  code: number,
  body: Buffer,
  fields: Omit<AttendanceEvent, 'kind' | 'code' | 'timeValid' | 'bodyLength'>,
): AttendanceEvent {
  return { kind: 'attendance', code, timeValid: isValidWallClock(fields.time), bodyLength: body.length, ...fields };
}

function decodeStringBody(code: number, body: Buffer, start: number, length: number): AttendanceEvent {
  return att(code, body.subarray(start, start + length), {
    userId: readAsciiField(body, start, 24),
    userNumber: null,
    userResolved: true,
    verify: body[start + 24],
    state: body[start + 25],
    stateByte: body[start + 25],
    time: decodeEventTime(body, start + 26),
    extra: Buffer.from(body.subarray(start + 32, start + length)),
  });
}

function isZero(b: Buffer, off: number, len: number): boolean {
  for (let i = off; i < off + len; i++) if (b[i] !== 0) return false;
  return true;
}

/**
 * Decodes an event packet's body. Never throws: unknown shapes and other event codes come back as raw
 * events. A body of a multiple of 52 bytes carries several punches.
 */
export function decodeEvent(code: number, body: Buffer): ZkEvent[] {
  if (code !== EventFlag.ATTLOG) return [{ kind: 'raw', code, body: Buffer.from(body) }];
  const n = body.length;
  switch (n) {
    case 10:
    case 14: {
      const user = body.readUInt16LE(0);
      return [
        att(code, body, {
          userId: String(user),
          userNumber: user,
          userResolved: false,
          verify: body[2],
          state: body[3] & 0x0f,
          stateByte: body[3],
          time: decodeEventTime(body, 4),
          extra: Buffer.from(body.subarray(10)),
        }),
      ];
    }
    case 12:
      return [
        att(code, body, {
          userId: String(body.readUInt32LE(0)),
          userNumber: null,
          userResolved: true,
          verify: body[4],
          state: body[5],
          stateByte: body[5],
          time: decodeEventTime(body, 6),
          extra: Buffer.alloc(0),
        }),
      ];
    case 32:
    case 36:
    case 37:
      return [decodeStringBody(code, body, 0, n)];
  }
  if (n >= 52) {
    if (n % 52 === 0) {
      const out: ZkEvent[] = [];
      for (let off = 0; off < n; off += 52) {
        // An all-zero slice after the first is padding, not a punch by user "" in the year 2000.
        if (off > 0 && isZero(body, off, 52)) continue;
        out.push(decodeStringBody(code, body, off, 52));
      }
      return out;
    }
    return [decodeStringBody(code, body, 0, n)];
  }
  return [{ kind: 'raw', code, body: Buffer.from(body) }];
}

export interface AttEventInput {
  userId: string;
  /** For 10/14-byte bodies: the u16 user field (uid); defaults to the numeric userId. */
  userNumber?: number;
  verify: number;
  state: number;
  time: WallClock;
}

/** Encodes an EF_ATTLOG body of the given length (the simulator's side). Other lengths: zero-padded 32-byte layout. */
export function encodeAttEventBody(e: AttEventInput, length: number): Buffer {
  const t = encodeEventTime(e.time);
  if (length === 10 || length === 14) {
    const b = Buffer.alloc(length);
    b.writeUInt16LE((e.userNumber ?? Number(e.userId)) & 0xffff, 0);
    b[2] = e.verify & 0xff;
    b[3] = e.state & 0x0f;
    t.copy(b, 4);
    return b;
  }
  if (length === 12) {
    const b = Buffer.alloc(12);
    b.writeUInt32LE(Number(e.userId) >>> 0, 0);
    b[4] = e.verify & 0xff;
    b[5] = e.state & 0xff;
    t.copy(b, 6);
    return b;
  }
  // String layouts; lengths under 32 (fault injection) are truncated copies of the 32-byte body.
  const b = Buffer.alloc(Math.max(length, 32));
  writeTextField(b, 0, 24, e.userId);
  b[24] = e.verify & 0xff;
  b[25] = e.state & 0xff;
  t.copy(b, 26);
  return length < 32 ? b.subarray(0, length) : b;
}
