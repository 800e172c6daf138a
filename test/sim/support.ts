import { ZkSimulator, SimOptions } from '../../lib/sim';

export const HOST = '127.0.0.1';

/** Starts a simulator, runs fn, always stops it. */
export async function withSim(opts: SimOptions, fn: (sim: ZkSimulator, port: number) => Promise<void>): Promise<void> {
  const sim = new ZkSimulator({ host: HOST, port: 0, ...opts });
  const { port } = await sim.start();
  try {
    await fn(sim, port);
  } finally {
    await sim.stop();
  }
}
