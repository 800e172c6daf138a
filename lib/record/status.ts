/**
 * The device status event (docs/architecture.md §3): second output of every capture node and what the dashboard shows.
 */
export type DeviceStatusState = 'online' | 'offline' | 'error' | 'disabled' | 'busy';

export interface DeviceStatusEvent {
  deviceSn: string | null;
  deviceName: string | null;
  site: string | null;
  deviceHost: string | null;
  state: DeviceStatusState;
  /** ISO 8601 UTC of the last successful exchange with the device. */
  lastSeen: string | null;
  /** ISO 8601 UTC of the last poll attempt. */
  lastPoll: string | null;
  /** Plain-words error of the last failure, null after a success. */
  lastError: string | null;
  /** Records on the device (its own count). */
  records: number | null;
  /** Records emitted by this poll/event. */
  newRecords: number;
  users: number | null;
  capacity: { records: number | null; recordsMax: number | null };
  clockDriftSec: number | null;
  firmware: string | null;
  /** How the device talks to us: the ZK protocol over TCP or UDP, or pushes over HTTP (ADMS). */
  transport: 'tcp' | 'udp' | 'http' | null;
}

export function emptyStatus(partial: Partial<DeviceStatusEvent> & Pick<DeviceStatusEvent, 'state'>): DeviceStatusEvent {
  return {
    deviceSn: null,
    deviceName: null,
    site: null,
    deviceHost: null,
    lastSeen: null,
    lastPoll: null,
    lastError: null,
    records: null,
    newRecords: 0,
    users: null,
    capacity: { records: null, recordsMax: null },
    clockDriftSec: null,
    firmware: null,
    transport: null,
    ...partial,
  };
}
