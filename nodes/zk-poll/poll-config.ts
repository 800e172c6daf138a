/**
 * zk-poll's flow-JSON properties → typed settings, and where its devices come from. No Node-RED runtime
 * here, so it is testable on its own and the node file stays a thin adapter.
 */
import * as os from 'os';
import * as path from 'path';
import type { NodeDef } from 'node-red';
import type { DeviceConfig } from '../../lib/device';
import { FleetSource, FleetSourceDef, FleetSourceMode, fleetSource } from '../../lib/fleet';
import { settingNumber as num } from '../shared/settings';
export { configuredFleet, fleetFromMsg } from '../../lib/fleet';

export type PollSourceMode = FleetSourceMode;

export interface ZkPollDef extends NodeDef, FleetSourceDef {
  /** Seconds between polls; 0 = only on input. */
  interval: string | number;
  concurrency: string | number;
  chunkSize: string | number;
  failuresToError: string | number;
  longStreakHours: string | number;
  longStreakRetryMin: string | number;
  /** Deadline for one device's whole poll, seconds (0 = none). */
  deviceTimeout: string | number;
}

export interface ZkPollCredentials {
  /** The fleet's shared comm key (devices without their own). */
  commKey?: string;
}

export interface PollSettings extends FleetSource {
  intervalMs: number;
  concurrency: number;
  chunkSize: number;
  failuresToError: number;
  longStreakMs: number;
  longStreakRetryMs: number;
  deviceTimeoutMs: number;
}

/** Validates the node's settings; throws naming the field. */
export function pollSettings(def: Partial<ZkPollDef>, creds: ZkPollCredentials): PollSettings {
  return {
    ...fleetSource(def, creds.commKey),
    intervalMs: num(def.interval, 60, 'interval', 0, 7 * 86400) * 1000,
    concurrency: Math.floor(num(def.concurrency, 16, 'concurrency', 1, 256)),
    chunkSize: Math.floor(num(def.chunkSize, 5000, 'chunk size', 1, 1_000_000)),
    failuresToError: Math.floor(num(def.failuresToError, 5, 'failures before error', 1, 1000)),
    longStreakMs: num(def.longStreakHours, 24, 'long failure streak', 0.01, 24 * 365) * 3600_000,
    longStreakRetryMs: num(def.longStreakRetryMin, 60, 'retry period after a long streak', 0.1, 7 * 1440) * 60_000,
    deviceTimeoutMs: num(def.deviceTimeout, 0, 'device timeout', 0, 86400) * 1000,
  };
}

/** True when a fleet text carries comm keys, which then sit in the flow file (warned about at start). */
export function fleetTextHasCommKeys(list: DeviceConfig[], sharedKey: number | undefined): boolean {
  return list.some((d) => d.commKey !== 0 && d.commKey !== (sharedKey ?? 0));
}

/** Where a zk-poll node keeps its cursors, one directory per node id (zk-command's safe clear reads them). */
export function pollCursorDir(userDir: string | undefined, pollNodeId: string): string {
  return path.join(userDir || os.tmpdir(), 'punchflow', 'cursors', pollNodeId);
}
