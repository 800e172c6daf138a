/**
 * One client connection (a TCP socket, or a UDP peer address/port): protocol state, the ordered output
 * queue, realtime events and the per-command faults of §11.3 that act on replies.
 */
import { DecodedPacket, Reply, encodePacket, decodePacket } from '../protocol';
import { DeviceContext, SessionState, handleCommand, newSessionState, CommandResult } from './commands';
import { OutputQueue, PacketSink, Plan } from './output-queue';
import type { CommandSet, ReceivedPacket, SimCounters, SimFaults } from './types';

/** What a connection needs from the simulator that owns it. */
export interface ConnectionHost {
  readonly dev: DeviceContext;
  readonly counters: SimCounters;
  faults(): SimFaults;
  logReceived(entry: ReceivedPacket): void;
  /** True if a dropReply 'once' for this command is still unused (and marks it used). */
  consumeDropOnce(command: number): boolean;
  /** REG_EVENT accepted while eventTiming is 'afterRegAck'. */
  onRegisteredForAfterAck(conn: SimConnection): void;
  restart(): void;
  /** Runs before the device handles a request (test hooks that punch at a chosen point). */
  beforeCommand?(command: number): void;
  /** Runs after the device handled a request (punches deferred while it was disabled land after ENABLEDEVICE). */
  afterCommand?(command: number): void;
}

function inSet(set: CommandSet | undefined, cmd: number): boolean {
  return set === 'all' || (Array.isArray(set) && set.includes(cmd));
}

/** Applies wrongReplyId / badChecksum / duplicateReply to the packets of one reply. */
function damage(packets: Buffer[], cmd: number, f: SimFaults): Buffer[] {
  let out = packets;
  if (inSet(f.wrongReplyId, cmd)) {
    out = out.map((p) => {
      const d = decodePacket(p);
      return d
        ? encodePacket({
            command: d.command,
            session: d.session,
            replyId: (d.replyId + 1) & 0xffff,
            payload: d.payload,
          })
        : p;
    });
  }
  if (inSet(f.badChecksum, cmd)) {
    out = out.map((p) => {
      const c = Buffer.from(p);
      c.writeUInt16LE(c.readUInt16LE(2) ^ 0x5a5a, 2);
      return c;
    });
  }
  if (inSet(f.duplicateReply, cmd)) out = [...out, ...out];
  return out;
}

export class SimConnection {
  readonly state: SessionState = newSessionState();
  private readonly queue: OutputQueue;
  /** Events waiting for the next request (eventTiming 'duringCommand'). */
  private readonly held: Buffer[] = [];
  /** Events sent but not yet ACKed (requireEventAck). */
  private readonly unacked: Buffer[] = [];
  private closed = false;

  constructor(
    readonly id: number,
    readonly transport: 'tcp' | 'udp',
    private readonly sink: PacketSink,
    private readonly host: ConnectionHost,
    /** multiClient 'muteSecond': this connection never gets realtime events. */
    readonly muted: boolean,
  ) {
    this.queue = new OutputQueue(sink, () => host.faults(), host.counters);
  }

  get isClosed(): boolean {
    return this.closed;
  }

  get wantsAttendanceEvents(): boolean {
    return !this.closed && !this.muted && this.state.authed && (this.state.eventMask & 1) !== 0;
  }

  receive(req: DecodedPacket): void {
    if (this.closed) return;
    const c = this.host.counters;
    c.commandsSeen[req.command] = (c.commandsSeen[req.command] ?? 0) + 1;
    if (!req.checksumOk) c.checksumMismatches++;
    this.host.logReceived({
      connection: this.id,
      transport: this.transport,
      command: req.command,
      session: req.session,
      replyId: req.replyId,
      checksumOk: req.checksumOk,
      payload: Buffer.from(req.payload),
      atMs: Date.now(),
    });
    if (this.queue.isStalled) return; // closeMidDownload 'stall': the device went silent

    let res: CommandResult;
    try {
      this.host.beforeCommand?.(req.command);
      res = handleCommand(this.host.dev, this.state, req, this.transport);
      this.host.afterCommand?.(req.command);
    } catch {
      // Nothing from the network may throw out of a socket handler: answer as a confused device would.
      res = {
        packets: [
          encodePacket({
            command: Reply.ACK_ERROR,
            session: req.session,
            replyId: req.replyId,
            payload: Buffer.alloc(0),
          }),
        ],
        kind: 'reply',
      };
    }
    if (res.eventAck) {
      c.eventAcks++;
      this.unacked.shift();
      return;
    }
    if (res.kind === 'prepare') c.downloads++;
    if (this.held.length > 0) this.queue.push({ packets: this.held.splice(0), event: true });

    const f = this.host.faults();
    const cmd = req.command;
    const drop = f.dropReply?.[cmd];
    if (drop === 'always' || (drop === 'once' && this.host.consumeDropOnce(cmd))) return;

    const plan: Plan = {
      packets: damage(res.packets, cmd, f),
      delayMs: f.replyDelayMs?.[cmd],
      download: res.kind === 'download',
      startsDownload: res.kind === 'prepare',
    };
    if (res.closeAfter) plan.after = () => this.sink.end();
    if (res.restartAfter) plan.after = () => this.host.restart();
    if (plan.packets.length === 0 && !plan.after) return;
    const late = f.lateReply?.[cmd];
    if (late !== undefined && late > 0) this.queue.later(late, () => this.queue.push(plan));
    else this.queue.push(plan);
    if (res.registered && f.eventTiming === 'afterRegAck') this.host.onRegisteredForAfterAck(this);
  }

  /** Queues an event packet according to eventTiming (the caller checked wantsAttendanceEvents). */
  sendEvent(packet: Buffer): void {
    if (this.closed) return;
    const f = this.host.faults();
    const timing = f.eventTiming ?? 'normal';
    if (timing === 'insideResponse') this.queue.pushInsideNextResponse(packet);
    else if (timing === 'duringCommand') this.held.push(packet);
    else this.queue.push({ packets: [packet], event: true });
    if (f.requireEventAck) {
      this.unacked.push(packet);
      this.scheduleResend(packet, f.requireEventAck.resendMs);
    }
  }

  private scheduleResend(packet: Buffer, ms: number): void {
    this.queue.later(Math.max(1, ms), () => {
      if (!this.unacked.includes(packet) || !this.host.faults().requireEventAck) return;
      this.queue.push({ packets: [packet], event: true });
      this.scheduleResend(packet, ms);
    });
  }

  /** Stops output and releases timers. The transport closes the socket itself. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.queue.close();
    this.held.length = 0;
    this.unacked.length = 0;
  }
}
