/** Payloads of the buffered-read exchange (docs/zk-protocol.md §7). */
import { Selector, Fct } from './constants';

export interface BufferSelector {
  command: number;
  fct: number;
  ext: number;
}

export const ATTLOG_SELECTOR: BufferSelector = { command: Selector.ATTLOG_RRQ, fct: 0, ext: 0 };
export const USERS_SELECTOR: BufferSelector = { command: Selector.USERTEMP_RRQ, fct: Fct.USER, ext: 0 };
export const TEMPLATES_SELECTOR: BufferSelector = { command: Selector.DB_RRQ, fct: Fct.FINGERTMP, ext: 0 };

/** The 11-byte PREPARE_BUFFER (1503) request. */
export function encodePrepareBuffer(s: BufferSelector): Buffer {
  const b = Buffer.alloc(11);
  b[0] = 1;
  b.writeInt16LE(s.command, 1);
  b.writeInt32LE(s.fct, 3);
  b.writeInt32LE(s.ext, 7);
  return b;
}

/** Null when shorter than the 3 bytes that name the selector. */
export function decodePrepareBuffer(p: Buffer): BufferSelector | null {
  if (p.length < 3) return null;
  return {
    command: p.readInt16LE(1),
    fct: p.length >= 7 ? p.readInt32LE(3) : 0,
    ext: p.length >= 11 ? p.readInt32LE(7) : 0,
  };
}

/** The 13-byte stat payload of an ACK_OK reply to 1503: L = buffer length incl. the 4-byte total. */
export function encodeBufferStat(length: number): Buffer {
  const b = Buffer.alloc(13);
  b.writeUInt32LE(length >>> 0, 1);
  b.writeUInt32LE(length >>> 0, 5);
  return b;
}

/** L from a stat payload (u32 at offset 1); null when too short. */
export function decodeBufferStat(p: Buffer): number | null {
  return p.length >= 5 ? p.readUInt32LE(1) : null;
}

export interface ByteRange {
  start: number;
  size: number;
}

/** READ_BUFFER (1504) request: u32 start, u32 size. */
export function encodeReadBuffer(r: ByteRange): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt32LE(r.start >>> 0, 0);
  b.writeUInt32LE(r.size >>> 0, 4);
  return b;
}

export function decodeReadBuffer(p: Buffer): ByteRange | null {
  return p.length >= 8 ? { start: p.readUInt32LE(0), size: p.readUInt32LE(4) } : null;
}

/** PREPARE_DATA (1500) payload: u32 size that follows, u32 max packet size. */
export function encodePrepareData(size: number, maxPacket: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt32LE(size >>> 0, 0);
  b.writeUInt32LE(maxPacket >>> 0, 4);
  return b;
}

export function decodePrepareData(p: Buffer): { size: number; maxPacket: number } | null {
  return p.length >= 4 ? { size: p.readUInt32LE(0), maxPacket: p.length >= 8 ? p.readUInt32LE(4) : 0 } : null;
}

/** Byte ranges covering 0…length−1 in chunks of at most `chunkBytes`. */
export function chunkRanges(length: number, chunkBytes: number): ByteRange[] {
  const out: ByteRange[] = [];
  for (let start = 0; start < length; start += chunkBytes)
    out.push({ start, size: Math.min(chunkBytes, length - start) });
  return out;
}
