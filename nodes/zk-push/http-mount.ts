/**
 * Serving push servers on Node-RED's own HTTP server (RED.httpNode). One dispatching middleware per
 * express app, installed once; nodes add and remove their base path in its table, so a redeploy never
 * has to dig routes out of express's internals.
 */
import type { IncomingMessage, ServerResponse } from 'http';
import type { PushServer } from '../../lib/push/server';

type Next = (err?: unknown) => void;
interface UsableApp {
  use(fn: (req: IncomingMessage, res: ServerResponse, next: Next) => void): unknown;
}

const tables = new WeakMap<object, Map<string, PushServer>>();

export function mountPush(app: UsableApp, basePath: string, server: PushServer): () => void {
  let table = tables.get(app);
  if (!table) {
    const t = new Map<string, PushServer>();
    table = t;
    tables.set(app, t);
    app.use((req, res, next) => {
      for (const s of t.values()) {
        if (s.owns(req.url)) {
          void s.handle(req, res);
          return;
        }
      }
      next();
    });
  }
  if (table.has(basePath))
    throw new Error(
      `another zk-push node already serves ${basePath || '/'} on this Node-RED: give one of them another base path or its own port`,
    );
  table.set(basePath, server);
  const own = table;
  return () => {
    if (own.get(basePath) === server) own.delete(basePath);
  };
}
