/**
 * The device's answer to one request (docs/zk-protocol.md §3, §4.2, §7). Transport-agnostic and free of I/O:
 * it reads and changes device/session state and returns the packets to send; the connection applies
 * per-command faults, ordering and timing.
 */
import {
  Cmd,
  Reply,
  DecodedPacket,
  encodePacket,
  verifyCommKey,
  decodePrepareBuffer,
  decodeReadBuffer,
  encodeBufferStat,
  encodePrepareData,
  encodeTime,
  decodeTime,
  decodeUserRecord,
  Selector,
  Fct,
  UserRecordSize,
  decodeTemplateWrite,
  decodeDeleteFinger,
  uploadChecksum,
} from '../protocol';
import type { DeviceState } from './state';
import type { DeviceClock } from './clock';
import type { SimFaults } from './types';

/** Per-connection protocol state. */
export interface SessionState {
  /** 0 until CONNECT; then fixed for the connection. */
  sessionId: number;
  connected: boolean;
  authed: boolean;
  eventMask: number;
  /** Snapshot taken at 1503, dropped by FREE_DATA. */
  prepared: Buffer | null;
  disabled: boolean;
  /** A client upload: PREPARE_DATA announced `expected` bytes, DATA packets fill `data`. */
  upload?: { expected: number; parts: Buffer[]; received: number } | null;
  /** stallUploadAfterBytes was reached: this connection gets no more answers. */
  uploadStalled?: boolean;
}

export function newSessionState(): SessionState {
  return {
    sessionId: 0,
    connected: false,
    authed: false,
    eventMask: 0,
    prepared: null,
    disabled: false,
    upload: null,
    uploadStalled: false,
  };
}

export interface DeviceContext {
  readonly state: DeviceState;
  readonly clock: DeviceClock;
  readonly commKey: number;
  readonly firmware: string;
  faults(): SimFaults;
  /** OPTIONS_RRQ value, or undefined for an unknown key. */
  option(key: string): string | undefined;
  setOption(key: string, value: string): void;
  nextSessionId(): number;
  /** UNLOCK: the door relay opens for this many seconds. */
  unlockDoor(seconds: number): void;
}

export interface CommandResult {
  packets: Buffer[];
  /** 'download' = a 1504 response, 'prepare' = a 1503 response. */
  kind: 'none' | 'reply' | 'prepare' | 'download';
  closeAfter?: boolean;
  restartAfter?: boolean;
  /** A client ACK_OK (event acknowledgement): no reply. */
  eventAck?: boolean;
  /** REG_EVENT was accepted (eventTiming 'afterRegAck' hooks on this). */
  registered?: boolean;
}

/** Commands that only need ACK_OK (no state of ours changes). */
const PLAIN_ACK = new Set<number>([
  Cmd.REFRESHDATA,
  Cmd.STARTVERIFY,
  Cmd.CANCELCAPTURE,
  Cmd.TESTVOICE,
  66 /* WRITE_LCD */,
  67 /* CLEAR_LCD */,
  75 /* DOORSTATE_RRQ */,
]);

/** Allowed without authentication (§3.1). */
const BEFORE_AUTH = new Set<number>([Cmd.CONNECT, Cmd.AUTH, Cmd.EXIT]);

function reply(req: DecodedPacket, command: number, payload: Buffer = Buffer.alloc(0), session = req.session): Buffer {
  return encodePacket({ command, session, replyId: req.replyId, payload });
}

function one(req: DecodedPacket, command: number, payload?: Buffer): CommandResult {
  return { packets: [reply(req, command, payload)], kind: 'reply' };
}

/** ASCII text up to the first NUL (keys arrive with or without one, §4.4). */
function cString(p: Buffer): string {
  const nul = p.indexOf(0);
  return p.subarray(0, nul < 0 ? p.length : nul).toString('latin1');
}

export function handleCommand(
  dev: DeviceContext,
  s: SessionState,
  req: DecodedPacket,
  transport: 'tcp' | 'udp',
): CommandResult {
  const cmd = req.command;
  // An ACK_OK from the client acknowledges an event: never answered (§4.2, §9.4).
  if (cmd === Reply.ACK_OK) return { packets: [], kind: 'none', eventAck: true };

  if (!BEFORE_AUTH.has(cmd) && !(s.connected && s.authed)) return one(req, Reply.ACK_UNAUTH);
  if (s.uploadStalled) return { packets: [], kind: 'none' };
  const managed = deviceCommand(dev, s, req);
  if (managed) return managed;
  const userCmd = userCommand(dev, s, req);
  if (userCmd) return userCmd;

  switch (cmd) {
    case Cmd.CONNECT: {
      // A second CONNECT on the same connection keeps the session id (§3.1).
      if (!s.connected) {
        s.sessionId = dev.nextSessionId();
        s.connected = true;
        s.authed = dev.commKey === 0 && !dev.faults().authWithZeroKey;
      }
      return {
        packets: [reply(req, s.authed ? Reply.ACK_OK : Reply.ACK_UNAUTH, undefined, s.sessionId)],
        kind: 'reply',
      };
    }
    case Cmd.AUTH: {
      if (!s.connected) return one(req, Reply.ACK_UNAUTH);
      s.authed = verifyCommKey(req.payload, dev.commKey, s.sessionId);
      return one(req, s.authed ? Reply.ACK_OK : Reply.ACK_UNAUTH);
    }
    case Cmd.EXIT:
      return { ...one(req, Reply.ACK_OK), closeAfter: true };
    case Cmd.DISABLEDEVICE:
      s.disabled = true;
      return one(req, Reply.ACK_OK);
    case Cmd.ENABLEDEVICE:
      s.disabled = false;
      return one(req, Reply.ACK_OK);
    case Cmd.RESTART:
    case Cmd.POWEROFF:
      return { ...one(req, Reply.ACK_OK), restartAfter: true };
    case Cmd.GET_FREE_SIZES:
      return one(
        req,
        Reply.ACK_OK,
        dev.state.freeSizes(dev.faults().countsMode ?? 'exact', dev.faults().wrapAtRecords),
      );
    case Cmd.GET_VERSION:
      return one(req, Reply.ACK_OK, Buffer.from(`${dev.firmware}\0`, 'latin1'));
    case Cmd.OPTIONS_RRQ: {
      const key = cString(req.payload);
      const value = dev.option(key);
      return value === undefined
        ? one(req, Reply.ACK_ERROR)
        : one(req, Reply.ACK_OK, Buffer.from(`${key}=${value}\0`, 'latin1'));
    }
    case Cmd.OPTIONS_WRQ: {
      const text = cString(req.payload);
      const eq = text.indexOf('=');
      if (eq <= 0) return one(req, Reply.ACK_ERROR);
      dev.setOption(text.slice(0, eq), text.slice(eq + 1));
      return one(req, Reply.ACK_OK);
    }
    case Cmd.GET_PINWIDTH:
      return one(req, Reply.ACK_OK, Buffer.from([Number(dev.option('~PIN2Width') ?? 9) & 0xff || 9]));
    case Cmd.GET_TIME: {
      const t = Buffer.alloc(4);
      t.writeUInt32LE(encodeTime(dev.clock.now()) >>> 0, 0);
      return one(req, Reply.ACK_OK, t);
    }
    case Cmd.CLEAR_DATA: {
      const fct = req.payload.length >= 1 ? req.payload[0] : 0;
      if (fct === 0 || fct === Fct.ATTLOG) dev.state.clearAttendance();
      if (fct === 0 || fct === Fct.USER) dev.state.clearUsers();
      if (fct === Fct.FINGERTMP) dev.state.clearTemplates();
      return one(req, Reply.ACK_OK);
    }
    case Cmd.REG_EVENT:
      s.eventMask =
        req.payload.length >= 4
          ? req.payload.readUInt32LE(0)
          : req.payload.length >= 2
            ? req.payload.readUInt16LE(0)
            : 0;
      return { ...one(req, Reply.ACK_OK), registered: s.eventMask !== 0 };
    case Cmd.FREE_DATA:
      s.prepared = null;
      s.upload = null;
      return one(req, Reply.ACK_OK);
    case Cmd.PREPARE_BUFFER:
      return prepareBuffer(dev, s, req, transport);
    case Cmd.READ_BUFFER:
      return readBuffer(dev, s, req, transport);
  }
  if (PLAIN_ACK.has(cmd)) return one(req, Reply.ACK_OK);
  // Anything else, including 2001 and 0xFFFF from pyzk's error clearing: never stay silent (§4.2).
  return one(req, Reply.ACK_UNKNOWN);
}

// ---- users and templates ----------------------------------------------------------------------------

/** True when dropUserWrites covers this PIN: the write is acknowledged and forgotten. */
function dropsWrite(dev: DeviceContext, userId: string | undefined): boolean {
  const d = dev.faults().dropUserWrites;
  return d === true || (Array.isArray(d) && userId !== undefined && d.includes(userId));
}

function userIdOf(dev: DeviceContext, uid: number): string | undefined {
  return dev.state.users.find((u) => u.uid === uid)?.userId;
}

/** User and template writes and the client upload; null for any other command. */
function userCommand(dev: DeviceContext, s: SessionState, req: DecodedPacket): CommandResult | null {
  const p = req.payload;
  switch (req.command) {
    case Cmd.USER_WRQ:
      return writeUser(dev, req);
    case Cmd.DELETE_USER: {
      if (p.length < 2) return one(req, Reply.ACK_ERROR);
      const uid = p.readUInt16LE(0);
      if (!dropsWrite(dev, userIdOf(dev, uid))) dev.state.deleteUser(uid);
      return one(req, Reply.ACK_OK);
    }
    case Cmd.PREPARE_DATA: {
      // The client announces an upload of `size` bytes (the buffer a device keeps until FREE_DATA).
      if (p.length < 4) return one(req, Reply.ACK_ERROR);
      s.upload = { expected: p.readUInt32LE(0), parts: [], received: 0 };
      return one(req, Reply.ACK_OK);
    }
    case Cmd.DATA: {
      const up = s.upload;
      if (!up || up.received + p.length > up.expected) return one(req, Reply.ACK_ERROR);
      const stallAt = dev.faults().stallUploadAfterBytes;
      up.parts.push(Buffer.from(p));
      up.received += p.length;
      if (stallAt !== undefined && up.received >= stallAt) {
        s.uploadStalled = true;
        return { packets: [], kind: 'none' };
      }
      return one(req, Reply.ACK_OK);
    }
    case Cmd.CHECKSUM_BUFFER: {
      const up = s.upload;
      if (!up) return one(req, Reply.ACK_ERROR);
      const sum = Buffer.alloc(4);
      sum.writeUInt32LE(uploadChecksum(Buffer.concat(up.parts)), 0);
      return one(req, Reply.ACK_OK, sum);
    }
    case Cmd.TMP_WRITE: {
      const w = decodeTemplateWrite(p);
      const up = s.upload;
      if (!w || !up || up.received !== up.expected || w.size === 0 || w.size > up.received || w.finger > 9)
        return one(req, Reply.ACK_ERROR);
      const userId = userIdOf(dev, w.uid);
      if (userId === undefined) return one(req, Reply.ACK_ERROR);
      if (!dropsWrite(dev, userId))
        dev.state.setTemplate(w.uid, w.finger, w.flag, Buffer.concat(up.parts).subarray(0, w.size));
      return one(req, Reply.ACK_OK);
    }
    case Cmd.DEL_FPTMP: {
      const d = decodeDeleteFinger(p);
      if (!d) return one(req, Reply.ACK_ERROR);
      const user = dev.state.findUser(d.userId);
      if (!user || !dev.state.getTemplate(user.uid, d.finger)) return one(req, Reply.ACK_ERROR);
      if (!dropsWrite(dev, d.userId)) dev.state.deleteTemplate(user.uid, d.finger);
      return one(req, Reply.ACK_OK);
    }
    case Cmd.DELETE_USERTEMP: {
      if (p.length < 2) return one(req, Reply.ACK_ERROR);
      const uid = p.readUInt16LE(0);
      if (!dropsWrite(dev, userIdOf(dev, uid))) dev.state.deleteUserTemplates(uid);
      return one(req, Reply.ACK_OK);
    }
  }
  return null;
}

/**
 * The device-management commands (connect code, clock, clear, door) and the faults that act on them; null
 * for every other command. ACK_ERROR under errorReplyFor leaves the state as it was, as a refusing device does.
 */
function deviceCommand(dev: DeviceContext, s: SessionState, req: DecodedPacket): CommandResult | null {
  const f = dev.faults();
  const cmd = req.command;
  if (cmd === Cmd.CONNECT && f.connectReply !== undefined && !s.connected) {
    // No session is opened: the client sees the code and gives up, as with the firmware that sends it.
    return { packets: [reply(req, f.connectReply, undefined, 0)], kind: 'reply' };
  }
  if (cmd !== Cmd.CONNECT && cmd !== Cmd.AUTH && f.errorReplyFor?.includes(cmd)) return one(req, Reply.ACK_ERROR);
  switch (cmd) {
    case Cmd.SET_TIME:
      // zkteco-js sends 32 bytes: only bytes 0–3 carry the time (§4.2).
      if (req.payload.length < 4) return one(req, Reply.ACK_ERROR);
      if (!f.ignoreSetTime) dev.clock.set(decodeTime(req.payload.readUInt32LE(0)));
      return one(req, Reply.ACK_OK);
    case Cmd.CLEAR_ATTLOG:
      if (!f.ignoreClear) dev.state.clearAttendance();
      return one(req, Reply.ACK_OK);
    case Cmd.UNLOCK: {
      // u32 unlock time in tenths of a second; none or 0 opens for the device's default (3 s here).
      const tenths = req.payload.length >= 4 ? req.payload.readUInt32LE(0) : 0;
      dev.unlockDoor(tenths === 0 ? 3 : tenths / 10);
      return one(req, Reply.ACK_OK);
    }
  }
  return null;
}

function writeUser(dev: DeviceContext, req: DecodedPacket): CommandResult {
  const p = req.payload;
  const size: UserRecordSize | null = p.length >= 72 ? 72 : p.length >= 28 ? 28 : null;
  if (size === null) return one(req, Reply.ACK_ERROR);
  const enc = dev.state.nameEncoding;
  const u = decodeUserRecord(p, 0, size, enc === 'latin1' ? 'latin1' : enc === 'gbk' ? 'gbk' : 'utf8');
  if (u.uid === 0) return one(req, Reply.ACK_ERROR);
  if (dropsWrite(dev, u.userId)) return one(req, Reply.ACK_OK);
  try {
    const input = {
      uid: u.uid,
      userId: u.userId,
      name: u.name,
      privilege: u.privilege,
      password: u.password,
      cardNo: u.cardNo,
      group: u.group,
    };
    dev.state.upsertUser(input, size === dev.state.profile.userSize ? p.subarray(0, size) : undefined);
  } catch {
    // A user id this layout cannot store (non-numeric on ZK6): refuse rather than corrupt the table.
    return one(req, Reply.ACK_ERROR);
  }
  return one(req, Reply.ACK_OK);
}

function prepareBuffer(
  dev: DeviceContext,
  s: SessionState,
  req: DecodedPacket,
  transport: 'tcp' | 'udp',
): CommandResult {
  const f = dev.faults();
  const result = f.prepareBufferResult ?? 'normal';
  if (result === 'noReply') return { packets: [], kind: 'prepare' };
  if (result === 'ackError') return { ...one(req, Reply.ACK_ERROR), kind: 'prepare' };
  const sel = decodePrepareBuffer(req.payload);
  let buf: Buffer | null = null;
  if (sel) {
    const wantsAtt = sel.command === Selector.ATTLOG_RRQ || (sel.command === Selector.DB_RRQ && sel.fct === Fct.ATTLOG);
    const wantsUsers =
      (sel.command === Selector.USERTEMP_RRQ || sel.command === Selector.DB_RRQ) && sel.fct === Fct.USER;
    const wantsTemplates = sel.command === Selector.DB_RRQ && sel.fct === Fct.FINGERTMP;
    if (wantsAtt) buf = dev.state.attendanceBuffer();
    else if (wantsUsers) buf = dev.state.usersBuffer();
    else if (wantsTemplates) buf = dev.state.templatesBuffer();
  }
  if (!buf) return { ...one(req, Reply.ACK_ERROR), kind: 'prepare' };
  s.prepared = buf;
  const direct = f.directReplyMaxBytes ?? (transport === 'tcp' ? 1024 : 1016);
  if (buf.length <= direct) return { packets: [reply(req, Cmd.DATA, buf)], kind: 'prepare' };
  return { packets: [reply(req, Reply.ACK_OK, encodeBufferStat(buf.length))], kind: 'prepare' };
}

function readBuffer(dev: DeviceContext, s: SessionState, req: DecodedPacket, transport: 'tcp' | 'udp'): CommandResult {
  const range = decodeReadBuffer(req.payload);
  const buf = s.prepared;
  if (!range || !buf || range.start > buf.length) return { ...one(req, Reply.ACK_ERROR), kind: 'download' };
  const f = dev.faults();
  const end = Math.min(buf.length, range.start + range.size);
  let data = buf.subarray(range.start, end);
  const size = data.length;
  const cap = f.maxPacketBytes ?? (transport === 'udp' ? 1024 : 0);
  const maxPacketField = cap > 0 ? cap : Math.max(65536, size);
  const chunkFault = f.chunkFaults ?? 'none';
  if (chunkFault === 'shortData' && size > 0) data = data.subarray(0, size - 1);
  if (chunkFault === 'extraData') data = Buffer.concat([data, Buffer.from([0])]);
  const announced = chunkFault === 'wrongPrepareSize' ? size + 1 : size;
  const packets = [reply(req, Cmd.PREPARE_DATA, encodePrepareData(announced, maxPacketField))];
  const step = cap > 0 ? cap : Math.max(1, data.length);
  for (let off = 0; off < data.length; off += step) packets.push(reply(req, Cmd.DATA, data.subarray(off, off + step)));
  if (chunkFault !== 'missingAck') packets.push(reply(req, Reply.ACK_OK));
  return { packets, kind: 'download' };
}
