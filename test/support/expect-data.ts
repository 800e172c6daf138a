import { strict as assert } from 'assert';
import type { AttendanceInput, DeviceAttendance, DeviceUser, UserInput } from '../../lib/protocol';
import { formatWallClock } from '../../lib/protocol';

const attKey = (userId: string, time: string, state: number, verify: number) => `${userId}|${time}|${state}|${verify}`;

/** The downloaded log equals the expected list (usually the simulator's own), record for record, in order. */
export function assertSameAttendance(
  actual: readonly DeviceAttendance[],
  expectedRecords: readonly AttendanceInput[],
): void {
  const expected = expectedRecords.map((r) => attKey(r.userId, formatWallClock(r.time), r.state, r.verify));
  const got = actual.map((r) => attKey(r.userId, formatWallClock(r.time), r.state, r.verify));
  assert.equal(got.length, expected.length, `record count: got ${got.length}, expected ${expected.length}`);
  for (let i = 0; i < got.length; i++) {
    if (got[i] !== expected[i]) assert.fail(`record ${i}: got ${got[i]}, expected ${expected[i]}`);
  }
}

/** The user list equals the expected one, user for user, in order: uid, user id, name and card number. */
export function assertSameUsers(actual: readonly DeviceUser[], expectedUsers: readonly UserInput[]): void {
  const row = (u: { uid: number; userId: string; name?: string; cardNo?: number }) =>
    `${u.uid}|${u.userId}|${u.name ?? ''}|${u.cardNo ?? 0}`;
  assert.deepEqual(actual.map(row), expectedUsers.map(row), 'users (uid|userId|name|cardNo)');
}
