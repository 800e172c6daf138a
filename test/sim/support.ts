import { strict as assert } from 'assert';
import { AttendanceInput, DeviceAttendance } from '../../lib/protocol';
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

export function assertSameRecords(got: readonly DeviceAttendance[], want: readonly AttendanceInput[], uidOnly = false): void {
  assert.equal(got.length, want.length, 'record count');
  for (let i = 0; i < want.length; i++) {
    const g = got[i];
    const w = want[i];
    if (uidOnly) assert.equal(g.uid, w.uid, `uid of record ${i}`);
    else assert.equal(g.userId, w.userId, `userId of record ${i}`);
    assert.deepEqual(g.time, w.time, `time of record ${i}`);
    assert.equal(g.verify, w.verify, `verify of record ${i}`);
    assert.equal(g.state, w.state, `state of record ${i}`);
  }
}
