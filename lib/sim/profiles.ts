/** Device profiles (docs/zk-protocol.md §11.1): record layouts and reply sizes of the firmware families. */
import type { AttendanceRecordSize, UserRecordSize } from '../protocol';
import type { SimProfileName } from './types';

export interface SimProfile {
  name: SimProfileName;
  attendanceSize: AttendanceRecordSize;
  userSize: UserRecordSize;
  /** GET_FREE_SIZES: 92 bytes with the face block, else 80. */
  freeSizesWithFaces: boolean;
  eventBodyTcp: number;
  eventBodyUdp: number;
  /** The 16/28-byte layouts store the user id as a u32: ids must be numeric. */
  numericUserIds: boolean;
  deviceName: string;
  platform: string;
  firmware: string;
  usersCapacity: number;
  recordsCapacity: number;
}

const PROFILES: Readonly<Record<SimProfileName, SimProfile>> = {
  tft: {
    name: 'tft',
    attendanceSize: 40,
    userSize: 72,
    freeSizesWithFaces: true,
    eventBodyTcp: 32,
    eventBodyUdp: 32,
    numericUserIds: false,
    deviceName: 'SIM-TFT',
    platform: 'ZMM220_TFT',
    firmware: 'Ver 6.60 Jan 01 2020',
    usersCapacity: 3000,
    recordsCapacity: 100000,
  },
  zk6: {
    name: 'zk6',
    attendanceSize: 16,
    userSize: 28,
    freeSizesWithFaces: false,
    eventBodyTcp: 12,
    eventBodyUdp: 10,
    numericUserIds: true,
    deviceName: 'SIM-ZK6',
    platform: 'ZEM560',
    firmware: 'Ver 6.39 Apr 28 2008',
    usersCapacity: 3000,
    recordsCapacity: 100000,
  },
  compact8: {
    name: 'compact8',
    attendanceSize: 8,
    userSize: 28,
    freeSizesWithFaces: false,
    eventBodyTcp: 10,
    eventBodyUdp: 10,
    numericUserIds: true,
    deviceName: 'SIM-C8',
    platform: 'ZEM300',
    firmware: 'Ver 6.21 Nov 19 2005',
    usersCapacity: 1500,
    recordsCapacity: 50000,
  },
  tft49: {
    name: 'tft49',
    attendanceSize: 49,
    userSize: 72,
    freeSizesWithFaces: true,
    eventBodyTcp: 52,
    eventBodyUdp: 52,
    numericUserIds: false,
    deviceName: 'SIM-TFT49',
    platform: 'ZMM510_TFT',
    firmware: 'Ver 6.60 Sep 10 2022',
    usersCapacity: 10000,
    recordsCapacity: 200000,
  },
};

export function getProfile(name: SimProfileName): SimProfile {
  const p = PROFILES[name];
  if (!p) throw new RangeError(`unknown simulator profile "${String(name)}" (tft, zk6, compact8, tft49)`);
  return p;
}
