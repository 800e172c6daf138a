import { TextDecoder } from 'util';
import type { NameEncoding } from './text';

/**
 * Encodes text in a device code page for writing user names. Node can only encode UTF-8 and Latin-1 itself,
 * so the CP1252 and GBK tables are built once by decoding every byte (pair) with TextDecoder and inverting
 * the result: what we write then reads back as the same text with the decoder the reads use.
 */

type Table = Map<string, Buffer>;
const tables = new Map<string, Table | null>();

function buildTable(label: 'windows-1252' | 'gbk'): Table | null {
  let dec: TextDecoder;
  try {
    dec = new TextDecoder(label, { fatal: true });
  } catch {
    return null; // Node without full ICU: the code page is unavailable.
  }
  const t: Table = new Map();
  const put = (bytes: number[]): void => {
    let ch: string;
    try {
      ch = dec.decode(Uint8Array.from(bytes));
    } catch {
      return;
    }
    if ([...ch].length === 1 && !t.has(ch)) t.set(ch, Buffer.from(bytes));
  };
  for (let b = 0x20; b < 0x100; b++) put([b]);
  if (label === 'gbk') {
    for (let lead = 0x81; lead <= 0xfe; lead++)
      for (let trail = 0x40; trail <= 0xfe; trail++) if (trail !== 0x7f) put([lead, trail]);
  }
  return t;
}

function tableFor(label: 'windows-1252' | 'gbk'): Table | null {
  if (!tables.has(label)) tables.set(label, buildTable(label));
  return tables.get(label) ?? null;
}

/**
 * The bytes of `text` in code page `enc`, or a RangeError naming the first character the code page cannot
 * hold (the caller turns it into an error that names the user).
 */
export function encodeDeviceText(text: string, enc: NameEncoding): Buffer {
  if (enc === 'utf8' || enc === 'utf-8') return Buffer.from(text, 'utf8');
  if (enc === 'latin1') {
    for (const ch of text) {
      if ((ch.codePointAt(0) ?? 0) > 0xff) throw new RangeError(`"${ch}" is not in the latin1 code page`);
    }
    return Buffer.from(text, 'latin1');
  }
  const label = enc === 'cp1252' ? 'windows-1252' : 'gbk';
  const table = tableFor(label);
  if (!table) throw new RangeError(`this Node.js has no ${enc} code page (built without full ICU); use utf8 or latin1`);
  const parts: Buffer[] = [];
  for (const ch of text) {
    const code = ch.codePointAt(0) ?? 0;
    if (code < 0x80) {
      parts.push(Buffer.from([code]));
      continue;
    }
    const b = table.get(ch);
    if (!b) throw new RangeError(`"${ch}" is not in the ${enc} code page`);
    parts.push(b);
  }
  return Buffer.concat(parts);
}
