import { EventEmitter } from 'events';
import { Transport } from './transport';
import { Cmd, Reply, codeName, nextReplyId } from '../protocol/constants';
import { decodePacket, encodePacket, DecodedPacket } from '../protocol/packet';
import { decodeEvent, ZkEvent } from '../protocol/events';
import { ZkConnectionError, ZkError, ZkProtocolError, ZkTimeoutError, hexSample } from '../errors';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type Logger = (level: LogLevel, message: string, details?: Record<string, unknown>) => void;

/** What a packet does to the exchange it belongs to. */
export type PacketVerdict = { done: true } | { done: false };
export const DONE: PacketVerdict = { done: true };
export const MORE: PacketVerdict = { done: false };

export interface ExchangeSpec {
  command: number;
  payload?: Buffer;
  /** Total time allowed, or (with `idle`) time allowed between packets. */
  timeoutMs: number;
  idle?: boolean;
  /** With `idle`: the wait before the next packet, asked after each packet (e.g. a short ACK grace). */
  nextTimeoutMs?(): number;
  /**
   * Called for every packet with this exchange's reply id. Return DONE to settle, MORE to wait for more;
   * throw (a ZkError) to fail the exchange.
   */
  onPacket(p: DecodedPacket): PacketVerdict;
  /** Called when the exchange times out; may return DONE to accept what it has (ACK grace). */
  onTimeout?(): PacketVerdict;
  /**
   * Further requests of the same command sent in this exchange, each with its own reply id, keeping at most
   * `window` unanswered (TCP delivers in order and the device answers in order). onPacket sees every reply.
   */
  more?: { payloads: Buffer[]; window: number; onSent?(index: number, replyId: number): void };
}

interface Pending {
  spec: ExchangeSpec;
  replyId: number;
  timer: NodeJS.Timeout | null;
  settle(err: Error | null): void;
  /** Reply ids of the `more` requests in flight, and the next payload to send. */
  extra?: { ids: Set<number>; next: number };
}

interface Queued {
  spec: ExchangeSpec;
  resolve(): void;
  reject(err: Error): void;
}

export interface SessionOptions {
  label: string;
  logger: Logger;
  strictChecksum: boolean;
  ackEvents: boolean;
  /** First reply id (0 for CONNECT); tests start near 65534 to cross the wrap. */
  replyIdStart: number;
}

export interface SessionStats {
  packetsIn: number;
  packetsOut: number;
  stalePackets: number;
  checksumMismatches: number;
  events: number;
  eventAcks: number;
}

/**
 * One device connection: one exchange in flight, a FIFO in front of it, replies matched by reply id,
 * events (command 500) demultiplexed before matching and ACKed, a single close path that rejects
 * everything waiting. Emits 'event' (ZkEvent, raw packet), 'close' (ZkError | null).
 */
export class Session extends EventEmitter {
  sessionId = 0;
  private replyId: number;
  private pending: Pending | null = null;
  private readonly queue: Queued[] = [];
  private closedWith: ZkError | null = null;
  private closed = false;
  /** Reply ids of abandoned (timed-out) exchanges: their late replies are dropped knowingly. */
  private readonly abandoned: number[] = [];
  lastPacketAt = 0;
  readonly stats: SessionStats = {
    packetsIn: 0,
    packetsOut: 0,
    stalePackets: 0,
    checksumMismatches: 0,
    events: 0,
    eventAcks: 0,
  };

  constructor(
    private readonly transport: Transport,
    private readonly opts: SessionOptions,
  ) {
    super();
    this.replyId = opts.replyIdStart;
    transport.on('packet', (buf: Buffer) => this.onPacket(buf));
    transport.on('error', (err: ZkError) => this.shutdown(err));
    transport.on('close', () =>
      this.shutdown(new ZkConnectionError(`${opts.label} closed the connection`, { host: opts.label })),
    );
  }

  get isClosed(): boolean {
    return this.closed;
  }

  get idle(): boolean {
    return this.pending === null && this.queue.length === 0;
  }

  /** Queue an exchange; resolves when onPacket returned DONE. */
  exchange(spec: ExchangeSpec): Promise<void> {
    if (this.closed) return Promise.reject(this.closedError());
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ spec, resolve, reject });
      this.pump();
    });
  }

  /** A plain request: resolves with the first reply packet carrying its reply id, whatever its code. */
  async request(command: number, payload: Buffer | undefined, timeoutMs: number): Promise<DecodedPacket> {
    const got: { reply?: DecodedPacket } = {};
    await this.exchange({
      command,
      payload,
      timeoutMs,
      onPacket: (p) => {
        got.reply = p;
        return DONE;
      },
    });
    // The exchange settles without error only through onPacket's DONE, so a reply is always there.
    if (!got.reply)
      throw new ZkProtocolError(`${this.opts.label}: ${codeName(command)} ended without a reply`, {
        host: this.opts.label,
      });
    return got.reply;
  }

  /**
   * The same command with each payload, up to `window` requests in flight (window 1 = one at a time).
   * Resolves with the replies in payload order, whatever their codes; the timeout applies between replies.
   */
  async pipeline(
    command: number,
    payloads: Buffer[],
    window: number,
    timeoutMs: number,
    onReply?: (done: number) => void,
  ): Promise<DecodedPacket[]> {
    if (payloads.length === 0) return [];
    const replies: DecodedPacket[] = new Array<DecodedPacket>(payloads.length);
    const index = new Map<number, number>();
    let got = 0;
    await this.exchange({
      command,
      payload: payloads[0],
      timeoutMs,
      idle: true,
      more: { payloads: payloads.slice(1), window: Math.max(1, window), onSent: (i, replyId) => index.set(replyId, i) },
      onPacket: (p) => {
        const i = index.get(p.replyId);
        if (i === undefined || replies[i]) return MORE;
        replies[i] = p;
        got++;
        onReply?.(got);
        return got === payloads.length ? DONE : MORE;
      },
    });
    return replies;
  }

  /** Sends a packet outside the exchange machinery (event ACKs). */
  sendRaw(command: number, replyId: number, payload: Buffer = Buffer.alloc(0)): void {
    if (this.closed) return;
    this.stats.packetsOut++;
    this.transport.send(encodePacket({ command, session: this.sessionId, replyId, payload }));
  }

  /** Closes the transport and rejects everything waiting. Idempotent. */
  close(reason?: ZkError): void {
    this.shutdown(
      reason ?? new ZkConnectionError(`connection to ${this.opts.label} closed`, { host: this.opts.label }),
    );
  }

  private closedError(): ZkError {
    return (
      this.closedWith ?? new ZkConnectionError(`connection to ${this.opts.label} is closed`, { host: this.opts.label })
    );
  }

  private shutdown(err: ZkError): void {
    if (this.closed) return;
    this.closed = true;
    this.closedWith = err;
    const p = this.pending;
    this.pending = null;
    if (p) p.settle(err);
    for (const q of this.queue.splice(0)) q.reject(err);
    this.transport.close();
    this.emit('close', err);
  }

  private pump(): void {
    if (this.pending || this.closed) return;
    const next = this.queue.shift();
    if (!next) return;
    const replyId = this.replyId;
    this.replyId = nextReplyId(this.replyId);
    const spec = next.spec;
    let settled = false;
    const pending: Pending = {
      spec,
      replyId,
      timer: null,
      settle: (err) => {
        if (settled) return;
        settled = true;
        if (pending.timer) clearTimeout(pending.timer);
        pending.timer = null;
        if (this.pending === pending) this.pending = null;
        if (err) next.reject(err);
        else next.resolve();
        // Let the caller's continuation run before the next exchange starts.
        setImmediate(() => this.pump());
      },
    };
    this.pending = pending;
    this.armTimer(pending);
    try {
      this.stats.packetsOut++;
      this.transport.send(
        encodePacket({
          command: spec.command,
          session: this.sessionId,
          replyId,
          payload: spec.payload ?? Buffer.alloc(0),
        }),
      );
      if (spec.more) {
        // The first request's id is one of the set too, so a duplicated reply to it is not counted twice.
        pending.extra = { ids: new Set([replyId]), next: 0 };
        spec.more.onSent?.(0, replyId);
        this.sendMore(pending, spec.more.window - 1);
      }
    } catch (err) {
      pending.settle(err instanceof ZkError ? err : new ZkConnectionError(String(err), { host: this.opts.label }));
    }
  }

  /** Sends up to `n` further requests of a pipelined exchange. */
  private sendMore(p: Pending, n: number): void {
    const more = p.spec.more;
    const extra = p.extra;
    if (!more || !extra) return;
    for (let i = 0; i < n && extra.next < more.payloads.length; i++) {
      const replyId = this.replyId;
      this.replyId = nextReplyId(this.replyId);
      extra.ids.add(replyId);
      more.onSent?.(extra.next + 1, replyId);
      this.stats.packetsOut++;
      this.transport.send(
        encodePacket({
          command: p.spec.command,
          session: this.sessionId,
          replyId,
          payload: more.payloads[extra.next++],
        }),
      );
    }
  }

  private armTimer(p: Pending): void {
    if (p.timer) clearTimeout(p.timer);
    const ms = p.spec.nextTimeoutMs ? p.spec.nextTimeoutMs() : p.spec.timeoutMs;
    p.timer = setTimeout(() => this.onTimeout(p), ms);
  }

  private onTimeout(p: Pending): void {
    if (this.pending !== p) return;
    p.timer = null;
    let verdict: PacketVerdict = MORE;
    try {
      verdict = p.spec.onTimeout ? p.spec.onTimeout() : MORE;
    } catch (err) {
      this.rememberAbandoned(p.replyId);
      p.settle(err instanceof Error ? err : new Error(String(err)));
      return;
    }
    if (verdict.done) {
      this.rememberAbandoned(p.replyId);
      p.settle(null);
      return;
    }
    this.rememberAbandoned(p.replyId);
    p.settle(
      new ZkTimeoutError(
        `${this.opts.label} did not answer ${codeName(p.spec.command)} within ${p.spec.timeoutMs} ms` +
          ' — check that the device is reachable and not busy with another client',
        { host: this.opts.label, command: codeName(p.spec.command) },
      ),
    );
  }

  private rememberAbandoned(replyId: number): void {
    this.abandoned.push(replyId);
    if (this.abandoned.length > 16) this.abandoned.shift();
  }

  private onPacket(buf: Buffer): void {
    // Nothing may throw out of a socket handler: every failure is settled on the exchange or logged.
    try {
      this.route(buf);
    } catch (err) {
      this.opts.logger('error', `dropped a packet from ${this.opts.label}: ${(err as Error).message}`, {
        sample: hexSample(buf),
      });
    }
  }

  private route(buf: Buffer): void {
    const p = decodePacket(buf);
    if (!p) {
      this.stats.stalePackets++;
      this.opts.logger(
        'debug',
        `dropped a ${buf.length}-byte datagram from ${this.opts.label} (shorter than a header)`,
      );
      return;
    }
    this.stats.packetsIn++;
    this.lastPacketAt = Date.now();
    if (!p.checksumOk) {
      this.stats.checksumMismatches++;
      this.opts.logger('warn', `checksum mismatch from ${this.opts.label} (${codeName(p.command)})`, {
        sample: hexSample(buf, 32),
      });
      if (this.opts.strictChecksum) {
        const pend = this.pending;
        if (pend && p.replyId === pend.replyId) {
          pend.settle(
            new ZkProtocolError(`bad checksum in ${codeName(p.command)} from ${this.opts.label}`, {
              host: this.opts.label,
            }),
          );
        }
        return;
      }
    }
    if (p.command === Cmd.REG_EVENT) {
      this.onEventPacket(p);
      return;
    }
    const pend = this.pending;
    const matches = pend ? (pend.extra ? pend.extra.ids.delete(p.replyId) : p.replyId === pend.replyId) : false;
    if (!pend || !matches) {
      this.stats.stalePackets++;
      const late = this.abandoned.includes(p.replyId);
      this.opts.logger(
        'debug',
        `dropped ${late ? 'a late' : 'an unexpected'} ${codeName(p.command)} (reply id ${p.replyId}) from ${this.opts.label}`,
      );
      return;
    }
    let verdict: PacketVerdict;
    try {
      verdict = pend.spec.onPacket(p);
    } catch (err) {
      pend.settle(err instanceof Error ? err : new Error(String(err)));
      return;
    }
    if (verdict.done) pend.settle(null);
    else {
      // A pipelined exchange keeps its window full: one reply in, one request out.
      if (pend.extra) this.sendMore(pend, 1);
      if (pend.spec.idle) this.armTimer(pend);
    }
  }

  private onEventPacket(p: DecodedPacket): void {
    this.stats.events++;
    if (this.opts.ackEvents) {
      // ACK with the event's own reply id; the request counter does not advance (§9.4).
      this.stats.eventAcks++;
      this.sendRaw(Reply.ACK_OK, p.replyId);
    }
    const events: ZkEvent[] = decodeEvent(p.session, p.payload);
    for (const e of events) this.emit('event', e);
  }
}
