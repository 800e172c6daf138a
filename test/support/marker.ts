import type { WallClock } from '../../lib/protocol/time';
import { formatWallClock } from '../../lib/protocol/time';
import type { AttendanceRecord } from '../../lib/record/canonical';
import type { ZkSimulator } from '../../lib/sim';
import { until } from '../../support/wait';

/**
 * Punches a marker on `sim` and resolves, once the marker is among `out()`, with the records before it. Live
 * capture hands records on in order (live punches wait while a gap fill runs), so anything that would wrongly
 * come out, a repeat say, has come by then: the signal for "nothing more arrived", instead of a fixed sleep.
 */
export async function recordsBeforeMarker(
  sim: ZkSimulator,
  out: () => readonly AttendanceRecord[],
  userId: string,
  at: WallClock,
  ms = 5000,
): Promise<AttendanceRecord[]> {
  const localTime = formatWallClock(at);
  sim.punch({ userId, at });
  const found = await until(
    () => out().findIndex((x) => x.userId === userId && x.localTime === localTime) + 1,
    ms,
    `the marker punch of ${userId} at ${localTime}`,
  );
  return out().slice(0, found - 1);
}
