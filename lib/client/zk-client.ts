import { Transport, openTcp, openUdp } from './transport';
import { Session, Logger, SessionStats } from './session';
import { readPreparedBuffer, ReadProgress } from './buffered-read';
import { LiveSession } from './live';
import { Cmd, Reply, codeName } from '../protocol/constants';
import { DecodedPacket } from '../protocol/packet';
import { makeCommKey, DEFAULT_AUTH_TICKS } from '../protocol/commkey';
import { decodeFreeSizes, FreeSizes } from '../protocol/free-sizes';
import { ATTLOG_SELECTOR, USERS_SELECTOR } from '../protocol/buffered';
import { decodeAttendanceRecords, DeviceAttendance, LayoutChoice } from '../protocol/attendance';
import {
  decodeUserRecords,
  DeviceUser,
  UserRecordSize,
  UserWrite,
  UserWriteReport,
  UserDeleteReport,
} from '../protocol/users';
import type { FingerTemplate } from '../protocol/templates';
import { UserOps, TemplateWriteReport, UserPlan, failureError } from './user-writes';
import { ZkEvent } from '../protocol/events';
import { NameEncoding, readAsciiField } from '../protocol/text';
import {
  WallClock,
  decodeTime,
  encodeTime,
  formatWallClock,
  isValidWallClock,
  wallClockSeconds,
} from '../protocol/time';
import {
  ZkAuthError,
  ZkConnectionError,
  ZkDeviceError,
  ZkError,
  ZkProtocolError,
  ZkWriteNotKeptError,
} from '../errors';
import { instantToWallClock, hostTimeZone, isValidTimeZone } from '../record/zone';

export type TransportKind = 'tcp' | 'udp' | 'auto';

export interface ZkClientOptions {
  host: string;
  port?: number;
  transport?: TransportKind;
  /** Comm key (communication password); 0 = none. */
  commKey?: number;
  /** Per-command timeout. */
  timeoutMs?: number;
  connectTimeoutMs?: number;
  /** Idle timeout inside one buffered-read chunk. */
  chunkTimeoutMs?: number;
  chunkBytes?: number;
  chunkRetries?: number;
  ackGraceMs?: number;
  /** Liveness period of live(): a dead link is reported within this time. */
  heartbeatMs?: number;
  authTicks?: number;
  /** DISABLEDEVICE around downloads so counts and buffer agree (re-enabled in finally). */
  disableDuringRead?: boolean;
  strictChecksum?: boolean;
  ackEvents?: boolean;
  sdkBuild?: boolean;
  nameEncoding?: NameEncoding;
  /** The device's IANA zone, for clock drift. Default: the host's. */
  tz?: string;
  logger?: Logger;
  /** First reply id; for tests that cross the 65534 → 0 wrap. */
  replyIdStart?: number;
  /** User writes and deletes in flight at once over TCP (default 16; 1 = one at a time); UDP always sends one at a time. */
  writeWindow?: number;
}

export interface DeviceInfo {
  host: string;
  transport: 'tcp' | 'udp';
  serial: string | null;
  deviceName: string | null;
  platform: string | null;
  firmware: string | null;
  mac: string | null;
  vendor: string | null;
  counts: { users: number; records: number; fingers: number; faces: number | null };
  capacity: { users: number; records: number; fingers: number; faces: number | null };
  /** Device wall clock, `YYYY-MM-DDTHH:mm:ss`, or null when it sent an impossible time. */
  deviceTime: string | null;
  /** Device clock minus the host clock read in `tz`, in seconds; null when unknown. */
  clockDriftSec: number | null;
  tz: string;
}

export interface AttendanceResult {
  records: DeviceAttendance[];
  layout: LayoutChoice;
  /** Record count the device reported before the read. */
  deviceCount: number;
  /** Bytes of the buffer read. */
  bytes: number;
}

export interface AttendanceProgress extends ReadProgress {
  /** Records received so far (estimated from bytes until the layout is known). */
  records: number;
}

export interface ClockSyncResult {
  /** Device clock minus host clock (in `tz`) before any change, seconds; null when the device sent an impossible time. */
  driftSec: number | null;
  /** True when the clock was set (drift past the threshold, or an impossible time). */
  set: boolean;
  /** The device clock as read before any change, `YYYY-MM-DDTHH:mm:ss`; null when impossible. */
  deviceTime: string | null;
  /** The host's time in `tz`: what the device was set to, or compared with. */
  hostTime: string;
  tz: string;
  /** After a set: the drift read back (within a few seconds, or syncClock throws). */
  driftAfterSec?: number;
}

export interface SafeClearResult {
  cleared: boolean;
  /** Records downloaded (and, when cleared, removed from the device after being confirmed stored). */
  downloaded: number;
  /** The device's count at the check, device disabled; null when the check was not reached. */
  countAtCheck: number | null;
  /** Records that arrived between the download and the check (then nothing was cleared). */
  arrived: number;
  /** Why nothing was cleared, in plain words; null when cleared. */
  reason: string | null;
}

/** A set clock reads back within this many seconds of the host (second resolution plus a round trip). */
const CLOCK_READBACK_TOLERANCE_SEC = 3;
/** Longest door unlock accepted; a door held open longer belongs in the device's own settings. */
export const MAX_UNLOCK_SECONDS = 60;

/**
 * The error for a CONNECT answered with neither ACK_OK nor ACK_UNAUTH. Some firmware (reported for MB10-VL
 * and SenseFace, code 6001) answers so when it expects a comm key, hence the hint.
 */
function connectRefused(label: string, code: number, commKey: number): ZkAuthError {
  const name = codeName(code);
  const shown = name.startsWith('CMD_') ? `code ${code}` : `${name} (code ${code})`;
  const hint =
    commKey === 0
      ? "set the device's comm key (communication password) here if it has one"
      : "check that the comm key matches the device's communication password";
  return new ZkAuthError(
    `${label} answered the connect with ${shown}, neither ACK_OK nor ACK_UNAUTH — some firmware (e.g. MB10-VL, SenseFace) ` +
      `answers so when it expects a comm key: ${hint}; if that is right, another client may hold the device, try again later`,
    { host: label, replyCode: code, connectReply: code },
  );
}

const NONE = (): void => undefined;

/**
 * A client for one ZK device: one connection, one command at a time. Nothing it does prints, writes
 * files or throws from a socket handler; every failure is a typed ZkError naming host:port.
 */
export class ZkClient {
  readonly host: string;
  readonly port: number;
  readonly label: string;
  private readonly o: Required<Omit<ZkClientOptions, 'tz' | 'logger' | 'port'>> & { tz: string; logger: Logger };
  private session: Session | null = null;
  private transportKind: 'tcp' | 'udp' | null = null;
  private userCache: Map<number, string> | null = null;
  /** userId → uid from the same read, so live events with a string user id get their uid too. */
  private uidCache: Map<string, number> | null = null;
  private live_: LiveSession | null = null;

  constructor(opts: ZkClientOptions) {
    if (!opts || typeof opts.host !== 'string' || opts.host.trim() === '') {
      throw new ZkError('BAD_INPUT', 'ZkClient needs a host (an IP address or name of the device)');
    }
    const port = opts.port ?? 4370;
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      throw new ZkError('BAD_INPUT', `port ${String(opts.port)} for ${opts.host} is not a TCP/UDP port (1–65535)`);
    }
    const commKey = opts.commKey ?? 0;
    if (!Number.isInteger(commKey) || commKey < 0 || commKey > 0xffffffff) {
      throw new ZkError('BAD_INPUT', `comm key for ${opts.host}:${port} must be a whole number from 0 to 4294967295`);
    }
    this.host = opts.host;
    this.port = port;
    this.label = `${opts.host}:${port}`;
    this.o = {
      host: opts.host,
      transport: opts.transport ?? 'tcp',
      commKey,
      timeoutMs: opts.timeoutMs ?? 5000,
      connectTimeoutMs: opts.connectTimeoutMs ?? opts.timeoutMs ?? 5000,
      chunkTimeoutMs: opts.chunkTimeoutMs ?? 10000,
      chunkBytes: opts.chunkBytes ?? 0,
      chunkRetries: opts.chunkRetries ?? 2,
      ackGraceMs: opts.ackGraceMs ?? 500,
      heartbeatMs: opts.heartbeatMs ?? 30000,
      authTicks: opts.authTicks ?? DEFAULT_AUTH_TICKS,
      disableDuringRead: opts.disableDuringRead ?? true,
      strictChecksum: opts.strictChecksum ?? false,
      ackEvents: opts.ackEvents ?? true,
      sdkBuild: opts.sdkBuild ?? false,
      nameEncoding: opts.nameEncoding ?? 'utf8',
      tz: opts.tz ?? hostTimeZone(),
      logger: opts.logger ?? NONE,
      replyIdStart: opts.replyIdStart ?? 0,
      writeWindow: opts.writeWindow ?? 16,
    };
  }

  get connected(): boolean {
    return this.session !== null && !this.session.isClosed;
  }

  get transport(): 'tcp' | 'udp' | null {
    return this.transportKind;
  }

  get stats(): SessionStats | null {
    return this.session ? { ...this.session.stats } : null;
  }

  /** Opens the connection, CONNECT, and AUTH when the device asks for it. Always settles. */
  async connect(): Promise<void> {
    if (this.connected) return;
    const transport = await this.openTransport();
    const session = new Session(transport, {
      label: this.label,
      logger: this.o.logger,
      strictChecksum: this.o.strictChecksum,
      ackEvents: this.o.ackEvents,
      replyIdStart: this.o.replyIdStart,
    });
    this.session = session;
    try {
      const reply = await session.request(Cmd.CONNECT, undefined, this.o.timeoutMs);
      // The session id comes from the header of the CONNECT reply, ACK_OK or ACK_UNAUTH alike (§3.2).
      session.sessionId = reply.session;
      if (reply.command === Reply.ACK_UNAUTH) {
        await this.authenticate(session);
      } else if (reply.command !== Reply.ACK_OK) {
        throw connectRefused(this.label, reply.command, this.o.commKey);
      }
      if (this.o.sdkBuild) await this.command(Cmd.OPTIONS_WRQ, Buffer.from('SDKBuild=1\0', 'latin1'));
    } catch (err) {
      session.close();
      this.session = null;
      throw err;
    }
  }

  /** EXIT, then destroy the socket. Idempotent; never throws. */
  async close(): Promise<void> {
    const s = this.session;
    this.session = null;
    if (this.live_) {
      const live = this.live_;
      this.live_ = null;
      await live.stop().catch(() => undefined);
    }
    if (!s || s.isClosed) return;
    // EXIT only on an idle session: queued behind a hung command it would wait out that command's timeout.
    if (s.idle) await s.request(Cmd.EXIT, undefined, Math.min(this.o.timeoutMs, 2000)).catch(() => undefined);
    s.close();
  }

  async freeSizes(): Promise<FreeSizes> {
    const p = await this.command(Cmd.GET_FREE_SIZES);
    return decodeFreeSizes(p.payload);
  }

  /** One OPTIONS_RRQ value, or null when the device does not know the key. */
  async option(key: string): Promise<string | null> {
    const s = this.requireSession();
    const reply = await s.request(Cmd.OPTIONS_RRQ, Buffer.from(key + '\0', 'latin1'), this.o.timeoutMs);
    if (reply.command !== Reply.ACK_OK) return null;
    const text = readAsciiField(reply.payload, 0, reply.payload.length);
    const eq = text.indexOf('=');
    return eq < 0 ? text : text.slice(eq + 1);
  }

  async firmware(): Promise<string | null> {
    const reply = await this.requireSession().request(Cmd.GET_VERSION, undefined, this.o.timeoutMs);
    return reply.command === Reply.ACK_OK ? readAsciiField(reply.payload, 0, reply.payload.length) : null;
  }

  async getTime(): Promise<WallClock> {
    return this.readTime(this.o.timeoutMs);
  }

  /** Sets the device clock. Explicit only: nothing automatic calls it. */
  async setTime(w: WallClock): Promise<void> {
    if (!isValidWallClock(w))
      throw new ZkError('BAD_INPUT', `cannot set ${this.label} to an invalid time ${JSON.stringify(w)}`);
    const b = Buffer.alloc(4);
    b.writeUInt32LE(encodeTime(w), 0);
    await this.command(Cmd.SET_TIME, b);
  }

  /** Empties the device's attendance log. Destructive and explicit: nothing automatic calls it. */
  async clearAttendance(): Promise<void> {
    await this.command(Cmd.CLEAR_ATTLOG);
  }

  // ---- device commands: clock, safe clear, door, restart ----

  /**
   * Sets the device clock from the host's, in the device's zone, only when it is more than `thresholdSec`
   * off (or reads an impossible time). The new time is read back: a device that acknowledged but kept its
   * old time is an error, not a success.
   */
  async syncClock(opts: { thresholdSec: number; tz?: string }): Promise<ClockSyncResult> {
    const threshold = opts?.thresholdSec;
    if (typeof threshold !== 'number' || !Number.isFinite(threshold) || threshold < 0 || threshold > 86400) {
      throw new ZkError(
        'BAD_INPUT',
        `clock sync of ${this.label}: the drift threshold must be a number of seconds from 0 to 86400 (got ${JSON.stringify(threshold)})`,
      );
    }
    const tz = opts.tz ?? this.o.tz;
    if (!isValidTimeZone(tz)) {
      throw new ZkError(
        'BAD_INPUT',
        `clock sync of ${this.label}: time zone ${JSON.stringify(tz)} is not an IANA zone name (e.g. Europe/Berlin)`,
      );
    }
    const before = await this.getTime();
    const hostNow = instantToWallClock(Date.now(), tz);
    const valid = isValidWallClock(before);
    const driftSec = valid ? wallClockSeconds(before) - wallClockSeconds(hostNow) : null;
    const deviceTime = valid ? formatWallClock(before) : null;
    if (driftSec !== null && Math.abs(driftSec) <= threshold) {
      return { driftSec, set: false, deviceTime, hostTime: formatWallClock(hostNow), tz };
    }
    // Taken again just before sending: the GET_TIME round trip must not make the new time late.
    const target = instantToWallClock(Date.now(), tz);
    await this.setTime(target);
    const after = await this.getTime();
    const hostAfter = instantToWallClock(Date.now(), tz);
    const left = isValidWallClock(after) ? wallClockSeconds(after) - wallClockSeconds(hostAfter) : null;
    if (left === null || Math.abs(left) > CLOCK_READBACK_TOLERANCE_SEC) {
      throw new ZkError(
        'DEVICE',
        `${this.label} acknowledged the new time ${formatWallClock(target)} but its clock reads ` +
          `${isValidWallClock(after) ? formatWallClock(after) : 'an impossible time'} — the firmware did not keep it; restart the device and try again`,
        { host: this.label, command: 'SET_TIME' },
      );
    }
    return { driftSec, set: true, deviceTime, hostTime: formatWallClock(target), tz, driftAfterSec: left };
  }

  /**
   * Clears the attendance log without losing a punch: download, let the caller store and confirm the
   * records, then disable the device, check its record count still equals what was downloaded, clear, and
   * enable. A punch that arrived after the download changes the count, so nothing is cleared (run it again).
   * A disabled device takes no punches, so none can land between the check and the clear. Explicit only.
   */
  async safeClear(opts: {
    confirmStored: (records: DeviceAttendance[]) => Promise<boolean>;
  }): Promise<SafeClearResult> {
    if (!opts || typeof opts.confirmStored !== 'function') {
      throw new ZkError(
        'BAD_INPUT',
        `safe clear of ${this.label} needs confirmStored: a function that stores the records and says so`,
      );
    }
    // Always disabled for the download, whatever disableDuringRead says: the count must match the buffer.
    await this.command(Cmd.DISABLEDEVICE);
    let att: AttendanceResult & { raw: Buffer };
    try {
      att = await this.readAttendance();
    } finally {
      if (this.connected)
        await this.command(Cmd.ENABLEDEVICE).catch((err: Error) =>
          this.o.logger('warn', `could not re-enable ${this.label}: ${err.message}`),
        );
    }
    const downloaded = att.records.length;
    const notCleared = (reason: string, countAtCheck: number | null): SafeClearResult => ({
      cleared: false,
      downloaded,
      countAtCheck,
      arrived: countAtCheck === null ? 0 : Math.max(0, countAtCheck - downloaded),
      reason,
    });
    if (att.deviceCount !== downloaded) {
      return notCleared(
        `${this.label} reported ${att.deviceCount} records but sent ${downloaded}; nothing was cleared (its count cannot prove that no punch arrived in between)`,
        null,
      );
    }
    const stored = await opts.confirmStored(att.records);
    if (stored !== true) {
      return notCleared(`the ${downloaded} downloaded records were not confirmed as stored; nothing was cleared`, null);
    }
    // Disabled from the count check to the clear: the check then speaks for the log the clear removes.
    await this.command(Cmd.DISABLEDEVICE);
    try {
      const sizes = await this.freeSizes();
      const count = sizes.records;
      if (count !== downloaded) {
        const diff = count - downloaded;
        return notCleared(
          diff > 0
            ? `${diff} record(s) arrived on ${this.label} after the download; nothing was cleared — run the safe clear again`
            : `${this.label} now counts ${count} records, not the ${downloaded} downloaded; nothing was cleared — run the safe clear again`,
          count,
        );
      }
      if (sizes.recordsCapacity > 0 && count >= sizes.recordsCapacity) {
        // A full log overwrites its oldest record on a punch and keeps its count: only the log itself can
        // prove nothing arrived. Read it again (the device is disabled, so it holds still) and compare.
        const again = await this.readAttendance();
        if (!again.raw.equals(att.raw)) {
          return notCleared(
            `the log of ${this.label} is full (${count} of ${sizes.recordsCapacity}) and changed after the download (a punch overwrote the oldest record); nothing was cleared — run the safe clear again`,
            count,
          );
        }
      }
      await this.command(Cmd.CLEAR_ATTLOG);
      const left = (await this.freeSizes()).records;
      if (left !== 0) {
        throw new ZkError(
          'DEVICE',
          `${this.label} acknowledged the clear but still counts ${left} records — the firmware did not clear its log; restart the device and check`,
          { host: this.label, command: 'CLEAR_ATTLOG' },
        );
      }
      return { cleared: true, downloaded, countAtCheck: count, arrived: 0, reason: null };
    } finally {
      if (this.connected) {
        await this.command(Cmd.ENABLEDEVICE).catch((err: Error) =>
          this.o.logger('warn', `could not re-enable ${this.label}: ${err.message}`),
        );
      }
    }
  }

  /** Opens the door (relay) for `seconds`, 1–60. */
  async unlock(seconds: number): Promise<void> {
    if (!Number.isInteger(seconds) || seconds < 1 || seconds > MAX_UNLOCK_SECONDS) {
      throw new ZkError(
        'BAD_INPUT',
        `door unlock on ${this.label}: the time must be a whole number of seconds from 1 to ${MAX_UNLOCK_SECONDS} (got ${JSON.stringify(seconds)})`,
      );
    }
    const b = Buffer.alloc(4);
    // The device counts the unlock time in tenths of a second.
    b.writeUInt32LE(seconds * 10, 0);
    await this.command(Cmd.UNLOCK, b);
  }

  /**
   * Restarts the device. It acknowledges and then drops every connection, so this client is closed
   * afterwards (no EXIT); connect() again once the device is back.
   */
  async restart(): Promise<void> {
    await this.command(Cmd.RESTART);
    const s = this.session;
    this.session = null;
    s?.close();
  }

  async info(): Promise<DeviceInfo> {
    const sizes = await this.freeSizes();
    const serial = await this.option('~SerialNumber');
    const deviceName = await this.option('~DeviceName');
    const platform = await this.option('~Platform');
    const mac = await this.option('MAC');
    const vendor = await this.option('~OEMVendor');
    const firmware = await this.firmware();
    const time = await this.getTime();
    const valid = isValidWallClock(time);
    const hostNow = instantToWallClock(Date.now(), this.o.tz);
    return {
      host: this.label,
      transport: this.transportKind ?? 'tcp',
      serial,
      deviceName,
      platform,
      firmware,
      mac,
      vendor,
      counts: { users: sizes.users, records: sizes.records, fingers: sizes.fingers, faces: sizes.faces },
      capacity: {
        users: sizes.usersCapacity,
        records: sizes.recordsCapacity,
        fingers: sizes.fingersCapacity,
        faces: sizes.facesCapacity,
      },
      deviceTime: valid ? formatWallClock(time) : null,
      clockDriftSec: valid ? wallClockSeconds(time) - wallClockSeconds(hostNow) : null,
      tz: this.o.tz,
    };
  }

  async users(): Promise<DeviceUser[]> {
    const { users } = await this.readUsers();
    return users;
  }

  // ---- user and template writes (lib/client/user-writes.ts): each call is one disabled-device window ----

  /** Creates or updates users by PIN; unchanged users are not written; every write is read back. */
  upsertUsers(
    users: UserWrite[],
    opts: { onProgress?: (done: number, total: number) => void } = {},
  ): Promise<UserWriteReport> {
    return this.writeWindow((ops) => ops.upsertUsers(users, opts));
  }

  /** What upsertUsers would write (added, updated with the fields, unchanged, refused); writes nothing. */
  planUsers(users: UserWrite[]): Promise<UserPlan> {
    return this.readWindow((ops) => ops.planUsers(users));
  }

  /** Deletes users by PIN (with their fingerprints); the read-back proves they are gone. */
  deleteUsers(userIds: string[]): Promise<UserDeleteReport> {
    return this.writeWindow((ops) => ops.deleteUsers(userIds));
  }

  /** One user; throws ZkWriteNotKeptError, ZkDeviceError or ZkError BAD_INPUT / DEVICE (no free slot). */
  async setUser(u: UserWrite): Promise<DeviceUser> {
    const r = await this.upsertUsers([u]);
    if (r.failed.length > 0) throw failureError(this.label, r.failed[0]);
    if (r.written.length > 0) return r.written[0];
    const now = (await this.users()).find((x) => x.userId === u.userId);
    if (!now)
      throw new ZkWriteNotKeptError(`${this.label} does not hold user "${u.userId}" after the write`, {
        host: this.label,
        userId: u.userId,
      });
    return now;
  }

  /** False when the device has no such user. */
  async deleteUser(userId: string): Promise<boolean> {
    const r = await this.deleteUsers([userId]);
    if (r.failed.length > 0) throw failureError(this.label, r.failed[0]);
    return r.deleted.length > 0;
  }

  /** Every fingerprint template (the buffered read of the template table), with each owner's PIN. */
  templates(): Promise<FingerTemplate[]> {
    return this.readWindow((ops) => ops.readTemplates());
  }

  userTemplates(userId: string): Promise<FingerTemplate[]> {
    return this.readWindow(async (ops) => (await ops.readTemplates()).filter((t) => t.userId === userId));
  }

  /**
   * Writes templates of users the device holds (by PIN), in one window, each read back byte-equal.
   * Fingers not listed are left as they are. A per-template report; nothing thrown per template.
   */
  writeTemplates(
    templates: FingerTemplate[],
    opts: { onProgress?: (done: number, total: number) => void } = {},
  ): Promise<TemplateWriteReport> {
    return this.writeWindow((ops) => ops.writeTemplates(templates, opts));
  }

  /** A user's templates; the user must exist. Throws the first failure as a typed error. */
  async setUserTemplates(userId: string, templates: FingerTemplate[]): Promise<void> {
    const mismatch = (Array.isArray(templates) ? templates : []).find((t) => !t || t.userId !== userId);
    if (mismatch !== undefined || !Array.isArray(templates)) {
      throw new ZkError(
        'BAD_INPUT',
        `${this.label}: every template given for user "${userId}" must carry userId "${userId}"`,
        { host: this.label },
      );
    }
    const r = await this.writeTemplates(templates);
    const f = r.failed[0];
    if (!f) return;
    if (f.code === 'NOT_KEPT') throw new ZkWriteNotKeptError(f.reason, { host: this.label, userId, finger: f.finger });
    if (f.code === 'DEVICE_ERROR')
      throw new ZkDeviceError(f.reason, Reply.ACK_ERROR, { host: this.label, userId, finger: f.finger });
    throw new ZkError('BAD_INPUT', f.reason, { host: this.label, userId, finger: f.finger });
  }

  /** Deletes one finger of a user; false when it is not there. */
  deleteTemplate(userId: string, finger: number): Promise<boolean> {
    return this.writeWindow((ops) => ops.deleteTemplate(userId, finger));
  }

  private userOps(): UserOps {
    return new UserOps({
      label: this.label,
      timeoutMs: this.o.timeoutMs,
      nameEncoding: this.o.nameEncoding,
      logger: this.o.logger,
      session: () => this.requireSession(),
      transport: () => this.transportKind ?? 'tcp',
      // A lost UDP datagram would fail the whole window: one at a time there.
      writeWindow: () => (this.transportKind === 'udp' ? 1 : Math.max(1, Math.floor(this.o.writeWindow))),
      readOptions: () => this.readOptions(),
      freeSizes: () => this.freeSizes(),
      command: (cmd, payload) => this.command(cmd, payload),
      usersRead: (users) => {
        this.userCache = new Map(users.map((u) => [u.uid, u.userId]));
      },
    });
  }

  /** Writes always run with the device disabled (no one enrolls or punches in between), re-enabled in finally. */
  private async writeWindow<T>(fn: (ops: UserOps) => Promise<T>): Promise<T> {
    const ops = this.userOps();
    await this.command(Cmd.DISABLEDEVICE);
    try {
      return await fn(ops);
    } finally {
      if (this.connected) {
        await this.command(Cmd.ENABLEDEVICE).catch((err: Error) =>
          this.o.logger('warn', `could not re-enable ${this.label}: ${err.message}`),
        );
      }
    }
  }

  private readWindow<T>(fn: (ops: UserOps) => Promise<T>): Promise<T> {
    const ops = this.userOps();
    return this.withDeviceDisabled(() => fn(ops));
  }

  /**
   * Downloads the whole attendance log. Returns complete, validated data or throws; the record count is
   * compared with the device's own count (a mismatch is logged: some firmware miscounts, §5).
   */
  async attendance(opts: { onProgress?: (p: AttendanceProgress) => void } = {}): Promise<AttendanceResult> {
    const { raw: _raw, ...result } = await this.withDeviceDisabled(() => this.readAttendance(opts.onProgress));
    return result;
  }

  /** The attendance read itself (no disable/enable); `raw` is the prepared buffer as received. */
  private async readAttendance(
    onProgress?: (p: AttendanceProgress) => void,
  ): Promise<AttendanceResult & { raw: Buffer }> {
    const sizes = await this.freeSizes();
    const n = sizes.records;
    const buffer = await readPreparedBuffer(this.requireSession(), ATTLOG_SELECTOR, {
      ...this.readOptions(),
      onProgress: onProgress
        ? (p) =>
            onProgress({
              ...p,
              records: p.totalBytes > 4 ? Math.floor((n * Math.max(0, p.bytes - 4)) / (p.totalBytes - 4)) : 0,
            })
        : undefined,
    });
    const total = buffer.readUInt32LE(0);
    const { layout, records } = decodeAttendanceRecords(buffer.subarray(4, 4 + total), n);
    if (n > 0 && layout.count !== n) {
      this.o.logger('warn', `${this.label} reported ${n} records but sent ${layout.count}`, {
        deviceCount: n,
        received: layout.count,
      });
    }
    if (layout.size === 8 && records.length > 0) await this.resolveUids(records);
    // 16-byte records carry the PIN but no uid: fill it from the same user table.
    if (layout.size === 16 && records.length > 0) await this.fillUids(records);
    return { records, layout, deviceCount: n, bytes: buffer.length, raw: buffer };
  }

  /**
   * Registers for realtime events and returns the live session (events, heartbeat, dead-link report).
   * The user table is read first when the device's event bodies may carry only uids.
   */
  async live(opts: { eventMask?: number; resolveUsers?: boolean } = {}): Promise<LiveSession> {
    const s = this.requireSession();
    if (this.live_?.active) return this.live_;
    if (opts.resolveUsers && !this.userCache) await this.readUsers().catch(() => undefined);
    const mask = Buffer.alloc(4);
    mask.writeUInt32LE((opts.eventMask ?? 1) >>> 0, 0);
    const live = new LiveSession({
      session: s,
      label: this.label,
      heartbeatMs: this.o.heartbeatMs,
      heartbeat: (timeoutMs) => this.readTime(timeoutMs),
      unregister: () => s.request(Cmd.REG_EVENT, Buffer.alloc(4), this.o.timeoutMs),
      resolve: (e) => this.resolveEvent(e),
    });
    try {
      await this.command(Cmd.REG_EVENT, mask);
    } catch (err) {
      await live.stop();
      throw err;
    }
    this.live_ = live;
    live.once('close', () => {
      if (this.live_ === live) this.live_ = null;
    });
    return live;
  }

  // ---- internals ----

  private async openTransport(): Promise<Transport> {
    const open = { host: this.host, port: this.port, connectTimeoutMs: this.o.connectTimeoutMs };
    const kind = this.o.transport;
    if (kind === 'udp') {
      this.transportKind = 'udp';
      return openUdp(open);
    }
    try {
      const t = await openTcp(open);
      this.transportKind = 'tcp';
      return t;
    } catch (err) {
      if (kind !== 'auto') throw err;
      this.o.logger('info', `TCP to ${this.label} failed (${(err as Error).message}); trying UDP`);
      this.transportKind = 'udp';
      return openUdp(open);
    }
  }

  private async authenticate(session: Session): Promise<void> {
    const payload = makeCommKey(this.o.commKey, session.sessionId, this.o.authTicks);
    const reply = await session.request(Cmd.AUTH, payload, this.o.timeoutMs);
    if (reply.command !== Reply.ACK_OK) {
      throw new ZkAuthError(
        this.o.commKey === 0
          ? `${this.label} requires a comm key — set the device's communication password (comm key)`
          : `${this.label} rejected the comm key — check that it matches the device's communication password`,
        { host: this.label, replyCode: reply.command },
      );
    }
  }

  private requireSession(): Session {
    if (!this.session || this.session.isClosed) {
      throw new ZkConnectionError(`not connected to ${this.label} — call connect() first`, { host: this.label });
    }
    return this.session;
  }

  /** A command whose only good answer is ACK_OK; anything else is a ZkDeviceError. */
  private async command(cmd: number, payload?: Buffer, timeoutMs = this.o.timeoutMs): Promise<DecodedPacket> {
    const reply = await this.requireSession().request(cmd, payload, timeoutMs);
    if (reply.command === Reply.ACK_UNAUTH) {
      throw new ZkAuthError(
        `${this.label} answered ${codeName(cmd)} with ACK_UNAUTH — the session is not authenticated; check the comm key`,
        { host: this.label },
      );
    }
    if (reply.command !== Reply.ACK_OK) {
      throw new ZkDeviceError(
        `${this.label} answered ${codeName(cmd)} with ${codeName(reply.command)}`,
        reply.command,
        { host: this.label, command: codeName(cmd) },
      );
    }
    return reply;
  }

  private async readTime(timeoutMs: number): Promise<WallClock> {
    const p = await this.command(Cmd.GET_TIME, undefined, timeoutMs);
    if (p.payload.length < 4)
      throw new ZkProtocolError(`${this.label} sent a ${p.payload.length}-byte time; 4 expected`, { host: this.label });
    return decodeTime(p.payload.readUInt32LE(0));
  }

  private readOptions() {
    return {
      label: this.label,
      logger: this.o.logger,
      timeoutMs: this.o.timeoutMs,
      chunkTimeoutMs: this.o.chunkTimeoutMs,
      chunkBytes: this.o.chunkBytes || (this.transportKind === 'udp' ? 16384 : 65472),
      chunkRetries: this.o.chunkRetries,
      ackGraceMs: this.o.ackGraceMs,
      transport: this.transportKind ?? 'tcp',
    };
  }

  private async withDeviceDisabled<T>(fn: () => Promise<T>): Promise<T> {
    if (!this.o.disableDuringRead) return fn();
    await this.command(Cmd.DISABLEDEVICE);
    try {
      return await fn();
    } finally {
      // Always re-enable: a device left disabled shows "working" and takes no punches.
      if (this.connected) {
        await this.command(Cmd.ENABLEDEVICE).catch((err: Error) =>
          this.o.logger('warn', `could not re-enable ${this.label}: ${err.message}`),
        );
      }
    }
  }

  private readUsers(): Promise<{ size: UserRecordSize; users: DeviceUser[] }> {
    return this.withDeviceDisabled(() => this.fetchUsers());
  }

  /** The user-table read itself (no disable/enable), also used inside an attendance read. Fills the uid cache. */
  private async fetchUsers(): Promise<{ size: UserRecordSize; users: DeviceUser[] }> {
    const sizes = await this.freeSizes();
    const buffer = await readPreparedBuffer(this.requireSession(), USERS_SELECTOR, this.readOptions());
    const out = decodeUserRecords(buffer.subarray(4, 4 + buffer.readUInt32LE(0)), sizes.users, this.o.nameEncoding);
    this.userCache = new Map(out.users.map((u) => [u.uid, u.userId]));
    this.uidCache = new Map(out.users.map((u) => [u.userId, u.uid]));
    return out;
  }

  private async resolveUids(records: DeviceAttendance[]): Promise<void> {
    if (!this.userCache) {
      await this.fetchUsers().catch((err: Error) => {
        // Unresolved uids stay as decimal strings; the attendance read itself is still complete.
        this.o.logger('warn', `could not read users from ${this.label} to resolve uids: ${err.message}`);
      });
    }
    const cache = this.userCache;
    if (!cache) return;
    for (const r of records) {
      const id = r.uid !== null ? cache.get(r.uid) : undefined;
      if (id !== undefined) r.userId = id;
    }
  }

  /** 16-byte records: uid from the user table by PIN; PINs the table does not hold keep uid null. */
  private async fillUids(records: DeviceAttendance[]): Promise<void> {
    if (!this.userCache) {
      await this.fetchUsers().catch((err: Error) => {
        this.o.logger('warn', `could not read users from ${this.label} to fill uids: ${err.message}`);
      });
    }
    const byPin = this.uidCache;
    if (!byPin) return;
    for (const r of records) {
      if (r.uid !== null) continue;
      const uid = byPin.get(r.userId);
      if (uid !== undefined) r.uid = uid;
    }
  }

  /**
   * From the user table: the user id of bodies that carry only a u16, and the uid of string bodies (TFT), whose
   * polled copies (40/49-byte records) carry one, so a row's uid does not depend on which copy came first.
   */
  private resolveEvent(e: ZkEvent): ZkEvent {
    if (e.kind !== 'attendance' || !this.userCache || !this.uidCache) return e;
    if (!e.userResolved && e.userNumber !== null) {
      const id = this.userCache.get(e.userNumber);
      return id === undefined ? e : { ...e, userId: id, userResolved: true };
    }
    if (e.userNumber !== null) return e;
    const uid = this.uidCache.get(e.userId);
    return uid === undefined ? e : { ...e, uid };
  }
}
