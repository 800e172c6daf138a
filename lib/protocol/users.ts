import { ZkProtocolError, hexSample } from '../errors';
import { NameEncoding, readAsciiField, readTextField, writeTextField, isCleanAsciiField } from './text';
import { numericUserId } from './attendance';

export type UserRecordSize = 72 | 28;
export const USER_RECORD_SIZES: readonly UserRecordSize[] = [72, 28];

export interface DeviceUser {
  uid: number;
  userId: string;
  name: string;
  /** Raw privilege byte: bit 0 disabled, bits 1–3 level. */
  privilege: number;
  enabled: boolean;
  password: string;
  cardNo: number;
  group: number;
}

export interface UserInput {
  uid: number;
  userId: string;
  name?: string;
  privilege?: number;
  password?: string;
  cardNo?: number;
  group?: number;
}

export function decodeUserRecord(buf: Buffer, offset: number, size: UserRecordSize, enc: NameEncoding = 'utf8'): DeviceUser {
  const privilege = buf[offset + 2];
  if (size === 72) {
    return {
      uid: buf.readUInt16LE(offset),
      privilege,
      enabled: (privilege & 1) === 0,
      password: readAsciiField(buf, offset + 3, 8),
      name: readTextField(buf, offset + 11, 24, enc),
      cardNo: buf.readUInt32LE(offset + 35),
      group: buf[offset + 39],
      userId: readAsciiField(buf, offset + 48, 24),
    };
  }
  return {
    uid: buf.readUInt16LE(offset),
    privilege,
    enabled: (privilege & 1) === 0,
    password: readAsciiField(buf, offset + 3, 5),
    name: readTextField(buf, offset + 8, 8, enc),
    cardNo: buf.readUInt32LE(offset + 16),
    group: buf[offset + 21],
    userId: String(buf.readUInt32LE(offset + 24)),
  };
}

export function encodeUserRecord(u: UserInput, size: UserRecordSize, nameEncoding: BufferEncoding = 'utf8'): Buffer {
  const buf = Buffer.alloc(size);
  buf.writeUInt16LE(u.uid & 0xffff, 0);
  buf[2] = (u.privilege ?? 0) & 0xff;
  if (size === 72) {
    writeTextField(buf, 3, 8, u.password ?? '');
    writeTextField(buf, 11, 24, u.name ?? '', nameEncoding);
    buf.writeUInt32LE((u.cardNo ?? 0) >>> 0, 35);
    buf[39] = (u.group ?? 1) & 0xff;
    writeTextField(buf, 48, 24, u.userId);
  } else {
    writeTextField(buf, 3, 5, u.password ?? '');
    writeTextField(buf, 8, 8, u.name ?? '', nameEncoding);
    buf.writeUInt32LE((u.cardNo ?? 0) >>> 0, 16);
    buf[21] = (u.group ?? 1) & 0xff;
    buf.writeUInt32LE(numericUserId(u.userId, 28), 24);
  }
  return buf;
}

function userLooksValid(buf: Buffer, offset: number, size: UserRecordSize): boolean {
  if (buf.readUInt16LE(offset) === 0) return false;
  return size === 72 ? isCleanAsciiField(buf, offset + 48, 24) : true;
}

/** Chooses the user record size (zk-protocol.md §8.8, users). */
export function detectUserLayout(data: Buffer, deviceCount: number | null): UserRecordSize {
  const n = deviceCount ?? 0;
  if (n > 0 && data.length % n === 0 && (data.length / n === 72 || data.length / n === 28)) return (data.length / n) as UserRecordSize;
  for (const size of USER_RECORD_SIZES) {
    if (data.length % size !== 0) continue;
    const count = data.length / size;
    let ok = 0;
    for (let i = 0; i < count; i++) if (userLooksValid(data, i * size, size)) ok++;
    if (ok / count >= 0.99) return size;
  }
  throw new ZkProtocolError(
    `unknown user record size: ${data.length} bytes of users, device count ${deviceCount ?? 'unknown'}; ` +
      `neither the 72- nor the 28-byte layout fits. First bytes: ${hexSample(data)}`,
    { totalSize: data.length, deviceCount, sample: hexSample(data) },
    'UNKNOWN_USER_SIZE',
  );
}

export function decodeUserRecords(data: Buffer, deviceCount: number | null, enc: NameEncoding = 'utf8'): { size: UserRecordSize; users: DeviceUser[] } {
  if (data.length === 0) return { size: 72, users: [] };
  const size = detectUserLayout(data, deviceCount);
  const users: DeviceUser[] = [];
  for (let off = 0; off + size <= data.length; off += size) users.push(decodeUserRecord(data, off, size, enc));
  return { size, users };
}
