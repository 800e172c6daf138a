/**
 * Deterministic users and punches from a seed. Punches lie in the past (ending a minute before the device's
 * "now"), strictly increasing in time (so (userId, time) is unique), with valid state 0–5 and verify 0/1/2/15.
 * Times are computed in wall-clock seconds (zone-free arithmetic on the device's fields), see clock.ts.
 */
import { AttendanceInput, UserInput, WallClock, encodeTime, wallClockFromEpoch, wallClockSeconds } from '../protocol';
import { Prng } from './prng';
import { generatedName } from './names';
import type { SimProfile } from './profiles';
import type { SimNameEncoding, SimUserIds } from './types';

export const VERIFY_TYPES: readonly number[] = [0, 1, 2, 15];

/** Index of the 24-character user id in TFT profiles (the third user), for tests that catch truncation. */
export const LONG_ID_INDEX = 2;
/** Index of a user id with leading zeros in TFT profiles (the fifth user): ids are strings, not numbers. */
export const LEADING_ZERO_INDEX = 4;

/**
 * `ids` 'edge' (the default for tests) gives TFT profiles a 24-digit id and one with leading zeros, the ids that
 * older clients cut or renumber; 'plain' numbers everyone from the base, which reads better in a demo.
 */
export function generateUsers(
  rng: Prng,
  count: number,
  profile: SimProfile,
  enc: SimNameEncoding,
  ids: SimUserIds = 'edge',
): UserInput[] {
  // Numeric ids below 65536, so clients that read them as u16 (node-zklib over UDP) still see the right value.
  const base = 1000 + rng.int(0, 80) * 100;
  const users: UserInput[] = [];
  for (let i = 0; i < count; i++) {
    let userId = String(base + i);
    if (ids === 'edge' && !profile.numericUserIds && count >= 3 && i === LONG_ID_INDEX) {
      userId = String(rng.int(1, 9));
      while (userId.length < 24) userId += String(rng.int(0, 9));
    } else if (ids === 'edge' && !profile.numericUserIds && count >= 5 && i === LEADING_ZERO_INDEX) {
      userId = `00${base + i}`;
    }
    const fieldBytes = profile.userSize === 72 ? 24 : 8;
    users.push({
      uid: i + 1,
      userId,
      name: generatedName(i, rng.int(0, 1000), rng.int(0, 1000), enc, fieldBytes),
      // Every tenth user is an admin (level 3 → 14); the rest are normal users.
      privilege: i % 10 === 0 ? 14 : 0,
      password: i % 4 === 0 ? String(1000 + rng.int(0, 8999)) : '',
      cardNo: i % 3 === 0 ? rng.int(100000, 9999999) : 0,
      group: 1,
    });
  }
  return users;
}

/** Average gap so that the log spans about 30 days whatever its size (at least 1 s, at most 1 h). */
function averageGapSec(count: number): number {
  return Math.max(1, Math.min(3600, Math.floor((30 * 86400) / Math.max(1, count))));
}

export function generatePunches(
  rng: Prng,
  users: readonly UserInput[],
  count: number,
  now: WallClock,
): AttendanceInput[] {
  if (count <= 0 || users.length === 0) return [];
  const avg = averageGapSec(count);
  const gaps = new Uint32Array(count);
  let total = 0;
  for (let i = 0; i < count; i++) {
    gaps[i] = 1 + Math.floor(rng.next() * (2 * avg - 1));
    total += gaps[i];
  }
  const end = wallClockSeconds(now) - 60;
  let t = end - total;
  const out = new Array<AttendanceInput>(count);
  for (let i = 0; i < count; i++) {
    t += gaps[i];
    const u = users[Math.floor(rng.next() * users.length)];
    out[i] = {
      uid: u.uid,
      userId: u.userId,
      verify: VERIFY_TYPES[Math.floor(rng.next() * VERIFY_TYPES.length)],
      state: Math.floor(rng.next() * 6),
      time: wallClockFromEpoch(t * 1000),
      workCode: 0,
    };
  }
  return out;
}

/** Raw u32 times no valid calendar has (invalidTimestamps fault): Feb 31, year 2063 (far future), 0. */
export function invalidRawTime(kind: 'feb31' | 'year2063' | 'zero', now: WallClock): number {
  if (kind === 'zero') return 0;
  const year = kind === 'year2063' ? 2063 : now.year;
  const month = kind === 'feb31' ? 2 : now.month;
  const day = kind === 'feb31' ? 31 : Math.min(now.day, 28);
  // encodeTime does not validate, which is exactly what lets it produce an impossible date.
  return encodeTime({ year, month, day, hour: 9, minute: 0, second: 0 });
}
