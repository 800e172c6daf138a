/**
 * A push server on its own port (docs/adms.md §7: devices want `/iclock` at the root, and Node-RED's
 * httpNodeRoot or httpNodeAuth can be in the way). Plain Node http, no framework.
 */
import * as http from 'http';
import type { AddressInfo } from 'net';
import type { PushServer } from './server';

export interface PushListener {
  readonly port: number;
  readonly host: string;
  close(): Promise<void>;
}

/** How long close() lets requests in progress finish before it cuts their connections. */
const CLOSE_GRACE_MS = 5000;

export async function listenPush(server: PushServer, port: number, host = '0.0.0.0'): Promise<PushListener> {
  /** Requests being answered: on close they finish (and then close their connection) rather than being cut. */
  const inFlight = new Set<http.ServerResponse>();
  let closing = false;
  // Node's own limit on a whole request is a backstop behind the server's body deadline (408), never before it.
  const requestTimeout = Math.max(60_000, server.bodyTimeoutMs + 30_000);
  const http1 = http.createServer({ requestTimeout, headersTimeout: 30_000, keepAliveTimeout: 65_000 }, (req, res) => {
    if (closing) res.setHeader('Connection', 'close');
    inFlight.add(res);
    res.once('close', () => inFlight.delete(res));
    if (!server.owns(req.url)) {
      req.resume();
      res.writeHead(404, { 'Content-Type': 'text/plain' });
      res.end('NOT FOUND');
      return;
    }
    void server.handle(req, res);
  });
  // Many devices behind one NAT share few addresses; the default limits are fine, only guard against floods.
  http1.maxHeadersCount = 100;
  await new Promise<void>((resolve, reject) => {
    http1.once('error', reject);
    http1.listen(port, host, () => {
      http1.off('error', reject);
      resolve();
    });
  });
  http1.on('clientError', (_err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    else socket.destroy();
  });
  const addr = http1.address() as AddressInfo;
  return {
    port: addr.port,
    host: addr.address,
    close: () =>
      new Promise<void>((resolve) => {
        closing = true;
        // A post being journaled still gets its OK: cutting it after the journal write makes the device send
        // the batch again, and the records come out twice. Its connection closes after that reply.
        for (const res of inFlight) if (!res.headersSent) res.setHeader('Connection', 'close');
        const cut = setTimeout(() => http1.closeAllConnections(), CLOSE_GRACE_MS);
        http1.close(() => {
          clearTimeout(cut);
          resolve();
        });
        // Devices keep connections alive between heartbeats: do not wait for idle ones.
        http1.closeIdleConnections();
      }),
  };
}
