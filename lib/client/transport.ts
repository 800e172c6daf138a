import * as net from 'net';
import * as dgram from 'dgram';
import { EventEmitter } from 'events';
import { frameTcp, TcpFrameSplitter } from '../protocol/tcp-framing';
import { ZkConnectionError, ZkProtocolError, ZkTimeoutError, ZkError } from '../errors';

/**
 * One packet pipe to a device. Emits 'packet' (Buffer: header + payload, no prefix), 'error' (ZkError)
 * and 'close' exactly once. Exactly one data/error/close listener per socket, installed at open: earlier
 * Node clients leaked one per request (docs/zk-protocol.md §10 #4).
 */
export interface Transport extends EventEmitter {
  readonly kind: 'tcp' | 'udp';
  readonly label: string;
  send(packet: Buffer): void;
  close(): void;
}

export interface OpenOptions {
  host: string;
  port: number;
  connectTimeoutMs: number;
  maxFrameBytes?: number;
}

function describeSocketError(err: NodeJS.ErrnoException, label: string, kind: string): ZkConnectionError {
  const why =
    err.code === 'ECONNREFUSED'
      ? 'connection refused — check the host, the port and that the device is on'
      : err.code === 'ECONNRESET'
        ? 'connection reset by the device — another client may be connected'
        : err.code === 'EHOSTUNREACH' || err.code === 'ENETUNREACH'
          ? 'host unreachable — check the address and the network route'
          : err.code === 'ENOTFOUND' || err.code === 'EAI_AGAIN'
            ? 'host name not found — check the address'
            : err.message;
  return new ZkConnectionError(`cannot talk to ${label} over ${kind.toUpperCase()}: ${why}`, {
    host: label,
    errno: err.code,
  });
}

/**
 * A port that answers our binary CONNECT with `HTTP/…` is a web server (a push-mode device's ADMS port, a
 * router page), not the pull protocol: say that instead of quoting the bytes of a bad frame.
 */
function httpAnswerError(first: Buffer, label: string): ZkProtocolError | null {
  if (first.length < 5 || first.subarray(0, 5).toString('latin1') !== 'HTTP/') return null;
  const line = first.subarray(0, Math.min(first.length, 80)).toString('latin1').split(/\r?\n/)[0];
  return new ZkProtocolError(
    `${label} answers HTTP ("${line}"), not the ZK protocol: perhaps a push-mode (ADMS/iclock) device or a web page. ` +
      'Check the port (pull-mode devices listen on 4370); a device that pushes belongs on a zk-push node',
    { host: label },
    'BAD_FRAME',
  );
}

class TcpTransport extends EventEmitter implements Transport {
  readonly kind = 'tcp' as const;
  private closed = false;
  /** The first bytes the peer sent (up to 80), to tell an HTTP answer from a broken frame. */
  private head: Buffer = Buffer.alloc(0);
  private readonly splitter: TcpFrameSplitter;
  constructor(
    private readonly socket: net.Socket,
    readonly label: string,
    maxFrameBytes?: number,
  ) {
    super();
    this.splitter = new TcpFrameSplitter({ maxFrameBytes });
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      if (this.closed) return;
      if (this.head.length < 80) this.head = Buffer.concat([this.head, chunk.subarray(0, 80 - this.head.length)]);
      let packets: Buffer[];
      try {
        packets = this.splitter.push(chunk);
      } catch (err) {
        // A broken stream cannot be resynchronised safely: report and close.
        const http = httpAnswerError(this.head, label);
        this.fail(http ?? (err instanceof ZkError ? err : new ZkConnectionError(String(err), { host: label })));
        return;
      }
      for (const p of packets) {
        if (this.closed) return;
        this.emit('packet', p);
      }
    });
    socket.on('error', (err: NodeJS.ErrnoException) => this.fail(describeSocketError(err, label, 'tcp')));
    socket.on('close', () => this.finish());
  }
  send(packet: Buffer): void {
    if (this.closed) throw new ZkConnectionError(`connection to ${this.label} is closed`, { host: this.label });
    this.socket.write(frameTcp(packet));
  }
  close(): void {
    this.finish();
  }
  private fail(err: ZkError): void {
    if (this.closed) return;
    this.emit('error', err);
    this.finish();
  }
  private finish(): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.destroy();
    this.emit('close');
  }
}

class UdpTransport extends EventEmitter implements Transport {
  readonly kind = 'udp' as const;
  private closed = false;
  constructor(
    private readonly socket: dgram.Socket,
    readonly label: string,
  ) {
    super();
    // A connected UDP socket only receives datagrams from the device's address and port.
    socket.on('message', (msg: Buffer) => {
      if (!this.closed) this.emit('packet', msg);
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (this.closed) return;
      this.emit('error', describeSocketError(err, label, 'udp'));
      this.finish();
    });
    socket.on('close', () => this.finish());
  }
  send(packet: Buffer): void {
    if (this.closed) throw new ZkConnectionError(`connection to ${this.label} is closed`, { host: this.label });
    this.socket.send(packet);
  }
  close(): void {
    this.finish();
  }
  private finish(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      this.socket.close();
    } catch {
      // already closed
    }
    this.emit('close');
  }
}

export function openTcp(o: OpenOptions): Promise<Transport> {
  const label = `${o.host}:${o.port}`;
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: o.host, port: o.port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(
        new ZkTimeoutError(
          `no TCP connection to ${label} within ${o.connectTimeoutMs} ms — check the host, port and firewall`,
          { host: label },
        ),
      );
    }, o.connectTimeoutMs);
    const onError = (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      socket.destroy();
      reject(describeSocketError(err, label, 'tcp'));
    };
    socket.once('error', onError);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.off('error', onError);
      resolve(new TcpTransport(socket, label, o.maxFrameBytes));
    });
  });
}

export function openUdp(o: OpenOptions): Promise<Transport> {
  const label = `${o.host}:${o.port}`;
  const type = net.isIPv6(o.host) ? 'udp6' : 'udp4';
  return new Promise((resolve, reject) => {
    const socket = dgram.createSocket(type);
    const onError = (err: NodeJS.ErrnoException) => {
      try {
        socket.close();
      } catch {
        // not open
      }
      reject(describeSocketError(err, label, 'udp'));
    };
    socket.once('error', onError);
    // connect() binds an ephemeral local port: a bind error is an error, not success (docs/zk-protocol.md §10 #14).
    socket.connect(o.port, o.host, () => {
      socket.off('error', onError);
      resolve(new UdpTransport(socket, label));
    });
  });
}
