import { ZkProtocolError, hexSample } from '../errors';
import { NameEncoding, readAsciiField, readTextField, writeTextField, isCleanAsciiField } from './text';
import { numericUserId } from './attendance';
import { encodeDeviceText } from './name-encode';

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

export function decodeUserRecord(
  buf: Buffer,
  offset: number,
  size: UserRecordSize,
  enc: NameEncoding = 'utf8',
): DeviceUser {
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

/** Chooses the user record size (docs/zk-protocol.md §8.8, users). */
export function detectUserLayout(data: Buffer, deviceCount: number | null): UserRecordSize {
  const n = deviceCount ?? 0;
  if (n > 0 && data.length % n === 0 && (data.length / n === 72 || data.length / n === 28))
    return (data.length / n) as UserRecordSize;
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

export function decodeUserRecords(
  data: Buffer,
  deviceCount: number | null,
  enc: NameEncoding = 'utf8',
): { size: UserRecordSize; users: DeviceUser[] } {
  if (data.length === 0) return { size: 72, users: [] };
  const size = detectUserLayout(data, deviceCount);
  const users: DeviceUser[] = [];
  for (let off = 0; off + size <= data.length; off += size) users.push(decodeUserRecord(data, off, size, enc));
  return { size, users };
}

// ---- writing users ----------------------------------------------------------------------------

/** One user to create or update, addressed by the PIN (userId). Undefined fields keep the device's value. */
export interface UserWrite {
  /** The PIN, 1–24 characters; a 28-byte-layout device takes numeric PINs only. */
  userId: string;
  /** In the device's code page (the client's nameEncoding). */
  name?: string;
  password?: string;
  /** 32-bit unsigned. */
  cardNo?: number;
  group?: number;
  /** The level as the raw byte without the disabled bit: 0 user, 2 enroller, 6 admin, 14 super admin. */
  privilege?: number;
  /** Default true. */
  enabled?: boolean;
}

export type UserWriteFailureCode = 'NOT_KEPT' | 'BAD_INPUT' | 'DEVICE_ERROR' | 'NO_SLOT';

export interface UserWriteFailure {
  userId: string;
  reason: string;
  code: UserWriteFailureCode;
}

export interface UserWriteReport {
  /** Users written and read back equal, as the device now holds them. */
  written: DeviceUser[];
  failed: UserWriteFailure[];
  /** PINs already equal on the device: nothing was sent for them. */
  unchanged?: string[];
}

export interface UserDeleteReport {
  deleted: string[];
  notFound: string[];
  failed: UserWriteFailure[];
}

/** Privilege levels a user can be given (raw byte, disabled bit clear). */
export const USER_LEVELS: readonly number[] = [0, 2, 6, 14];

interface FieldSizes {
  password: number;
  name: number;
}

/** Byte sizes of the text fields per layout; names keep room for the terminating NUL. */
const FIELD_BYTES: Readonly<Record<UserRecordSize, FieldSizes>> = {
  72: { password: 8, name: 23 },
  28: { password: 5, name: 7 },
};

const PRINTABLE = /^[\x20-\x7e]*$/;

/**
 * Why the `layout` cannot hold `u`, in words that name the field and what to change; null when it can.
 * Checks only the fields given (undefined keeps the device's value).
 */
export function userWriteProblem(u: UserWrite, layout: UserRecordSize, enc: NameEncoding): string | null {
  if (!u || typeof u !== 'object') return 'the user is not an object with a userId';
  const id = u.userId;
  if (typeof id !== 'string' || id.length === 0) return 'userId (the PIN) must be a non-empty string';
  if (id.length > 24 || !PRINTABLE.test(id)) return `userId "${id}" must be 1–24 printable ASCII characters`;
  if (id.trim() !== id) return `userId "${id}" has leading or trailing spaces`;
  if (layout === 28 && (!/^(0|[1-9]\d{0,9})$/.test(id) || Number(id) > 0xffffffff || id === '0')) {
    return (
      `userId "${id}" cannot be stored by this device: its 28-byte user layout holds numeric PINs only ` +
      '(1–4294967295, no leading zeros)'
    );
  }
  const f = FIELD_BYTES[layout];
  if (u.name !== undefined) {
    if (typeof u.name !== 'string') return 'name must be a string';
    let bytes: Buffer;
    try {
      bytes = encodeDeviceText(u.name, enc);
    } catch (err) {
      return `name "${u.name}": ${(err as Error).message}; check the device's name encoding`;
    }
    if (bytes.includes(0)) return `name "${u.name}" contains a NUL character`;
    if (bytes.length > f.name)
      return `name "${u.name}" is ${bytes.length} bytes in ${enc}; this device's layout holds ${f.name}`;
  }
  if (u.password !== undefined) {
    if (typeof u.password !== 'string' || !PRINTABLE.test(u.password)) return 'password must be printable ASCII text';
    if (u.password.length > f.password)
      return `password is ${u.password.length} characters; this device's layout holds ${f.password}`;
  }
  if (u.cardNo !== undefined && (!Number.isInteger(u.cardNo) || u.cardNo < 0 || u.cardNo > 0xffffffff)) {
    return `card number ${String(u.cardNo)} must be a whole number from 0 to 4294967295`;
  }
  if (u.group !== undefined && (!Number.isInteger(u.group) || u.group < 0 || u.group > 255)) {
    return `group ${String(u.group)} must be a whole number from 0 to 255`;
  }
  if (u.privilege !== undefined && !USER_LEVELS.includes(u.privilege)) {
    return `privilege ${String(u.privilege)} must be 0 (user), 2 (enroller), 6 (admin) or 14 (super admin)`;
  }
  if (u.enabled !== undefined && typeof u.enabled !== 'boolean') return 'enabled must be true or false';
  return null;
}

/** The user as it should be after the write: `current` (or the defaults of a new user) overlaid with `u`. */
export function mergeUserWrite(uid: number, u: UserWrite, current: DeviceUser | undefined): DeviceUser {
  const base: DeviceUser = current ?? {
    uid,
    userId: u.userId,
    name: '',
    privilege: 0,
    enabled: true,
    password: '',
    cardNo: 0,
    group: 1,
  };
  const enabled = u.enabled ?? (current ? current.enabled : true);
  const level = u.privilege ?? base.privilege & 0xfe;
  return {
    uid,
    userId: u.userId,
    name: u.name ?? base.name,
    privilege: (level & 0xfe) | (enabled ? 0 : 1),
    enabled,
    password: u.password ?? base.password,
    cardNo: u.cardNo ?? base.cardNo,
    group: u.group ?? base.group,
  };
}

/**
 * Encodes `u` in `layout`. `raw` (the device's current record) keeps the bytes we do not model, such as the
 * user's time-zone fields, so an update changes only what it means to change.
 */
export function encodeUserWrite(u: DeviceUser, layout: UserRecordSize, enc: NameEncoding, raw?: Buffer): Buffer {
  const buf = raw && raw.length === layout ? Buffer.from(raw) : Buffer.alloc(layout);
  const name = encodeDeviceText(u.name, enc);
  buf.writeUInt16LE(u.uid & 0xffff, 0);
  buf[2] = u.privilege & 0xff;
  if (layout === 72) {
    writeTextField(buf, 3, 8, u.password);
    buf.fill(0, 11, 35);
    name.copy(buf, 11);
    buf.writeUInt32LE(u.cardNo >>> 0, 35);
    buf[39] = u.group & 0xff;
    writeTextField(buf, 48, 24, u.userId);
  } else {
    writeTextField(buf, 3, 5, u.password);
    buf.fill(0, 8, 16);
    name.copy(buf, 8);
    buf.writeUInt32LE(u.cardNo >>> 0, 16);
    buf[21] = u.group & 0xff;
    buf.writeUInt32LE(numericUserId(u.userId, 28), 24);
  }
  return buf;
}

/** The fields of `want` that `got` does not match (empty when equal). */
export function userFieldDiff(want: DeviceUser, got: DeviceUser): string[] {
  const out: string[] = [];
  if (got.uid !== want.uid) out.push('uid');
  if (got.userId !== want.userId) out.push('userId');
  if (got.name !== want.name) out.push('name');
  if (got.password !== want.password) out.push('password');
  if (got.cardNo !== want.cardNo) out.push('cardNo');
  if (got.group !== want.group) out.push('group');
  if ((got.privilege & 0xfe) !== (want.privilege & 0xfe)) out.push('privilege');
  if (got.enabled !== want.enabled) out.push('enabled');
  return out;
}

/** The user records of a user buffer body with their raw bytes (kept for updates that preserve unknown bytes). */
export function decodeUserRecordsRaw(
  data: Buffer,
  deviceCount: number | null,
  enc: NameEncoding = 'utf8',
): { size: UserRecordSize; users: DeviceUser[]; raw: Buffer[] } {
  const { size, users } = decodeUserRecords(data, deviceCount, enc);
  const raw = users.map((_, i) => Buffer.from(data.subarray(i * size, (i + 1) * size)));
  return { size, users, raw };
}
