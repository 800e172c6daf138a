/**
 * Device state: users, the attendance log and the counts derived from them. The attendance log is kept
 * encoded in the profile's layout in one growable buffer, so a download only copies bytes and a punch only
 * encodes one record (100,000 records are never re-encoded per download).
 */
import {
  AttendanceInput,
  UserInput,
  encodeAttendanceRecord,
  encodeUserRecord,
  encodeFreeSizes,
  numericUserId,
  encodeTemplateEntry,
} from '../protocol';
import type { SimProfile } from './profiles';
import type { CountsMode, SimNameEncoding } from './types';
import { encodeName } from './names';

export class DeviceState {
  readonly profile: SimProfile;
  readonly records: AttendanceInput[] = [];
  private userList: UserInput[] = [];
  /** Encoded user records, parallel to userList (USER_WRQ records are kept as received). */
  private userBytes: Buffer[] = [];
  private att: Buffer;
  private attLen = 0;
  private nameEnc: SimNameEncoding;
  /** Set when 'gbk' could not encode a name and UTF-8 was used instead. */
  gbkFallback = false;

  constructor(profile: SimProfile, nameEncoding: SimNameEncoding, initialRecordCapacity = 64) {
    this.profile = profile;
    this.nameEnc = nameEncoding;
    this.att = Buffer.alloc(Math.max(1, initialRecordCapacity) * profile.attendanceSize);
  }

  get users(): readonly UserInput[] {
    return this.userList;
  }

  get userCount(): number {
    return this.userList.length;
  }

  get recordCount(): number {
    return this.records.length;
  }

  get nameEncoding(): SimNameEncoding {
    return this.nameEnc;
  }

  setNameEncoding(enc: SimNameEncoding): void {
    if (enc === this.nameEnc) return;
    this.nameEnc = enc;
    this.gbkFallback = false;
    this.userBytes = this.userList.map((u) => this.encodeUser(u));
  }

  private encodeUser(u: UserInput): Buffer {
    if (this.profile.numericUserIds) numericUserId(u.userId, this.profile.userSize);
    const name = encodeName(u.name ?? '', this.nameEnc);
    if (name.fellBackToUtf8) this.gbkFallback = true;
    // encodeUserRecord takes a string + Buffer encoding; 'latin1' maps each char to one byte, which lets us
    // hand it bytes produced by our own encoder (GBK has no Buffer encoding).
    return encodeUserRecord({ ...u, name: name.bytes.toString('latin1') }, this.profile.userSize, 'latin1');
  }

  /** Insert or replace by uid. `raw` keeps a record exactly as a client wrote it (USER_WRQ). */
  upsertUser(u: UserInput, raw?: Buffer): void {
    const bytes = raw && raw.length === this.profile.userSize ? Buffer.from(raw) : this.encodeUser(u);
    const i = this.userList.findIndex((x) => x.uid === u.uid);
    if (i >= 0) {
      this.userList[i] = { ...u };
      this.userBytes[i] = bytes;
    } else {
      this.userList.push({ ...u });
      this.userBytes.push(bytes);
    }
  }

  deleteUser(uid: number): boolean {
    const i = this.userList.findIndex((x) => x.uid === uid);
    if (i < 0) return false;
    this.userList.splice(i, 1);
    this.userBytes.splice(i, 1);
    // The firmware deletes a user's fingerprints with the user.
    this.fingerprints.delete(uid);
    return true;
  }

  clearUsers(): void {
    this.userList = [];
    this.userBytes = [];
    this.fingerprints.clear();
  }

  // ---- fingerprint templates (by uid, then finger) ----

  private readonly fingerprints = new Map<number, Map<number, { flag: number; data: Buffer }>>();

  get templateCount(): number {
    let n = 0;
    for (const f of this.fingerprints.values()) n += f.size;
    return n;
  }

  /** Every template, ordered by uid then finger. Copies. */
  templates(): { uid: number; finger: number; flag: number; data: Buffer }[] {
    const out: { uid: number; finger: number; flag: number; data: Buffer }[] = [];
    for (const uid of [...this.fingerprints.keys()].sort((a, b) => a - b)) {
      const fingers = this.fingerprints.get(uid);
      if (!fingers) continue;
      for (const finger of [...fingers.keys()].sort((a, b) => a - b)) {
        const t = fingers.get(finger);
        if (t) out.push({ uid, finger, flag: t.flag, data: Buffer.from(t.data) });
      }
    }
    return out;
  }

  /** Stores a template for an existing user; false when no user has that uid. */
  setTemplate(uid: number, finger: number, flag: number, data: Buffer): boolean {
    if (!this.userList.some((u) => u.uid === uid)) return false;
    let fingers = this.fingerprints.get(uid);
    if (!fingers) this.fingerprints.set(uid, (fingers = new Map()));
    fingers.set(finger, { flag, data: Buffer.from(data) });
    return true;
  }

  getTemplate(uid: number, finger: number): { flag: number; data: Buffer } | undefined {
    return this.fingerprints.get(uid)?.get(finger);
  }

  deleteTemplate(uid: number, finger: number): boolean {
    const fingers = this.fingerprints.get(uid);
    if (!fingers || !fingers.delete(finger)) return false;
    if (fingers.size === 0) this.fingerprints.delete(uid);
    return true;
  }

  deleteUserTemplates(uid: number): number {
    const n = this.fingerprints.get(uid)?.size ?? 0;
    this.fingerprints.delete(uid);
    return n;
  }

  clearTemplates(): void {
    this.fingerprints.clear();
  }

  /** The prepared buffer of a template read: u32 total + entries (docs/zk-protocol.md §8.9). */
  templatesBuffer(): Buffer {
    return withTotal(Buffer.concat(this.templates().map((t) => encodeTemplateEntry(t))));
  }

  findUser(userId: string): UserInput | undefined {
    return this.userList.find((u) => u.userId === userId);
  }

  /** Encodes one record and appends it; grows the storage by doubling. */
  appendRecord(r: AttendanceInput): void {
    const size = this.profile.attendanceSize;
    const bytes = encodeAttendanceRecord(r, size);
    if (this.attLen + size > this.att.length) {
      // A new buffer: earlier snapshots (views of the old one) stay valid.
      const grown = Buffer.alloc(Math.max(this.att.length * 2, this.attLen + size));
      this.att.copy(grown, 0, 0, this.attLen);
      this.att = grown;
    }
    bytes.copy(this.att, this.attLen);
    this.attLen += size;
    this.records.push(r);
  }

  /** Removes the oldest record (a full log about to take a new one). Fresh storage, as in clearAttendance. */
  dropOldest(): void {
    if (this.records.length === 0) return;
    const size = this.profile.attendanceSize;
    const next = Buffer.alloc(this.att.length);
    this.att.copy(next, 0, size, this.attLen);
    this.att = next;
    this.attLen -= size;
    this.records.shift();
  }

  clearAttendance(): void {
    // Fresh storage rather than overwriting: a prepared buffer may still view the old one.
    this.att = Buffer.alloc(this.att.length);
    this.attLen = 0;
    this.records.length = 0;
  }

  /** The prepared buffer of a download: u32 total_size + records (docs/zk-protocol.md §7.3). A copy. */
  attendanceBuffer(): Buffer {
    return withTotal(this.att.subarray(0, this.attLen));
  }

  usersBuffer(): Buffer {
    return withTotal(Buffer.concat(this.userBytes));
  }

  /** GET_FREE_SIZES payload; counts from the state at this moment, skewed by the countsMode fault. */
  freeSizes(mode: CountsMode, wrapAtRecords?: number): Buffer {
    const skew = (n: number): number => (mode === 'zero' ? 0 : mode === 'offByOne' ? n + 1 : n);
    const users = skew(this.userCount);
    const records = skew(this.recordCount);
    const p = this.profile;
    const recordsCapacity = wrapAtRecords ?? Math.max(p.recordsCapacity, this.recordCount);
    const usersCapacity = Math.max(p.usersCapacity, this.userCount);
    return encodeFreeSizes(
      {
        users,
        fingers: skew(this.templateCount),
        records,
        opLogs: 0,
        admins: this.userList.filter((u) => (u.privilege ?? 0) >= 2).length,
        passwords: this.userList.filter((u) => (u.password ?? '') !== '').length,
        fingersCapacity: usersCapacity,
        usersCapacity,
        recordsCapacity,
        fingersAvailable: usersCapacity - this.templateCount,
        usersAvailable: usersCapacity - users,
        recordsAvailable: recordsCapacity - records,
        faces: 0,
        facesCapacity: p.freeSizesWithFaces ? 1200 : 0,
      },
      p.freeSizesWithFaces,
    );
  }
}

function withTotal(body: Buffer): Buffer {
  const out = Buffer.allocUnsafe(4 + body.length);
  out.writeUInt32LE(body.length, 0);
  body.copy(out, 4);
  return out;
}
