/**
 * UDP side: one datagram = one packet (§2.1). A peer (address:port) becomes a session with its CONNECT; a
 * request from an unknown peer gets ACK_UNAUTH without creating state. Short datagrams are dropped (counted).
 * Replies and realtime events go to the peer's address and port. The udpLoss fault drops outgoing
 * datagrams with a seeded probability.
 */
import * as dgram from 'dgram';
import { Cmd, Reply, decodePacket, encodePacket } from '../protocol';
import { SimConnection } from './connection';
import type { PacketSink } from './output-queue';
import type { Prng } from './prng';
import type { SimCounters, SimFaults } from './types';

/** Peers that never send EXIT would otherwise accumulate forever. */
const MAX_UDP_SESSIONS = 64;

class UdpSink implements PacketSink {
  readonly transport = 'udp';

  constructor(
    private readonly socket: dgram.Socket,
    private readonly address: string,
    private readonly port: number,
    private readonly counters: SimCounters,
    private readonly rng: Prng,
    private readonly faults: () => SimFaults,
    private readonly onEnd: () => void,
  ) {}

  keepsPacketBoundaries(): boolean {
    return true;
  }

  units(packets: readonly Buffer[]): Buffer[] {
    return [...packets];
  }

  write(unit: Buffer): Promise<void> {
    const loss = this.faults().udpLoss ?? 0;
    if (loss > 0 && this.rng.next() < loss) {
      this.counters.udpDropped++;
      return Promise.resolve();
    }
    this.counters.bytesSent += unit.length;
    return new Promise((resolve) => {
      try {
        this.socket.send(unit, this.port, this.address, () => resolve());
      } catch {
        // Socket already closed (stop() raced a queued reply): nothing to send to.
        resolve();
      }
    });
  }

  end(): void {
    this.onEnd();
  }
}

export interface UdpFrontHost {
  readonly counters: SimCounters;
  readonly rng: Prng;
  faults(): SimFaults;
  createConnection(sink: PacketSink, transport: 'udp', muted: boolean): SimConnection;
  connectionClosed(conn: SimConnection): void;
}

export class UdpFront {
  private socket: dgram.Socket | null = null;
  private readonly peers = new Map<string, SimConnection>();

  constructor(private readonly host: UdpFrontHost) {}

  bind(host: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      const socket = dgram.createSocket({ type: host.includes(':') ? 'udp6' : 'udp4' });
      const onError = (err: Error): void => {
        socket.close();
        reject(err);
      };
      socket.once('error', onError);
      socket.bind({ address: host, port, exclusive: true }, () => {
        socket.off('error', onError);
        socket.on('error', () => undefined);
        socket.on('message', (msg, rinfo) => this.onMessage(msg, rinfo));
        this.socket = socket;
        resolve(socket.address().port);
      });
    });
  }

  /** Forgets every peer session (restart, stop). */
  dropAll(): void {
    for (const conn of this.peers.values()) this.forget(conn);
    this.peers.clear();
  }

  close(): Promise<void> {
    this.dropAll();
    const s = this.socket;
    this.socket = null;
    if (!s) return Promise.resolve();
    return new Promise((resolve) => s.close(() => resolve()));
  }

  private forget(conn: SimConnection): void {
    if (conn.isClosed) return;
    conn.close();
    this.host.counters.openConnections--;
    this.host.connectionClosed(conn);
  }

  private silent = false;

  /** While set (a restarting device), every datagram is ignored. */
  setSilent(on: boolean): void {
    this.silent = on;
  }

  private onMessage(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    const socket = this.socket;
    if (!socket || this.silent) return;
    const pkt = decodePacket(msg);
    if (!pkt) {
      this.host.counters.shortDatagrams++;
      return;
    }
    const key = `${rinfo.address}:${rinfo.port}`;
    let conn = this.peers.get(key);
    if (!conn && pkt.command === Cmd.CONNECT) {
      if (this.peers.size >= MAX_UDP_SESSIONS) {
        const oldest = this.peers.keys().next().value as string;
        const c = this.peers.get(oldest);
        this.peers.delete(oldest);
        if (c) this.forget(c);
      }
      const sink = new UdpSink(
        socket,
        rinfo.address,
        rinfo.port,
        this.host.counters,
        this.host.rng,
        () => this.host.faults(),
        () => {
          const c = this.peers.get(key);
          if (c) {
            this.peers.delete(key);
            this.forget(c);
          }
        },
      );
      conn = this.host.createConnection(sink, 'udp', false);
      this.peers.set(key, conn);
      this.host.counters.connections++;
      this.host.counters.openConnections++;
    }
    if (conn) {
      conn.receive(pkt);
      return;
    }
    // Unknown peer: count it like any request, then refuse it without keeping state (client ACKs get nothing).
    const c = this.host.counters;
    c.commandsSeen[pkt.command] = (c.commandsSeen[pkt.command] ?? 0) + 1;
    if (!pkt.checksumOk) c.checksumMismatches++;
    if (pkt.command === Reply.ACK_OK) return;
    const out = encodePacket({
      command: Reply.ACK_UNAUTH,
      session: pkt.session,
      replyId: pkt.replyId,
      payload: Buffer.alloc(0),
    });
    c.bytesSent += out.length;
    socket.send(out, rinfo.port, rinfo.address, () => undefined);
  }
}
