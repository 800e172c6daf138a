/**
 * Minimal raw protocol clients for the simulator tests: they speak through the codec only and record
 * every packet and every TCP read, so tests can assert on framing and order.
 */
import * as net from 'net';
import * as dgram from 'dgram';
import {
  Cmd,
  Reply,
  DecodedPacket,
  TcpFrameSplitter,
  decodePacket,
  encodePacket,
  frameTcp,
  encodePrepareBuffer,
  encodeReadBuffer,
  decodeBufferStat,
  BufferSelector,
  makeCommKey,
} from '../../lib/protocol';
import { sleep } from '../../support/wait';

abstract class RawBase {
  readonly packets: DecodedPacket[] = [];
  private readPos = 0;
  private waiter: (() => void) | null = null;
  session = 0;
  replyId = 0;

  protected deliver(p: DecodedPacket): void {
    this.packets.push(p);
    this.wake();
  }

  protected wake(): void {
    const w = this.waiter;
    this.waiter = null;
    w?.();
  }

  abstract sendPacket(command: number, payload?: Buffer, replyId?: number, session?: number): void;

  /** Next packet not yet consumed, in arrival order. */
  async next(timeoutMs = 2000): Promise<DecodedPacket> {
    const deadline = Date.now() + timeoutMs;
    while (this.readPos >= this.packets.length) {
      const left = deadline - Date.now();
      if (left <= 0 || this.isClosed())
        throw new Error(`no packet within ${timeoutMs} ms (closed: ${this.isClosed()})`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiter = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
    return this.packets[this.readPos++];
  }

  /** Resolves true if no further packet arrives within ms. */
  async silentFor(ms: number): Promise<boolean> {
    await sleep(ms);
    return this.readPos >= this.packets.length;
  }

  abstract isClosed(): boolean;

  /** Sends a command with the next reply id and returns the first packet of its answer. */
  async request(command: number, payload: Buffer = Buffer.alloc(0), timeoutMs = 2000): Promise<DecodedPacket> {
    this.replyId = (this.replyId + 1) % 65535;
    this.sendPacket(command, payload);
    return this.next(timeoutMs);
  }

  async connect(commKey?: number): Promise<DecodedPacket> {
    this.replyId = 0;
    this.sendPacket(Cmd.CONNECT, Buffer.alloc(0), 0, 0);
    const r = await this.next();
    this.session = r.session;
    if (r.command === Reply.ACK_UNAUTH && commKey !== undefined) {
      return this.request(Cmd.AUTH, makeCommKey(commKey, this.session));
    }
    return r;
  }

  /** A full buffered read done one step at a time (§7), returning the record bytes after total_size. */
  async download(selector: BufferSelector, chunkBytes = 65472): Promise<Buffer> {
    const first = await this.request(Cmd.PREPARE_BUFFER, encodePrepareBuffer(selector));
    let buf: Buffer;
    if (first.command === Cmd.DATA) {
      buf = Buffer.from(first.payload);
    } else if (first.command === Reply.ACK_OK) {
      const total = decodeBufferStat(first.payload);
      if (total === null) throw new Error('stat reply without payload');
      const parts: Buffer[] = [];
      for (let start = 0; start < total; start += chunkBytes) {
        parts.push(await this.readChunk(start, Math.min(chunkBytes, total - start)));
      }
      buf = Buffer.concat(parts);
    } else {
      throw new Error(`1503 answered with ${first.command}`);
    }
    await this.request(Cmd.FREE_DATA);
    if (buf.readUInt32LE(0) !== buf.length - 4)
      throw new Error(`total_size ${buf.readUInt32LE(0)} != ${buf.length - 4}`);
    return buf.subarray(4);
  }

  async readChunk(start: number, size: number): Promise<Buffer> {
    const prep = await this.request(Cmd.READ_BUFFER, encodeReadBuffer({ start, size }));
    if (prep.command !== Cmd.PREPARE_DATA) throw new Error(`expected PREPARE_DATA, got ${prep.command}`);
    return this.readChunkBody(prep.replyId, size);
  }

  /** DATA packets until ACK_OK, all with the given reply id. */
  async readChunkBody(replyId: number, size: number): Promise<Buffer> {
    const parts: Buffer[] = [];
    for (;;) {
      const p = await this.next();
      if (p.replyId !== replyId) throw new Error(`reply id ${p.replyId} inside chunk ${replyId}`);
      if (p.command === Cmd.DATA) parts.push(Buffer.from(p.payload));
      else if (p.command === Reply.ACK_OK) break;
      else throw new Error(`unexpected ${p.command} inside chunk`);
    }
    const out = Buffer.concat(parts);
    if (out.length !== size) throw new Error(`chunk has ${out.length} bytes, expected ${size}`);
    return out;
  }
}

export class RawTcp extends RawBase {
  /** Every 'data' event as received. */
  readonly reads: Buffer[] = [];
  private readonly splitter = new TcpFrameSplitter();
  private closedFlag = false;
  readonly closed: Promise<void>;

  private constructor(readonly socket: net.Socket) {
    super();
    socket.on('data', (d: Buffer) => {
      this.reads.push(d);
      for (const f of this.splitter.push(d)) {
        const p = decodePacket(f);
        if (p) this.deliver(p);
      }
    });
    socket.on('error', () => undefined);
    this.closed = new Promise((resolve) =>
      socket.on('close', () => {
        this.closedFlag = true;
        this.wake();
        resolve();
      }),
    );
  }

  static connectTo(port: number, host = '127.0.0.1'): Promise<RawTcp> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ port, host }, () => {
        s.off('error', reject);
        resolve(new RawTcp(s));
      });
      s.once('error', reject);
    });
  }

  isClosed(): boolean {
    return this.closedFlag;
  }

  sendPacket(command: number, payload: Buffer = Buffer.alloc(0), replyId = this.replyId, session = this.session): void {
    this.socket.write(frameTcp(encodePacket({ command, session, replyId, payload })));
  }

  close(): Promise<void> {
    this.socket.destroy();
    return this.closed;
  }
}

export class RawUdp extends RawBase {
  private closedFlag = false;
  readonly datagrams: Buffer[] = [];

  private constructor(
    readonly socket: dgram.Socket,
    readonly port: number,
    readonly host: string,
  ) {
    super();
    socket.on('message', (m: Buffer) => {
      this.datagrams.push(m);
      const p = decodePacket(m);
      if (p) this.deliver(p);
    });
  }

  static open(port: number, host = '127.0.0.1'): Promise<RawUdp> {
    return new Promise((resolve) => {
      const s = dgram.createSocket('udp4');
      s.bind(0, host, () => resolve(new RawUdp(s, port, host)));
    });
  }

  isClosed(): boolean {
    return this.closedFlag;
  }

  sendPacket(command: number, payload: Buffer = Buffer.alloc(0), replyId = this.replyId, session = this.session): void {
    this.sendRaw(encodePacket({ command, session, replyId, payload }));
  }

  sendRaw(bytes: Buffer): void {
    this.socket.send(bytes, this.port, this.host);
  }

  close(): Promise<void> {
    if (this.closedFlag) return Promise.resolve();
    this.closedFlag = true;
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }
}
