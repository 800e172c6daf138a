/**
 * Generated user names and their byte encodings (docs/zk-protocol.md §8.7: names use the device's code page).
 * Node's TextEncoder only produces UTF-8 and Buffer has no GBK, so 'gbk' uses a small table of GBK codes for
 * the characters of the generated Chinese names (checked against TextDecoder('gbk')). A name with a character
 * outside the table falls back to UTF-8 and is reported as such.
 */
import type { SimNameEncoding } from './types';

const GBK: Readonly<Record<string, readonly [number, number]>> = {
  张: [0xd5, 0xc5],
  伟: [0xce, 0xb0],
  王: [0xcd, 0xf5],
  芳: [0xb7, 0xbc],
  李: [0xc0, 0xee],
  娜: [0xc4, 0xc8],
  刘: [0xc1, 0xf5],
  洋: [0xd1, 0xf3],
  陈: [0xb3, 0xc2],
  静: [0xbe, 0xb2],
  杨: [0xd1, 0xee],
  勇: [0xd3, 0xc2],
};

const FIRST_ASCII = [
  'Anna',
  'Ben',
  'Chloe',
  'David',
  'Emma',
  'Felix',
  'Grace',
  'Hugo',
  'Ines',
  'Jonas',
  'Kira',
  'Liam',
];
const LAST_ASCII = [
  'Adams',
  'Baker',
  'Clark',
  'Diaz',
  'Evans',
  'Fox',
  'Garcia',
  'Hill',
  'Ito',
  'Jones',
  'Khan',
  'Lopez',
];
// Latin-1-representable, so 'latin1' and 'utf8' both encode them (with different bytes).
const FIRST_ACCENTED = ['José', 'Zoë', 'Renée', 'Jürgen', 'Ångel', 'Çelik'];
const CHINESE = ['张伟', '王芳', '李娜', '刘洋', '陈静', '杨勇'];

/** The name of generated user `index` for a field of `fieldBytes` bytes (24 on TFT, 8 on ZK6). */
export function generatedName(
  index: number,
  pickFirst: number,
  pickLast: number,
  enc: SimNameEncoding,
  fieldBytes: number,
): string {
  if (enc === 'gbk' && index % 2 === 1) return CHINESE[pickFirst % CHINESE.length];
  if (fieldBytes <= 8) {
    const short = `U${index + 1}`;
    return index % 3 === 1 && enc !== 'gbk' ? FIRST_ACCENTED[pickFirst % FIRST_ACCENTED.length].slice(0, 4) : short;
  }
  const first =
    index % 3 === 1 && enc !== 'gbk'
      ? FIRST_ACCENTED[pickFirst % FIRST_ACCENTED.length]
      : FIRST_ASCII[pickFirst % FIRST_ASCII.length];
  return `${first} ${LAST_ASCII[pickLast % LAST_ASCII.length]}`;
}

export interface EncodedName {
  bytes: Buffer;
  /** True when 'gbk' was asked for but a character is not in the table, so UTF-8 was used. */
  fellBackToUtf8: boolean;
}

export function encodeName(name: string, enc: SimNameEncoding): EncodedName {
  if (enc === 'latin1') return { bytes: Buffer.from(name, 'latin1'), fellBackToUtf8: false };
  if (enc === 'gbk') {
    const out: number[] = [];
    for (const ch of name) {
      const code = ch.codePointAt(0) ?? 0;
      if (code < 0x80) out.push(code);
      else if (GBK[ch]) out.push(...GBK[ch]);
      else return { bytes: Buffer.from(name, 'utf8'), fellBackToUtf8: true };
    }
    return { bytes: Buffer.from(out), fellBackToUtf8: false };
  }
  return { bytes: Buffer.from(name, 'utf8'), fellBackToUtf8: false };
}
