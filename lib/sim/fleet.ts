/** Starts several simulators on consecutive ports (or consecutive 127.0.0.x hosts) for multi-device tests. */
import { ZkSimulator } from './simulator';
import type { SimOptions } from './types';

export interface FleetOptions extends SimOptions {
  devices: number;
  /** First port; device i gets basePort + i. 0 or unset: every device gets an ephemeral port. */
  basePort?: number;
  /** e.g. '127.0.0.1': device i listens on 127.0.0.(1 + i) (all on `basePort` unless that is 0). */
  baseHost?: string;
}

function nthHost(base: string, i: number): string {
  const m = /^(\d+\.\d+\.\d+\.)(\d+)$/.exec(base);
  if (!m || Number(m[2]) + i > 254) throw new RangeError(`baseHost "${base}" cannot host ${i + 1} devices`);
  return `${m[1]}${Number(m[2]) + i}`;
}

/** Each device gets seed + i (so different serials and data). On any failure the started ones are stopped. */
export async function startSimulators(opts: FleetOptions): Promise<ZkSimulator[]> {
  const { devices, basePort, baseHost, ...rest } = opts;
  const sims: ZkSimulator[] = [];
  try {
    for (let i = 0; i < devices; i++) {
      const host = baseHost ? nthHost(baseHost, i) : rest.host;
      const port = basePort ? (baseHost ? basePort : basePort + i) : 0;
      const sim = new ZkSimulator({
        ...rest,
        host,
        port,
        seed: (rest.seed ?? 1) + i,
        serial: rest.serial ? `${rest.serial}-${i + 1}` : undefined,
      });
      sims.push(sim);
      await sim.start();
    }
  } catch (err) {
    await Promise.all(sims.map((s) => s.stop()));
    throw err;
  }
  return sims;
}
