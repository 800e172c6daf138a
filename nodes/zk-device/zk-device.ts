import type { NodeAPI, Node } from 'node-red';
import type { Request, Response } from 'express';
import { DeviceSession, sessionRegistry, testConnection } from '../../lib/device';
import { hostTimeZone } from '../../lib/record/zone';
import { deviceConfigFromDef, ZkDeviceDef } from './device-node-config';
import type { ZkDeviceCredentials, ZkDeviceNode } from './zk-device-api';
import { nodeLogger } from '../shared/runtime';

/** The "Test connection" request body: the editor's current (possibly unsaved) settings. */
interface TestRequestBody extends Partial<ZkDeviceDef> {
  id?: string;
  commKey?: string;
}

export = (RED: NodeAPI): void => {
  function ZkDevice(this: ZkDeviceNode, def: ZkDeviceDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    const creds: ZkDeviceCredentials = node.credentials ?? {};
    const users = new Map<string, Node>();
    let session: DeviceSession | null = null;
    let configError: Error | null = null;
    try {
      node.deviceConfig = deviceConfigFromDef(def, creds.commKey);
    } catch (err) {
      configError = err as Error;
      node.error(`zk-device ${def.name || def.host}: ${configError.message}`);
    }
    // No status fan-out to users (unlike MQTT's config node): zk-poll and zk-live show richer per-device
    // status of their own (progress, counts), which a plain "online" from here would overwrite.

    node.acquire = (user: Node): DeviceSession => {
      if (configError) throw configError;
      users.set(user.id, user);
      if (!session) {
        session = sessionRegistry.acquire(node.deviceConfig, { logger: nodeLogger(node) });
      }
      return session;
    };

    node.release = async (user: Node): Promise<void> => {
      users.delete(user.id);
      if (users.size === 0 && session) {
        const s = session;
        session = null;
        await sessionRegistry.release(s);
      }
    };

    node.on('close', (_removed: boolean, done: () => void) => {
      // Runs concurrently with the users' close handlers: idempotent, and never waits on them.
      const s = session;
      session = null;
      users.clear();
      if (!s) return done();
      sessionRegistry.release(s).then(done, () => done());
    });
  }

  RED.nodes.registerType<ZkDeviceNode, ZkDeviceDef, Record<string, never>, ZkDeviceCredentials>('zk-device', ZkDevice, {
    credentials: { commKey: { type: 'password' } },
  });

  // The editor shows the Node-RED host's zone as the default time zone.
  RED.httpAdmin.get(
    '/zk-device/defaults',
    RED.auth.needsPermission('zk-device.read'),
    (_req: Request, res: Response) => {
      res.json({ tz: hostTimeZone() });
    },
  );

  // Test connection with the editor's current settings (saved or not). A comm key left as the password
  // placeholder means "the one stored for this node".
  RED.httpAdmin.post('/zk-device/test', RED.auth.needsPermission('zk-device.write'), (req: Request, res: Response) => {
    const body = (req.body ?? {}) as TestRequestBody;
    let commKey = body.commKey;
    if ((commKey === undefined || commKey === '__PWRD__') && body.id) {
      const stored = RED.nodes.getCredentials(body.id) as ZkDeviceCredentials | undefined;
      commKey = stored?.commKey;
    }
    if (commKey === '__PWRD__') commKey = undefined;
    let cfg;
    try {
      cfg = deviceConfigFromDef({ ...body, host: String(body.host ?? '') }, commKey);
    } catch (err) {
      res.status(400).json({ ok: false, error: (err as Error).message, code: 'BAD_INPUT' });
      return;
    }
    testConnection(cfg, sessionRegistry).then(
      (r) => res.json(r),
      (err: Error) => res.status(500).json({ ok: false, error: err.message, code: 'ERROR' }),
    );
  });
};
