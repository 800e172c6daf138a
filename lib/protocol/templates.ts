/**
 * Fingerprint templates (docs/zk-protocol.md §8.9): the template table of the buffered read and the payloads of
 * the template commands. Template bytes are opaque: they are moved, never interpreted.
 */
import { ZkProtocolError, hexSample } from '../errors';
import { writeTextField } from './text';

export interface FingerTemplate {
  userId: string;
  /** The device's slot of the user; differs between devices for the same person. */
  uid: number;
  /** 0…9. */
  finger: number;
  /** 1 valid, 3 duress (0 invalid). */
  flag: number;
  data: Buffer;
}

/** An entry of the template table: u16 entry size (data + 6), u16 uid, u8 finger, u8 flag, data. */
export interface TemplateEntry {
  uid: number;
  finger: number;
  flag: number;
  data: Buffer;
}

export const TEMPLATE_ENTRY_HEADER = 6;
/** An entry's size is a u16 including its 6-byte header. */
export const MAX_TEMPLATE_BYTES = 0xffff - TEMPLATE_ENTRY_HEADER;
export const TEMPLATE_FLAGS: readonly number[] = [0, 1, 3];

export function encodeTemplateEntry(e: TemplateEntry): Buffer {
  const b = Buffer.alloc(TEMPLATE_ENTRY_HEADER + e.data.length);
  b.writeUInt16LE(b.length, 0);
  b.writeUInt16LE(e.uid & 0xffff, 2);
  b[4] = e.finger & 0xff;
  b[5] = e.flag & 0xff;
  e.data.copy(b, TEMPLATE_ENTRY_HEADER);
  return b;
}

/** Decodes the body of a template buffer (after the u32 total). Entries are copies. */
export function decodeTemplateEntries(body: Buffer, label = 'device'): TemplateEntry[] {
  const out: TemplateEntry[] = [];
  let off = 0;
  while (off < body.length) {
    if (body.length - off < TEMPLATE_ENTRY_HEADER) {
      throw new ZkProtocolError(
        `${label} sent a template table that ends inside an entry header at byte ${off} of ${body.length}`,
        { offset: off, sample: hexSample(body.subarray(off)) },
      );
    }
    const size = body.readUInt16LE(off);
    if (size < TEMPLATE_ENTRY_HEADER || off + size > body.length) {
      throw new ZkProtocolError(
        `${label} sent a template entry of ${size} bytes at byte ${off}; ${body.length - off} bytes remain — the table is corrupt`,
        { offset: off, size, sample: hexSample(body.subarray(off)) },
      );
    }
    out.push({
      uid: body.readUInt16LE(off + 2),
      finger: body[off + 4],
      flag: body[off + 5],
      data: Buffer.from(body.subarray(off + TEMPLATE_ENTRY_HEADER, off + size)),
    });
    off += size;
  }
  return out;
}

/** TMP_WRITE (87): moves the uploaded buffer into the template store. u16 uid, u8 finger, u8 flag, u16 size. */
export function encodeTemplateWrite(e: { uid: number; finger: number; flag: number; size: number }): Buffer {
  const b = Buffer.alloc(6);
  b.writeUInt16LE(e.uid & 0xffff, 0);
  b[2] = e.finger & 0xff;
  b[3] = e.flag & 0xff;
  b.writeUInt16LE(e.size & 0xffff, 4);
  return b;
}

export function decodeTemplateWrite(p: Buffer): { uid: number; finger: number; flag: number; size: number } | null {
  if (p.length < 6) return null;
  return { uid: p.readUInt16LE(0), finger: p[2], flag: p[3], size: p.readUInt16LE(4) };
}

/** DEL_FPTMP (134): the PIN as text in a 24-byte field, then the finger index at byte 24. */
export function encodeDeleteFinger(userId: string, finger: number): Buffer {
  const b = Buffer.alloc(25);
  writeTextField(b, 0, 24, userId);
  b[24] = finger & 0xff;
  return b;
}

export function decodeDeleteFinger(p: Buffer): { userId: string; finger: number } | null {
  if (p.length < 25) return null;
  const nul = p.indexOf(0);
  const end = nul < 0 || nul > 24 ? 24 : nul;
  return { userId: p.toString('latin1', 0, end), finger: p[24] };
}

/** PREPARE_DATA (1500) from the client before an upload: u32 size of the data that follows. */
export function encodeUploadSize(size: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(size >>> 0, 0);
  return b;
}

/**
 * A checksum of uploaded bytes: the u32 sum of the bytes. The firmware's own algorithm for CHECKSUM_BUFFER is
 * not public; the simulator answers with this one, and the client proves an upload by reading it back.
 */
export function uploadChecksum(data: Buffer): number {
  let sum = 0;
  for (let i = 0; i < data.length; i++) sum = (sum + data[i]) >>> 0;
  return sum;
}

/** Why `t` cannot be written, or null. */
export function templateProblem(t: {
  userId?: unknown;
  finger?: unknown;
  flag?: unknown;
  data?: unknown;
}): string | null {
  if (!t || typeof t !== 'object') return 'the template is not an object';
  if (!Number.isInteger(t.finger) || (t.finger as number) < 0 || (t.finger as number) > 9) {
    return `finger ${String(t.finger)} must be a whole number from 0 to 9`;
  }
  if (!TEMPLATE_FLAGS.includes(t.flag as number))
    return `flag ${String(t.flag)} must be 1 (valid), 3 (duress) or 0 (invalid)`;
  if (!Buffer.isBuffer(t.data) || t.data.length === 0) return 'template data must be a non-empty Buffer';
  if (t.data.length > MAX_TEMPLATE_BYTES)
    return `template data is ${t.data.length} bytes; at most ${MAX_TEMPLATE_BYTES} fit an entry`;
  return null;
}
