import { TextDecoder } from 'util';

/** Fixed-size text fields: read up to the first NUL, never past the field (docs/zk-protocol.md §8.7). */

export type NameEncoding = 'utf8' | 'latin1' | 'gbk' | 'cp1252' | 'utf-8';

const decoders = new Map<string, TextDecoder>();

function decoderFor(enc: NameEncoding): TextDecoder {
  const label = enc === 'latin1' ? 'latin1' : enc === 'utf-8' ? 'utf8' : enc;
  let d = decoders.get(label);
  if (!d) {
    try {
      d = new TextDecoder(label);
    } catch {
      // Node built without full ICU has no GBK: fall back to UTF-8 with replacement characters.
      d = new TextDecoder('utf8');
    }
    decoders.set(label, d);
  }
  return d;
}

function fieldEnd(buf: Uint8Array, offset: number, length: number): number {
  const end = Math.min(offset + length, buf.length);
  for (let i = offset; i < end; i++) if (buf[i] === 0) return i;
  return end;
}

/** ASCII field (userId, password): bytes up to the first NUL, as latin1 so no byte is lost. */
export function readAsciiField(buf: Uint8Array, offset: number, length: number): string {
  const end = fieldEnd(buf, offset, length);
  // One flat string, no per-character concatenation: this runs for every record of a download.
  const b = Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  return b.toString('latin1', offset, end);
}

/** Text field in the device's code page. */
export function readTextField(buf: Uint8Array, offset: number, length: number, enc: NameEncoding = 'utf8'): string {
  const end = fieldEnd(buf, offset, length);
  return decoderFor(enc).decode(buf.subarray(offset, end));
}

/** Writes `s` into a NUL-padded field; throws if it does not fit (callers validate first). */
export function writeTextField(
  buf: Buffer,
  offset: number,
  length: number,
  s: string,
  enc: BufferEncoding = 'latin1',
): void {
  buf.fill(0, offset, offset + length);
  const bytes = Buffer.from(s, enc);
  if (bytes.length > length) throw new RangeError(`text "${s}" is ${bytes.length} bytes; the field holds ${length}`);
  bytes.copy(buf, offset);
}

/** True when the field is printable ASCII followed only by NULs (layout validation, §8.8). */
export function isCleanAsciiField(buf: Uint8Array, offset: number, length: number): boolean {
  let i = offset;
  const end = offset + length;
  for (; i < end && buf[i] !== 0; i++) {
    if (buf[i] < 0x20 || buf[i] > 0x7e) return false;
  }
  for (; i < end; i++) if (buf[i] !== 0) return false;
  return true;
}
