/**
 * Writing users and fingerprint templates (docs/zk-protocol.md §8.9). Every call is one disabled-device window:
 * read the table once, write what changed, REFRESHDATA, read the table back once and compare, enable. A write
 * the device acknowledged but does not hold afterwards is reported as NOT_KEPT, never as success.
 */
import type { Session, Logger } from './session';
import { readPreparedBuffer, BufferedReadOptions } from './buffered-read';
import { Cmd, Reply, codeName } from '../protocol/constants';
import { USERS_SELECTOR, TEMPLATES_SELECTOR } from '../protocol/buffered';
import type { DecodedPacket } from '../protocol/packet';
import type { FreeSizes } from '../protocol/free-sizes';
import type { NameEncoding } from '../protocol/text';
import {
  DeviceUser,
  UserRecordSize,
  UserWrite,
  UserWriteFailure,
  UserWriteReport,
  UserDeleteReport,
  decodeUserRecordsRaw,
  encodeUserWrite,
  mergeUserWrite,
  userFieldDiff,
  userWriteProblem,
} from '../protocol/users';
import {
  FingerTemplate,
  decodeTemplateEntries,
  encodeTemplateWrite,
  encodeDeleteFinger,
  encodeUploadSize,
  templateProblem,
} from '../protocol/templates';
import { ZkAuthError, ZkDeviceError, ZkError, ZkWriteNotKeptError } from '../errors';

/** What the user operations need from the client that owns the connection. */
export interface UserOpsHost {
  readonly label: string;
  readonly timeoutMs: number;
  readonly nameEncoding: NameEncoding;
  readonly logger: Logger;
  session(): Session;
  transport(): 'tcp' | 'udp';
  /** User writes in flight at once (1 = one at a time). */
  writeWindow(): number;
  readOptions(): BufferedReadOptions;
  freeSizes(): Promise<FreeSizes>;
  /** ACK_OK or a typed error. */
  command(cmd: number, payload?: Buffer): Promise<DecodedPacket>;
  /** The user table changed: refresh the uid → PIN cache the attendance reads use. */
  usersRead(users: DeviceUser[]): void;
}

export interface UserTable {
  layout: UserRecordSize;
  users: DeviceUser[];
  raw: Buffer[];
  sizes: FreeSizes;
}

export interface TemplateWriteReport {
  /** Templates written and read back byte-equal. */
  written: FingerTemplate[];
  /** Already byte-equal on the device: nothing sent. */
  unchanged: FingerTemplate[];
  failed: {
    userId: string;
    finger: number;
    reason: string;
    code: 'NOT_KEPT' | 'BAD_INPUT' | 'DEVICE_ERROR' | 'NO_USER';
  }[];
}

/** A planned user write: the user as it will be, the device's current record, the bytes to send. */
interface PlannedWrite {
  want: DeviceUser;
  current: DeviceUser | undefined;
  bytes: Buffer;
}

/** The difference between a list and the device, as upsertUsers would apply it. */
export interface UserPlan {
  add: DeviceUser[];
  /** Users that exist and differ, with the fields that would change. */
  update: { user: DeviceUser; fields: string[] }[];
  unchanged: string[];
  failed: UserWriteFailure[];
}

/** Template uploads go in DATA packets of at most this many bytes (one UDP datagram with its header). */
const UPLOAD_CHUNK = 1024;

export class UserOps {
  constructor(private readonly h: UserOpsHost) {}

  // ---- reads ----

  async readTable(): Promise<UserTable> {
    const sizes = await this.h.freeSizes();
    const buffer = await readPreparedBuffer(this.h.session(), USERS_SELECTOR, this.h.readOptions());
    const body = buffer.subarray(4, 4 + buffer.readUInt32LE(0));
    if (body.length === 0) {
      // No user to measure: the 92-byte GET_FREE_SIZES (TFT firmware) goes with 72-byte users, the 80-byte with 28.
      return { layout: sizes.faces === null ? 28 : 72, users: [], raw: [], sizes };
    }
    const { size, users, raw } = decodeUserRecordsRaw(body, sizes.users, this.h.nameEncoding);
    this.h.usersRead(users);
    return { layout: size, users, raw, sizes };
  }

  async readTemplates(table?: UserTable): Promise<FingerTemplate[]> {
    const users = table ?? (await this.readTable());
    const buffer = await readPreparedBuffer(this.h.session(), TEMPLATES_SELECTOR, this.h.readOptions());
    const entries = decodeTemplateEntries(buffer.subarray(4, 4 + buffer.readUInt32LE(0)), this.h.label);
    const ids = new Map(users.users.map((u) => [u.uid, u.userId]));
    return entries.map((e) => ({
      userId: ids.get(e.uid) ?? '',
      uid: e.uid,
      finger: e.finger,
      flag: e.flag,
      data: e.data,
    }));
  }

  // ---- users ----

  /** What upsertUsers would do, computed from one read of the table; nothing is written. */
  async planUsers(list: UserWrite[]): Promise<UserPlan> {
    const p = this.plan(await this.readTable(), list);
    return {
      add: p.writes.filter((w) => !w.current).map((w) => w.want),
      update: p.writes
        .filter((w) => w.current)
        .map((w) => ({ user: w.want, fields: userFieldDiff(w.want, w.current as DeviceUser) })),
      unchanged: p.unchanged,
      failed: p.failed,
    };
  }

  private plan(
    table: UserTable,
    list: UserWrite[],
  ): { writes: PlannedWrite[]; failed: UserWriteFailure[]; unchanged: string[] } {
    const label = this.h.label;
    const enc = this.h.nameEncoding;
    const index = new Map(table.users.map((u, i) => [u.userId, i]));
    const used = new Set(table.users.map((u) => u.uid));
    const capacity = table.sizes.usersCapacity > 0 ? Math.min(table.sizes.usersCapacity, 0xffff) : 0xffff;
    let count = table.users.length;
    let nextUid = 1;
    const failed: UserWriteFailure[] = [];
    const unchanged: string[] = [];
    const writes: PlannedWrite[] = [];
    const seen = new Set<string>();
    for (const u of Array.isArray(list) ? list : []) {
      const problem = userWriteProblem(u, table.layout, enc);
      const userId =
        u && typeof u.userId === 'string' ? u.userId : String((u as { userId?: unknown } | null)?.userId ?? '');
      if (problem) {
        failed.push({ userId, code: 'BAD_INPUT', reason: `${label}: ${problem}` });
        continue;
      }
      if (seen.has(userId)) {
        failed.push({
          userId,
          code: 'BAD_INPUT',
          reason: `${label}: userId "${userId}" appears twice in the list; only the first was written`,
        });
        continue;
      }
      seen.add(userId);
      const i = index.get(userId);
      const current = i === undefined ? undefined : table.users[i];
      let uid: number;
      if (current) {
        uid = current.uid;
      } else {
        while (used.has(nextUid)) nextUid++;
        if (count >= capacity || nextUid > 0xffff) {
          failed.push({
            userId,
            code: 'NO_SLOT',
            reason: `${label} has no free user slot (${count} of ${capacity} used); delete users or raise the device's capacity`,
          });
          continue;
        }
        uid = nextUid;
        used.add(uid);
        count++;
      }
      const want = mergeUserWrite(uid, u, current);
      if (current && userFieldDiff(want, current).length === 0) {
        unchanged.push(userId);
        continue;
      }
      writes.push({
        want,
        current,
        bytes: encodeUserWrite(want, table.layout, enc, i === undefined ? undefined : table.raw[i]),
      });
    }
    return { writes, failed, unchanged };
  }

  async upsertUsers(
    list: UserWrite[],
    opts: { onProgress?: (done: number, total: number) => void } = {},
  ): Promise<UserWriteReport> {
    const label = this.h.label;
    const { writes: plan, failed, unchanged } = this.plan(await this.readTable(), list);
    if (plan.length === 0) return { written: [], failed, unchanged };

    const acked: DeviceUser[] = [];
    const replies = await this.sendAll(
      Cmd.USER_WRQ,
      plan.map((p) => p.bytes),
      (done) => opts.onProgress?.(done, plan.length),
    );
    plan.forEach((p, i) => {
      const code = replies[i].command;
      if (code === Reply.ACK_OK) acked.push(p.want);
      else
        failed.push({
          userId: p.want.userId,
          code: 'DEVICE_ERROR',
          reason: `${label} refused user "${p.want.userId}" with ${codeName(code)}`,
        });
    });
    if (acked.length === 0) return { written: [], failed, unchanged };
    await this.h.command(Cmd.REFRESHDATA);
    const after = await this.readTable();
    const now = new Map(after.users.map((u) => [u.userId, u]));
    const written: DeviceUser[] = [];
    for (const want of acked) {
      const got = now.get(want.userId);
      const diff = got ? userFieldDiff(want, got) : [];
      if (got && diff.length === 0) written.push(got);
      else
        failed.push({
          userId: want.userId,
          code: 'NOT_KEPT',
          reason: notKept(label, want.userId, got ? diff.join(', ') : 'the user'),
        });
    }
    return { written, failed, unchanged };
  }

  async deleteUsers(userIds: string[]): Promise<UserDeleteReport> {
    const label = this.h.label;
    const table = await this.readTable();
    const byId = new Map(table.users.map((u) => [u.userId, u]));
    const report: UserDeleteReport = { deleted: [], notFound: [], failed: [] };
    const targets: DeviceUser[] = [];
    for (const id of new Set(Array.isArray(userIds) ? userIds : [])) {
      if (typeof id !== 'string' || id === '') {
        report.failed.push({
          userId: String(id),
          code: 'BAD_INPUT',
          reason: `${label}: a userId to delete must be a non-empty string`,
        });
        continue;
      }
      const u = byId.get(id);
      if (!u) {
        report.notFound.push(id);
        continue;
      }
      targets.push(u);
    }
    const acked: DeviceUser[] = [];
    const replies = await this.sendAll(
      Cmd.DELETE_USER,
      targets.map((u) => {
        const b = Buffer.alloc(2);
        b.writeUInt16LE(u.uid, 0);
        return b;
      }),
    );
    targets.forEach((u, i) => {
      const code = replies[i].command;
      if (code === Reply.ACK_OK) acked.push(u);
      else
        report.failed.push({
          userId: u.userId,
          code: 'DEVICE_ERROR',
          reason: `${label} refused to delete user "${u.userId}" with ${codeName(code)}`,
        });
    });
    if (acked.length === 0) return report;
    await this.h.command(Cmd.REFRESHDATA);
    const after = await this.readTable();
    const still = new Set(after.users.map((u) => u.userId));
    for (const u of acked) {
      if (still.has(u.userId))
        report.failed.push({ userId: u.userId, code: 'NOT_KEPT', reason: notKept(label, u.userId, 'the deletion') });
      else report.deleted.push(u.userId);
    }
    return report;
  }

  // ---- templates ----

  /**
   * Writes templates of users that exist on the device (matched by PIN; the uid is this device's). Each is
   * uploaded as firmware expects it: PREPARE_DATA (size), DATA, CHECKSUM_BUFFER, TMP_WRITE, FREE_DATA; then
   * REFRESHDATA and one read-back that must be byte-equal. Fingers not in the list are left as they are.
   */
  async writeTemplates(
    list: FingerTemplate[],
    opts: { onProgress?: (done: number, total: number) => void } = {},
  ): Promise<TemplateWriteReport> {
    const label = this.h.label;
    const table = await this.readTable();
    const uidOf = new Map(table.users.map((u) => [u.userId, u.uid]));
    const before = await this.readTemplates(table);
    const key = (userId: string, finger: number): string => `${userId}\u0000${finger}`;
    const current = new Map(before.map((t) => [key(t.userId, t.finger), t]));
    const report: TemplateWriteReport = { written: [], unchanged: [], failed: [] };
    const plan: FingerTemplate[] = [];
    const seen = new Set<string>();
    for (const t of Array.isArray(list) ? list : []) {
      const userId = t && typeof t.userId === 'string' ? t.userId : '';
      const finger = t && Number.isInteger(t.finger) ? t.finger : -1;
      const problem = userId === '' ? 'userId (the PIN) must be a non-empty string' : templateProblem(t);
      if (problem) {
        report.failed.push({
          userId,
          finger,
          code: 'BAD_INPUT',
          reason: `${label}: template of "${userId}" finger ${finger}: ${problem}`,
        });
        continue;
      }
      const uid = uidOf.get(userId);
      if (uid === undefined) {
        report.failed.push({
          userId,
          finger,
          code: 'NO_USER',
          reason: `${label} has no user "${userId}"; write the user before their templates`,
        });
        continue;
      }
      const k = key(userId, finger);
      if (seen.has(k)) {
        report.failed.push({
          userId,
          finger,
          code: 'BAD_INPUT',
          reason: `${label}: finger ${finger} of "${userId}" appears twice; only the first was written`,
        });
        continue;
      }
      seen.add(k);
      const want: FingerTemplate = { userId, uid, finger, flag: t.flag, data: t.data };
      const have = current.get(k);
      if (have && have.flag === want.flag && have.data.equals(want.data)) {
        report.unchanged.push(have);
        continue;
      }
      plan.push(want);
    }
    if (plan.length === 0) return report;
    const acked: FingerTemplate[] = [];
    let done = 0;
    for (const t of plan) {
      const refused = await this.upload(t);
      if (refused) report.failed.push({ userId: t.userId, finger: t.finger, code: 'DEVICE_ERROR', reason: refused });
      else acked.push(t);
      opts.onProgress?.(++done, plan.length);
    }
    if (acked.length === 0) return report;
    await this.h.command(Cmd.REFRESHDATA);
    const after = new Map((await this.readTemplates()).map((t) => [key(t.userId, t.finger), t]));
    for (const t of acked) {
      const got = after.get(key(t.userId, t.finger));
      if (got && got.flag === t.flag && got.data.equals(t.data)) report.written.push(got);
      else {
        const what = got ? `the bytes of finger ${t.finger}` : `finger ${t.finger}`;
        report.failed.push({
          userId: t.userId,
          finger: t.finger,
          code: 'NOT_KEPT',
          reason: notKept(label, t.userId, what),
        });
      }
    }
    return report;
  }

  /** Deletes one finger; false when the user or the finger is not there. Read back; NOT_KEPT if it stays. */
  async deleteTemplate(userId: string, finger: number): Promise<boolean> {
    const label = this.h.label;
    if (typeof userId !== 'string' || userId === '' || userId.length > 24) {
      throw new ZkError('BAD_INPUT', `${label}: the userId whose finger to delete must be 1–24 characters`, {
        host: label,
      });
    }
    if (!Number.isInteger(finger) || finger < 0 || finger > 9) {
      throw new ZkError('BAD_INPUT', `${label}: finger ${String(finger)} must be a whole number from 0 to 9`, {
        host: label,
      });
    }
    const table = await this.readTable();
    const has = (list: FingerTemplate[]): boolean => list.some((t) => t.userId === userId && t.finger === finger);
    if (!has(await this.readTemplates(table))) return false;
    await this.h.command(Cmd.DEL_FPTMP, encodeDeleteFinger(userId, finger));
    await this.h.command(Cmd.REFRESHDATA);
    if (has(await this.readTemplates(table))) {
      throw new ZkWriteNotKeptError(notKept(label, userId, `the deletion of finger ${finger}`), {
        host: label,
        userId,
        field: 'finger',
      });
    }
    return true;
  }

  /** One template upload; the refusal in words, or null when every step got ACK_OK. */
  private async upload(t: FingerTemplate): Promise<string | null> {
    const label = this.h.label;
    const what = `finger ${t.finger} of "${t.userId}"`;
    const steps: [number, Buffer][] = [[Cmd.PREPARE_DATA, encodeUploadSize(t.data.length)]];
    for (let off = 0; off < t.data.length; off += UPLOAD_CHUNK)
      steps.push([Cmd.DATA, t.data.subarray(off, off + UPLOAD_CHUNK)]);
    // The firmware's checksum algorithm is not public: we ask for it as the vendor SDK does, and prove the
    // upload by the read-back instead of by comparing it.
    steps.push([Cmd.CHECKSUM_BUFFER, Buffer.alloc(0)]);
    steps.push([
      Cmd.TMP_WRITE,
      encodeTemplateWrite({ uid: t.uid, finger: t.finger, flag: t.flag, size: t.data.length }),
    ]);
    try {
      for (const [cmd, payload] of steps) {
        const reply = await this.send(cmd, payload);
        if (reply.command !== Reply.ACK_OK)
          return `${label} refused ${codeName(cmd)} while writing ${what} with ${codeName(reply.command)}`;
      }
      return null;
    } finally {
      if (!this.h.session().isClosed) {
        await this.send(Cmd.FREE_DATA, Buffer.alloc(0)).catch((err: Error) =>
          this.h.logger('debug', `FREE_DATA on ${label} failed: ${err.message}`),
        );
      }
    }
  }

  /** One request per payload, pipelined up to the write window; ACK_UNAUTH is never per user. */
  private async sendAll(cmd: number, payloads: Buffer[], onReply?: (done: number) => void): Promise<DecodedPacket[]> {
    const replies = await this.h.session().pipeline(cmd, payloads, this.h.writeWindow(), this.h.timeoutMs, onReply);
    if (replies.some((r) => r.command === Reply.ACK_UNAUTH)) {
      throw new ZkAuthError(
        `${this.h.label} answered ${codeName(cmd)} with ACK_UNAUTH — the session is not authenticated; check the comm key`,
        { host: this.h.label },
      );
    }
    return replies;
  }

  /** A request whose refusal the caller reports per user; ACK_UNAUTH is never per user. */
  private async send(cmd: number, payload: Buffer): Promise<DecodedPacket> {
    const reply = await this.h.session().request(cmd, payload, this.h.timeoutMs);
    if (reply.command === Reply.ACK_UNAUTH) {
      throw new ZkAuthError(
        `${this.h.label} answered ${codeName(cmd)} with ACK_UNAUTH — the session is not authenticated; check the comm key`,
        { host: this.h.label },
      );
    }
    return reply;
  }
}

function notKept(label: string, userId: string, what: string): string {
  return (
    `${label} acknowledged the write of user "${userId}" but did not keep ${what} — the firmware acknowledged a write ` +
    'it did not keep; retry, or restart the device and sync again'
  );
}

/** The typed error for a single-user write. */
export function failureError(label: string, f: UserWriteFailure): ZkError {
  if (f.code === 'NOT_KEPT') return new ZkWriteNotKeptError(f.reason, { host: label, userId: f.userId });
  if (f.code === 'DEVICE_ERROR') return new ZkDeviceError(f.reason, Reply.ACK_ERROR, { host: label, userId: f.userId });
  if (f.code === 'NO_SLOT') return new ZkError('DEVICE', f.reason, { host: label, userId: f.userId });
  return new ZkError('BAD_INPUT', f.reason, { host: label, userId: f.userId });
}
