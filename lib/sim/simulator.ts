/**
 * ZkSimulator: an in-process ZKTeco-protocol device for tests (docs/internal-apis.md, docs/zk-protocol.md §11).
 * Owns the device state, the TCP and UDP fronts, the fault set, counters and the live-punch timer.
 */
import {
  AttendanceInput,
  Cmd,
  EventFlag,
  UserInput,
  WallClock,
  decodeTime,
  encodeAttEventBody,
  encodePacket,
  numericUserId,
} from '../protocol';
import { DeviceClock } from './clock';
import { DeviceContext } from './commands';
import { ConnectionHost, SimConnection } from './connection';
import { generatePunches, generateUsers, invalidRawTime } from './generate';
import type { PacketSink } from './output-queue';
import { Prng } from './prng';
import { SimProfile, getProfile } from './profiles';
import { DeviceState } from './state';
import { Admission, TcpFront } from './tcp-front';
import { UdpFront } from './udp-front';
import type {
  PunchInput,
  ReceivedPacket,
  SimCounters,
  SimFaults,
  SimOptions,
  SimTemplate,
  SimTransports,
} from './types';
import type { DoorUnlock } from './command-faults';

function newCounters(): SimCounters {
  return {
    connections: 0,
    openConnections: 0,
    downloads: 0,
    bytesSent: 0,
    commandsSeen: {},
    checksumMismatches: 0,
    eventsSent: 0,
    eventAcks: 0,
    malformedFrames: 0,
    shortDatagrams: 0,
    udpDropped: 0,
    refusedConnections: 0,
  };
}

export class ZkSimulator {
  readonly profile: SimProfile;
  readonly serial: string;
  readonly commKey: number;
  readonly transports: SimTransports;
  private readonly requestedHost: string;
  private readonly requestedPort: number;
  private boundPort = 0;
  private readonly state: DeviceState;
  private readonly clock: DeviceClock;
  private faultSet: SimFaults;
  private readonly counterSet = newCounters();
  private readonly receivedLog: ReceivedPacket[] = [];
  private readonly receivedLogSize: number;
  private readonly sessionRng: Prng;
  private readonly liveRng: Prng;
  private readonly lossRng: Prng;
  private readonly usedSessionIds = new Set<number>();
  private readonly dropOnceUsed = new Set<number>();
  private readonly connections = new Set<SimConnection>();
  private readonly deviceOptions: Record<string, string>;
  private readonly firmware: string;
  private readonly liveEveryMs: number;
  private liveTimer: NodeJS.Timeout | null = null;
  private tcp: TcpFront | null = null;
  private udp: UdpFront | null = null;
  private started = false;
  private stopped = false;
  private nextConnectionId = 1;
  /** Serialises listener changes made by setFaults({ tcpMode }). */
  private listenerChange: Promise<void> = Promise.resolve();

  constructor(opts: SimOptions = {}) {
    this.profile = getProfile(opts.profile ?? 'tft');
    this.requestedHost = opts.host ?? '127.0.0.1';
    this.requestedPort = opts.port ?? 0;
    this.commKey = opts.commKey ?? 0;
    this.transports = opts.transports ?? 'tcp+udp';
    this.faultSet = { ...(opts.faults ?? {}) };
    this.liveEveryMs = opts.liveEveryMs ?? 0;
    this.receivedLogSize = opts.receivedLogSize ?? 1000;
    const seed = opts.seed ?? 1;
    const root = new Prng(seed);
    // Independent streams: e.g. a different user count must not change the session ids.
    const dataRng = root.fork(1);
    this.sessionRng = root.fork(2);
    this.liveRng = root.fork(3);
    this.lossRng = root.fork(4);
    this.serial = opts.serial ?? `SIM${String(root.fork(5).nextU32() % 1e10).padStart(10, '0')}`;
    this.clock = new DeviceClock({
      offsetSec: opts.clockOffsetSec ?? 0,
      tz: opts.tz ?? 'UTC',
      frozen: opts.frozenClock ?? null,
    });
    this.firmware = opts.firmware ?? this.profile.firmware;

    const recordCount = opts.records ?? 1000;
    this.state = new DeviceState(this.profile, this.faultSet.nameEncoding ?? 'utf8', recordCount + 16);
    const users = generateUsers(
      dataRng,
      opts.users ?? 20,
      this.profile,
      this.state.nameEncoding,
      opts.userIds ?? 'edge',
    );
    for (const u of users) this.state.upsertUser(u);
    const punches = generatePunches(dataRng, this.state.users, recordCount, this.clock.now());
    const invalid = this.faultSet.invalidTimestamps ?? 'off';
    if (invalid !== 'off' && punches.length > 0)
      punches[punches.length - 1].rawTime = invalidRawTime(invalid, this.clock.now());
    for (const p of punches) this.state.appendRecord(p);

    this.deviceOptions = {
      '~SerialNumber': this.serial,
      '~DeviceName': this.profile.deviceName,
      '~Platform': this.profile.platform,
      '~OEMVendor': 'ZKTeco Inc.',
      '~ProductTime': '2020-01-01 00:00:00',
      '~OS': '1',
      '~SSR': '1',
      '~PIN2Width': '9',
      WorkCode: '0',
      FaceFunOn: '0',
      ZKFaceVersion: '0',
      '~ZKFPVersion': '10',
      '~ExtendFmt': '0',
      '~UserExtFmt': '0',
      CompatOldFirmware: '0',
      MAC: '02:00:00:00:00:01',
      IPAddress: this.requestedHost,
      NetMask: '255.255.255.0',
      GATEIPAddress: '0.0.0.0',
      ...(opts.deviceOptions ?? {}),
    };
  }

  // ---- read-back -------------------------------------------------------------------------------

  get host(): string {
    return this.requestedHost;
  }

  /** The bound port (after start()). */
  get port(): number {
    return this.boundPort;
  }

  get users(): readonly UserInput[] {
    return this.state.users;
  }

  /** Attendance log in order, exactly as encoded (rawTime set where a fault made the time invalid). */
  get records(): readonly AttendanceInput[] {
    return this.state.records;
  }

  get faults(): Readonly<SimFaults> {
    return this.faultSet;
  }

  /** A snapshot of the counters. */
  get counters(): SimCounters {
    return { ...this.counterSet, commandsSeen: { ...this.counterSet.commandsSeen } };
  }

  /** The last `receivedLogSize` packets received (decoded), oldest first. */
  get receivedPackets(): readonly ReceivedPacket[] {
    return this.receivedLog;
  }

  /** Alias of receivedPackets. */
  get received(): readonly ReceivedPacket[] {
    return this.receivedLog;
  }

  /** Where it listens (after start()). */
  get address(): { host: string; port: number } {
    return { host: this.requestedHost, port: this.boundPort };
  }

  /** True when nameEncoding 'gbk' met a character outside the built-in table and used UTF-8 (see names.ts). */
  get nameEncodingFellBackToUtf8(): boolean {
    return this.state.gbkFallback;
  }

  /** The device's wall clock now. */
  now(): WallClock {
    return this.clock.now();
  }

  // ---- control ---------------------------------------------------------------------------------

  async start(): Promise<{ host: string; port: number }> {
    if (this.started) return { host: this.requestedHost, port: this.boundPort };
    this.started = true;
    const host = this.requestedHost;
    const needTcp = this.transports !== 'udp';
    const needUdp = this.transports !== 'tcp';
    // With port 0 the TCP port is chosen first and UDP must get the same number; another process may
    // hold that UDP port, so try a few ephemeral TCP ports.
    const attempts = this.requestedPort === 0 && needTcp && needUdp ? 5 : 1;
    for (let i = 0; ; i++) {
      try {
        await this.bindAll(host, needTcp, needUdp);
        break;
      } catch (err) {
        await this.closeFronts();
        if (i + 1 >= attempts || (err as NodeJS.ErrnoException).code !== 'EADDRINUSE') {
          this.started = false;
          throw err;
        }
      }
    }
    if (this.liveEveryMs > 0) this.liveTimer = setInterval(() => this.livePunch(), this.liveEveryMs);
    return { host, port: this.boundPort };
  }

  private async bindAll(host: string, needTcp: boolean, needUdp: boolean): Promise<void> {
    let port = this.requestedPort;
    if (needTcp) {
      this.tcp = new TcpFront(this.tcpHost());
      port = await this.tcp.listen(host, port);
    }
    if (needUdp) {
      this.udp = new UdpFront(this.udpHost());
      port = await this.udp.bind(host, port);
    }
    this.boundPort = port;
    // 'refuse': the listener only reserved the port number; closing it makes connects fail with RST.
    if (this.tcp && this.faultSet.tcpMode === 'refuse') await this.tcp.closeListener();
  }

  private async closeFronts(): Promise<void> {
    const tcp = this.tcp;
    const udp = this.udp;
    this.tcp = null;
    this.udp = null;
    await Promise.all([tcp?.close(), udp?.close()]);
  }

  /** Closes listeners, sockets and timers. Idempotent. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.liveTimer) clearInterval(this.liveTimer);
    this.liveTimer = null;
    if (this.downTimer) clearTimeout(this.downTimer);
    this.downTimer = null;
    this.down = false;
    for (const w of this.upWaiters.splice(0)) w();
    await this.listenerChange;
    for (const c of this.connections) c.close();
    await this.closeFronts();
    this.connections.clear();
  }

  /** Merges faults; a key set to undefined returns to its default. Resolves when the TCP listener follows tcpMode. */
  setFaults(patch: Partial<SimFaults>): Promise<void> {
    const next: Record<string, unknown> = { ...this.faultSet };
    for (const [k, v] of Object.entries(patch)) {
      if (v === undefined) delete next[k];
      else next[k] = v;
    }
    this.faultSet = next as SimFaults;
    if ('dropReply' in patch) this.dropOnceUsed.clear();
    if (patch.nameEncoding !== undefined) this.state.setNameEncoding(patch.nameEncoding);
    if ('tcpMode' in patch) {
      this.listenerChange = this.listenerChange.then(() => this.applyTcpMode()).catch(() => undefined);
      return this.listenerChange;
    }
    return Promise.resolve();
  }

  private async applyTcpMode(): Promise<void> {
    const tcp = this.tcp;
    if (!tcp || this.stopped) return;
    const refuse = this.faultSet.tcpMode === 'refuse';
    if (refuse && tcp.listening) await tcp.closeListener();
    if (!refuse && !tcp.listening) await tcp.listen(this.requestedHost, this.boundPort);
  }

  setClock(c: { offsetSec?: number; tz?: string; frozen?: WallClock | null; set?: WallClock }): void {
    const { set, ...rest } = c;
    this.clock.update(rest);
    if (set) this.clock.set(set);
  }

  addUser(u: UserInput): void {
    this.state.upsertUser(u);
  }

  removeUser(uid: number): boolean {
    return this.state.deleteUser(uid);
  }

  /** Fingerprint templates held now, ordered by uid then finger, with the owner's PIN. Copies. */
  get templates(): readonly SimTemplate[] {
    const ids = new Map(this.state.users.map((u) => [u.uid, u.userId]));
    return this.state.templates().map((t) => ({ ...t, userId: ids.get(t.uid) ?? '' }));
  }

  /** Stores a template for an existing user (by PIN); throws RangeError for an unknown PIN or finger. */
  addTemplate(t: { userId: string; finger: number; data: Buffer; flag?: number }): void {
    const user = this.state.findUser(t.userId);
    if (!user) throw new RangeError(`no user "${t.userId}" on the simulator`);
    if (!Number.isInteger(t.finger) || t.finger < 0 || t.finger > 9)
      throw new RangeError(`finger ${t.finger} is not 0–9`);
    this.state.setTemplate(user.uid, t.finger, t.flag ?? 1, t.data);
  }

  clearAttendance(): void {
    this.state.clearAttendance();
  }

  /**
   * Drops every connection and UDP session: registrations are forgotten, as after a device reboot. With the
   * restartDownMs fault the device then stays unreachable that long (TCP refused, UDP silent).
   */
  restart(): void {
    this.tcp?.dropAll();
    this.udp?.dropAll();
    for (const c of this.connections) c.close();
    this.flushDeferredPunches();
    this.restartCount++;
    const downMs = this.faultSet.restartDownMs ?? 0;
    if (downMs > 0 && !this.stopped) this.goDown(downMs);
  }

  // ---- device commands: door, restart, hooks, deferred punches ----

  private restartCount = 0;
  private readonly doorLog: DoorUnlock[] = [];
  private readonly commandHooks = new Map<number, Set<(nth: number) => void>>();
  private readonly hookCounts = new Map<number, number>();
  private deferred: PunchInput[] = [];
  private downTimer: NodeJS.Timeout | null = null;
  /** From a restart with restartDownMs until the listener is back. */
  private down = false;

  /** Restarts performed (RESTART received, or restart() called). */
  get restarts(): number {
    return this.restartCount;
  }

  /** Door unlocks performed, oldest first. */
  get doorUnlocks(): readonly DoorUnlock[] {
    return this.doorLog;
  }

  /** True while a restart keeps the device unreachable. */
  get isDown(): boolean {
    return this.down;
  }

  /** Resolves when the device is reachable again after a restart (at once when it is). */
  async waitUntilUp(): Promise<void> {
    while (this.down) await new Promise<void>((r) => this.upWaiters.push(r));
  }

  private readonly upWaiters: (() => void)[] = [];

  /** Punches held because the device was disabled (disabledPunches 'defer'). */
  get deferredPunches(): readonly PunchInput[] {
    return this.deferred;
  }

  /**
   * Runs `fn(nth)` just before the device handles each request with this command code (nth counts from 1,
   * from the moment the hook was added); e.g. a punch between a download and the count check. Returns a remover.
   */
  onCommand(command: number, fn: (nth: number) => void): () => void {
    let set = this.commandHooks.get(command);
    if (!set) this.commandHooks.set(command, (set = new Set()));
    set.add(fn);
    this.hookCounts.set(command, 0);
    return () => {
      set?.delete(fn);
    };
  }

  private runHooks(command: number): void {
    const set = this.commandHooks.get(command);
    if (!set || set.size === 0) return;
    const nth = (this.hookCounts.get(command) ?? 0) + 1;
    this.hookCounts.set(command, nth);
    for (const fn of [...set]) fn(nth);
  }

  /** True while any open connection has the device disabled. */
  private get disabled(): boolean {
    for (const c of this.connections) if (!c.isClosed && c.state.disabled) return true;
    return false;
  }

  private flushDeferredPunches(): void {
    if (this.deferred.length === 0 || this.disabled) return;
    const held = this.deferred;
    this.deferred = [];
    for (const p of held) this.punch(p);
  }

  private goDown(ms: number): void {
    if (this.downTimer) clearTimeout(this.downTimer);
    this.down = true;
    // Closed at once (refusing from this moment), then chained so a later re-listen waits for it.
    const closing = this.tcp?.closeListener();
    this.listenerChange = this.listenerChange.then(() => closing).catch(() => undefined);
    this.udp?.setSilent(true);
    this.downTimer = setTimeout(() => {
      this.downTimer = null;
      this.udp?.setSilent(false);
      this.listenerChange = this.listenerChange.then(() => this.applyTcpMode()).catch(() => undefined);
      void this.listenerChange.then(() => {
        // Up only once the listener accepts again (a second restart meanwhile keeps it down).
        if (this.downTimer !== null) return;
        this.down = false;
        for (const w of this.upWaiters.splice(0)) w();
      });
    }, ms);
  }

  /**
   * Appends a record (profile layout) and sends EF_ATTLOG to every connection registered for it (not with
   * `silent`: an event lost on the way).
   * Throws RangeError for a user id the profile cannot store (non-numeric on zk6/compact8).
   */
  punch(p: PunchInput): AttendanceInput {
    if (this.faultSet.disabledPunches === 'defer' && this.disabled) {
      // Validated now (a bad id throws here, not later on ENABLEDEVICE); logged once the device is enabled.
      if (this.profile.numericUserIds) numericUserId(p.userId, this.profile.attendanceSize);
      this.deferred.push({ ...p, at: p.at ?? this.clock.now() });
      const user = this.state.findUser(p.userId);
      return {
        uid: user?.uid ?? 0,
        userId: p.userId,
        verify: p.verify ?? 1,
        state: p.state ?? 0,
        time: p.at ?? this.clock.now(),
        workCode: p.workCode ?? 0,
      };
    }
    const user = this.state.findUser(p.userId);
    let uid = user?.uid ?? 0;
    if (!user && /^\d{1,5}$/.test(p.userId) && Number(p.userId) <= 0xffff) uid = Number(p.userId);
    if (this.profile.numericUserIds) numericUserId(p.userId, this.profile.attendanceSize);
    const rec: AttendanceInput = {
      uid,
      userId: p.userId,
      verify: p.verify ?? 1,
      state: p.state ?? 0,
      time: p.at ?? this.clock.now(),
      workCode: p.workCode ?? 0,
    };
    const invalid = this.faultSet.invalidTimestamps ?? 'off';
    if (invalid !== 'off') rec.rawTime = invalidRawTime(invalid, this.clock.now());
    const wrapAt = this.faultSet.wrapAtRecords;
    if (wrapAt !== undefined && wrapAt > 0) while (this.state.recordCount >= wrapAt) this.state.dropOldest();
    this.state.appendRecord(rec);
    if (!p.silent) this.broadcast(rec);
    return rec;
  }

  private broadcast(rec: AttendanceInput): void {
    const time = rec.rawTime !== undefined ? decodeTime(rec.rawTime) : rec.time;
    const input = { userId: rec.userId, userNumber: rec.uid ?? undefined, verify: rec.verify, state: rec.state, time };
    for (const c of this.connections) {
      if (!c.wantsAttendanceEvents) continue;
      const length =
        this.faultSet.eventBodyLength ??
        (c.transport === 'tcp' ? this.profile.eventBodyTcp : this.profile.eventBodyUdp);
      const body = encodeAttEventBody(input, length);
      c.sendEvent(encodePacket({ command: Cmd.REG_EVENT, session: EventFlag.ATTLOG, replyId: 0, payload: body }));
    }
  }

  private livePunch(): void {
    // A disabled device (a download in progress) takes no punches, which keeps counts and buffers consistent.
    for (const c of this.connections) if (c.state.disabled) return;
    this.randomPunch();
  }

  private randomPunch(): void {
    const users = this.state.users;
    if (users.length === 0) return;
    const u = users[this.liveRng.int(0, users.length - 1)];
    const now = this.clock.now();
    const last = this.state.records[this.state.records.length - 1];
    // Keep (userId, time) unique even when two live punches land in the same second.
    if (last && last.userId === u.userId && JSON.stringify(last.time) === JSON.stringify(now)) return;
    try {
      this.punch({
        userId: u.userId,
        verify: this.liveRng.pick([0, 1, 2, 15]),
        state: this.liveRng.int(0, 5),
        at: now,
      });
    } catch {
      // Timer callbacks must never throw.
    }
  }

  // ---- wiring ----------------------------------------------------------------------------------

  private deviceContext(): DeviceContext {
    return {
      state: this.state,
      clock: this.clock,
      commKey: this.commKey,
      firmware: this.firmware,
      faults: () => this.faultSet,
      option: (key) =>
        Object.prototype.hasOwnProperty.call(this.deviceOptions, key) ? this.deviceOptions[key] : undefined,
      setOption: (key, value) => {
        this.deviceOptions[key] = value;
      },
      nextSessionId: () => this.nextSessionId(),
      unlockDoor: (seconds) => {
        this.doorLog.push({ seconds, atMs: Date.now() });
      },
    };
  }

  private nextSessionId(): number {
    // Non-zero, and not reused while we remember it, so a client that ignores the session id is caught.
    for (let i = 0; i < 100; i++) {
      const id = this.sessionRng.int(1, 0xffff);
      if (!this.usedSessionIds.has(id)) {
        this.usedSessionIds.add(id);
        if (this.usedSessionIds.size > 30000) this.usedSessionIds.clear();
        return id;
      }
    }
    return this.sessionRng.int(1, 0xffff);
  }

  private connectionHost(): ConnectionHost {
    const dev = this.deviceContext();
    return {
      dev,
      counters: this.counterSet,
      faults: () => this.faultSet,
      logReceived: (e) => {
        this.receivedLog.push(e);
        if (this.receivedLog.length > this.receivedLogSize)
          this.receivedLog.splice(0, this.receivedLog.length - this.receivedLogSize);
      },
      consumeDropOnce: (cmd) => {
        if (this.dropOnceUsed.has(cmd)) return false;
        this.dropOnceUsed.add(cmd);
        return true;
      },
      onRegisteredForAfterAck: () => this.randomPunch(),
      restart: () => this.restart(),
      beforeCommand: (cmd) => this.runHooks(cmd),
      afterCommand: (cmd) => {
        if (cmd === Cmd.ENABLEDEVICE) this.flushDeferredPunches();
      },
    };
  }

  private createConnection(sink: PacketSink, transport: 'tcp' | 'udp', muted: boolean): SimConnection {
    const conn = new SimConnection(this.nextConnectionId++, transport, sink, this.connectionHostCached(), muted);
    this.connections.add(conn);
    return conn;
  }

  private cachedHost: ConnectionHost | null = null;

  private connectionHostCached(): ConnectionHost {
    if (!this.cachedHost) this.cachedHost = this.connectionHost();
    return this.cachedHost;
  }

  private admit(): Admission {
    let open = 0;
    for (const c of this.connections) if (c.transport === 'tcp' && !c.isClosed) open++;
    if (open === 0) return 'accept';
    const mode = this.faultSet.multiClient ?? 'allow';
    return mode === 'refuse' ? 'refuse' : mode === 'muteSecond' ? 'mute' : 'accept';
  }

  private tcpHost() {
    return {
      counters: this.counterSet,
      faults: () => this.faultSet,
      admit: () => this.admit(),
      createConnection: (sink: PacketSink, transport: 'tcp', muted: boolean) =>
        this.createConnection(sink, transport, muted),
      connectionClosed: (c: SimConnection) => {
        this.connections.delete(c);
        // A client that vanished with the device disabled: the device comes back to the ready screen.
        this.flushDeferredPunches();
      },
    };
  }

  private udpHost() {
    return {
      counters: this.counterSet,
      rng: this.lossRng,
      faults: () => this.faultSet,
      createConnection: (sink: PacketSink, transport: 'udp', muted: boolean) =>
        this.createConnection(sink, transport, muted),
      connectionClosed: (c: SimConnection) => {
        this.connections.delete(c);
        // A client that vanished with the device disabled: the device comes back to the ready screen.
        this.flushDeferredPunches();
      },
    };
  }
}
