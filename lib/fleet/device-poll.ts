/**
 * The per-device step both the zk-poll node and the bench run: learn the serial (the cursor key), load the
 * cursor, poll incrementally, and describe the result as a device status event. Saving the cursor stays
 * with the caller, after it has sent the records.
 */
import { ZkError } from '../errors';
import type { DeviceSession } from '../device/device-session';
import { DeviceStatusEvent, DeviceStatusState, emptyStatus } from '../record/status';
import type { CursorStore } from './cursor-store';
import type { DeviceCursor } from './cursor';
import type { DeviceHealth } from './health';
import { PollOptions, PollOutcome, pollIncremental } from './incremental';

/** Cursor key: the serial when known (a device moved to another IP keeps its cursor), else host:port. */
export function cursorKeyOf(session: DeviceSession): string {
  return session.serial ?? session.key;
}

export interface DevicePoll {
  key: string;
  before: DeviceCursor | null;
  outcome: PollOutcome;
}

export async function pollDevice(session: DeviceSession, store: CursorStore, opts: PollOptions): Promise<DevicePoll> {
  // The serial must be known before the cursor is looked up. One option read, not info() (eight commands):
  // fleets open a fresh session per cycle, and an unchanged cycle should cost next to nothing.
  if (session.serial === null) {
    const sn = await session.run('serial', (c) => c.option('~SerialNumber'));
    if (sn) session.serial = sn;
  }
  const key = cursorKeyOf(session);
  const before = store.get(key);
  const outcome = await pollIncremental(session, before, opts);
  return { key, before, outcome };
}

/** What a status event needs to know about a device; a DeviceSession has it, so has a remembered fleet entry. */
export type DeviceDescription = Pick<DeviceSession, 'serial' | 'key' | 'config' | 'lastInfo'>;

/** The device as described on msg.device (docs/architecture.md §3 "the device's description"), by zk-poll and zk-live alike. */
export function describeDevice(d: DeviceDescription): Record<string, unknown> {
  return {
    serial: d.serial,
    name: d.config.name ?? d.lastInfo?.deviceName ?? null,
    site: d.config.site,
    host: d.key,
    tz: d.config.tz,
  };
}

function base(
  session: DeviceDescription,
): Pick<DeviceStatusEvent, 'deviceSn' | 'deviceName' | 'site' | 'deviceHost' | 'firmware'> {
  return {
    deviceSn: session.serial,
    deviceName: session.config.name ?? session.lastInfo?.deviceName ?? null,
    site: session.config.site,
    deviceHost: session.key,
    firmware: session.lastInfo?.firmware ?? null,
  };
}

/** Status after a successful poll. `newRecords` is what was (or, in a dry run, would be) emitted. */
export function statusAfterPoll(session: DeviceSession, o: PollOutcome, at: Date, lastPoll: Date): DeviceStatusEvent {
  return emptyStatus({
    ...base(session),
    state: 'online',
    lastSeen: at.toISOString(),
    lastPoll: lastPoll.toISOString(),
    records: o.deviceCount,
    newRecords: o.records.length,
    users: o.sizes.users,
    capacity: { records: o.sizes.records, recordsMax: o.sizes.recordsCapacity || null },
    clockDriftSec: o.clockDriftSec ?? session.lastInfo?.clockDriftSec ?? null,
    transport: session.currentClient?.transport ?? session.lastInfo?.transport ?? null,
  });
}

/** Status after a failed poll: `error` once the streak reached N failures, `disabled` after the long streak. */
export function statusAfterFailure(
  session: DeviceDescription,
  health: DeviceHealth,
  err: Error,
  lastPoll: Date,
  lastSeen: Date | null,
): DeviceStatusEvent {
  // A refused comm key is a configuration error, not an outage: say so from the first failure.
  const auth = err instanceof ZkError && err.code === 'AUTH';
  const state: DeviceStatusState =
    health.state === 'disabled' ? 'disabled' : health.state === 'error' || auth ? 'error' : 'offline';
  return emptyStatus({
    ...base(session),
    state,
    lastSeen: lastSeen ? lastSeen.toISOString() : null,
    lastPoll: lastPoll.toISOString(),
    lastError: err.message,
  });
}
