import { ZkClient, DeviceInfo } from '../client';
import { ZkError } from '../errors';
import { DeviceConfig, deviceKey } from './device-config';
import { SessionRegistry } from './device-session';

export type TestConnectionResult =
  { ok: true; info: DeviceInfo; sharedSession: boolean } | { ok: false; error: string; code: string };

/**
 * "Test connection" for the editor: serial, model, counts, capacity, time and drift, or the error in plain
 * words. Uses the device's shared session when a node already holds one (a device serves one client at a
 * time), otherwise a short-lived connection of its own.
 */
export async function testConnection(cfg: DeviceConfig, registry: SessionRegistry): Promise<TestConnectionResult> {
  try {
    const shared = registry.find(deviceKey(cfg));
    if (shared) return { ok: true, info: await shared.info(), sharedSession: true };
    const c = new ZkClient({
      host: cfg.host,
      port: cfg.port,
      transport: cfg.transport,
      commKey: cfg.commKey,
      timeoutMs: cfg.timeoutMs,
      tz: cfg.tz,
      nameEncoding: cfg.nameEncoding,
    });
    try {
      await c.connect();
      return { ok: true, info: await c.info(), sharedSession: false };
    } finally {
      await c.close();
    }
  } catch (err) {
    const e = err as Error;
    return { ok: false, error: e.message, code: err instanceof ZkError ? err.code : 'ERROR' };
  }
}
