/** Several simulated push devices against one server (`zk sim --push`, bench/push). */
import * as http from 'http';
import { PushDevice, PushDeviceOptions } from './push-device';

export interface PushFleetOptions extends Omit<PushDeviceOptions, 'serial' | 'agent'> {
  devices: number;
  /** Serial prefix; device i gets `<prefix><i, 4 digits>`. */
  serialPrefix?: string;
}

export function pushSerial(prefix: string, i: number): string {
  return `${prefix}${String(i + 1).padStart(4, '0')}`;
}

export function createPushDevices(o: PushFleetOptions): { devices: PushDevice[]; agent: http.Agent } {
  // One keep-alive agent; each device has one request in flight at a time, so about one socket per device.
  const agent = new http.Agent({ keepAlive: true });
  const devices: PushDevice[] = [];
  for (let i = 0; i < o.devices; i++) {
    devices.push(
      new PushDevice({ ...o, serial: pushSerial(o.serialPrefix ?? 'PFSIM', i), seed: (o.seed ?? 1) + i, agent }),
    );
  }
  return { devices, agent };
}

/** Starts them all; resolves once every device had its start-up request accepted (or `readyTimeoutMs` passed). */
export async function startPushDevices(
  o: PushFleetOptions,
  readyTimeoutMs = 30_000,
): Promise<{ devices: PushDevice[]; stop: () => Promise<void> }> {
  const { devices, agent } = createPushDevices(o);
  for (const d of devices) d.start();
  const stop = async (): Promise<void> => {
    await Promise.all(devices.map((d) => d.stop()));
    agent.destroy();
  };
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new Error(
            `the push server at ${o.url} did not accept the simulated devices within ${readyTimeoutMs} ms (is it running, are the serials on its device list?)`,
          ),
        ),
      readyTimeoutMs,
    );
  });
  try {
    await Promise.race([Promise.all(devices.map((d) => d.ready)), timeout]);
  } catch (err) {
    await stop();
    throw err;
  } finally {
    clearTimeout(timer);
  }
  return { devices, stop };
}
