/**
 * zk-push under node-red-node-test-helper for the push specs: registers the node while keeping hold of
 * RED.httpNode (the helper does not serve it, so a spec serves it on its own loopback server), and of each
 * PushServer the node starts (so a spec can drive its sweep with an explicit clock instead of waiting).
 */
import * as http from 'http';
import type { AddressInfo } from 'net';
import type { EventEmitter } from 'events';
import type { NodeAPI, NodeMessage } from 'node-red';
import zkPush = require('../../../nodes/zk-push/zk-push');
import { PushServer } from '../../../lib/push/server';
import { helper } from '../../support/node-red';

type RequestListener = (req: http.IncomingMessage, res: http.ServerResponse) => void;

export class RedPush {
  private httpNode: RequestListener | null = null;
  private front: http.Server | null = null;
  private original: PushServer['startSweeps'] | null = null;
  /** Every PushServer a zk-push node started, in order (the last one is the running node's). */
  readonly servers: PushServer[] = [];

  /** Pass to helper.load() instead of the node module itself. */
  readonly register = (RED: NodeAPI): void => {
    this.httpNode = RED.httpNode as unknown as RequestListener;
    zkPush(RED);
  };

  /** Records each PushServer whose sweeps start (the node starts them once it serves). Undone by close(). */
  watchServers(): void {
    if (this.original) return;
    const original = PushServer.prototype.startSweeps;
    this.original = original;
    const servers = this.servers;
    PushServer.prototype.startSweeps = function (this: PushServer, everyMs?: number): void {
      servers.push(this);
      original.call(this, everyMs);
    };
  }

  /** Serves RED.httpNode on a loopback port (what Node-RED's own HTTP server would do); returns its URL. */
  async serveHttpNode(): Promise<string> {
    const app = this.httpNode;
    if (!app) throw new Error('RED.httpNode was not captured: load the flow with RedPush.register first');
    const front = http.createServer((req, res) => app(req, res));
    this.front = front;
    await new Promise<void>((r) => front.listen(0, '127.0.0.1', r));
    return `http://127.0.0.1:${(front.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    if (this.original) PushServer.prototype.startSweeps = this.original;
    this.original = null;
    this.servers.length = 0;
    const front = this.front;
    this.front = null;
    if (front) {
      front.closeAllConnections();
      await new Promise((r) => front.close(r));
    }
  }
}

/** Collects what arrives at a helper node's input (the typings only know 'close' on nodes). */
export function collect(id: string, into: NodeMessage[]): void {
  (helper.getNode(id) as unknown as EventEmitter).on('input', (m: NodeMessage) => into.push(m));
}
