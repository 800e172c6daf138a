/**
 * TCP side of the simulator: the listener, one SimConnection per socket, the stream splitter (§2.6) and
 * the write modes of §11.3. Every byte from the network is untrusted: a bad magic or length closes that
 * connection (counted), and nothing is thrown out of a socket handler.
 */
import * as net from 'net';
import { TcpFrameSplitter, decodePacket, frameTcp } from '../protocol';
import { SimConnection } from './connection';
import type { PacketSink } from './output-queue';
import type { SimCounters, SimFaults } from './types';

class TcpSink implements PacketSink {
  readonly transport = 'tcp';

  constructor(
    private readonly socket: net.Socket,
    private readonly counters: SimCounters,
  ) {}

  keepsPacketBoundaries(f: SimFaults): boolean {
    return (f.writeMode ?? 'separate') === 'separate';
  }

  units(packets: readonly Buffer[], f: SimFaults): Buffer[] {
    const frames = packets.map((p) => frameTcp(p));
    const mode = f.writeMode ?? 'separate';
    if (mode === 'separate') return frames;
    const all = Buffer.concat(frames);
    if (mode === 'coalesced') return [all];
    const seg = mode === 'mss536' ? 536 : mode === 'mss1460' ? 1460 : 1;
    const out: Buffer[] = [];
    for (let off = 0; off < all.length; off += seg) out.push(all.subarray(off, off + seg));
    return out;
  }

  write(unit: Buffer): Promise<void> {
    if (this.socket.destroyed || !this.socket.writable) return Promise.resolve();
    this.counters.bytesSent += unit.length;
    // The callback also runs (with an error) if the socket is destroyed first, so this always settles.
    return new Promise((resolve) => this.socket.write(unit, () => resolve()));
  }

  end(): void {
    if (!this.socket.destroyed) this.socket.end();
  }
}

export type Admission = 'accept' | 'refuse' | 'mute';

export interface TcpFrontHost {
  readonly counters: SimCounters;
  faults(): SimFaults;
  /** multiClient policy for a new connection. */
  admit(): Admission;
  createConnection(sink: PacketSink, transport: 'tcp', muted: boolean): SimConnection;
  connectionClosed(conn: SimConnection): void;
}

export class TcpFront {
  private server: net.Server | null = null;
  private readonly sockets = new Set<net.Socket>();

  constructor(private readonly host: TcpFrontHost) {}

  get listening(): boolean {
    return this.server !== null;
  }

  /** Resolves with the bound port. */
  listen(host: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      const server = net.createServer((s) => this.onSocket(s));
      const onError = (err: Error): void => {
        server.close();
        reject(err);
      };
      server.once('error', onError);
      server.listen({ host, port, exclusive: true }, () => {
        server.off('error', onError);
        // Later server errors (EMFILE…) must not crash the process; accept() simply keeps failing.
        server.on('error', () => undefined);
        this.server = server;
        resolve((server.address() as net.AddressInfo).port);
      });
    });
  }

  /** Stops accepting; existing connections stay (tcpMode 'refuse' at runtime). */
  closeListener(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (!server) return Promise.resolve();
    return new Promise((resolve) => server.close(() => resolve()));
  }

  /** Destroys every open connection (restart, stop). */
  dropAll(): void {
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
  }

  private onSocket(socket: net.Socket): void {
    this.sockets.add(socket);
    this.host.counters.connections++;
    this.host.counters.openConnections++;
    socket.setNoDelay(true);
    let conn: SimConnection | null = null;
    socket.on('error', () => undefined); // resets from clients are normal; 'close' follows
    socket.on('close', () => {
      this.sockets.delete(socket);
      this.host.counters.openConnections--;
      if (conn) {
        conn.close();
        this.host.connectionClosed(conn);
      }
    });
    const f = this.host.faults();
    if ((f.tcpMode ?? 'accept') === 'blackhole') {
      // Accepted but never read or answered: the client's CONNECT times out.
      socket.pause();
      return;
    }
    const admission = this.host.admit();
    if (admission === 'refuse') {
      this.host.counters.refusedConnections++;
      socket.destroy();
      return;
    }
    const c = this.host.createConnection(new TcpSink(socket, this.host.counters), 'tcp', admission === 'mute');
    conn = c;
    const splitter = new TcpFrameSplitter();
    socket.on('data', (chunk: Buffer) => {
      let packets: Buffer[];
      try {
        packets = splitter.push(chunk);
      } catch {
        this.host.counters.malformedFrames++;
        c.close();
        socket.destroy();
        return;
      }
      for (const p of packets) {
        const d = decodePacket(p);
        if (d) c.receive(d);
      }
    });
  }

  async close(): Promise<void> {
    const closing = this.closeListener();
    this.dropAll();
    await closing;
  }
}
