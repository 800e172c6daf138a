/**
 * zk-poll's flow-JSON properties → typed settings, and where its devices come from. No Node-RED runtime
 * here, so it is testable on its own and the node file stays a thin adapter.
 */
import type { NodeDef } from 'node-red';
import type { DeviceConfig } from '../../lib/device';
import { FleetSource, FleetSourceDef, FleetSourceMode, fleetSource } from '../../lib/fleet';
import { readSetting, SETTING_RULES } from '../shared/setting-rules';
import { KitNode, KitSettings, stateDir } from '../shared/runtime';

const R = SETTING_RULES['zk-poll'];
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
    intervalMs: readSetting(R.interval, def.interval) * 1000,
    concurrency: readSetting(R.concurrency, def.concurrency),
    chunkSize: readSetting(R.chunkSize, def.chunkSize),
    failuresToError: readSetting(R.failuresToError, def.failuresToError),
    longStreakMs: readSetting(R.longStreakHours, def.longStreakHours) * 3600_000,
    longStreakRetryMs: readSetting(R.longStreakRetryMin, def.longStreakRetryMin) * 60_000,
    deviceTimeoutMs: readSetting(R.deviceTimeout, def.deviceTimeout) * 1000,
  };
}

/** True when a fleet text carries comm keys, which then sit in the flow file (warned about at start). */
export function fleetTextHasCommKeys(list: DeviceConfig[], sharedKey: number | undefined): boolean {
  return list.some((d) => d.commKey !== 0 && d.commKey !== (sharedKey ?? 0));
}

/** Where a zk-poll node keeps its cursors, one directory per node id (zk-command's safe clear reads them). */
export function pollCursorDir(settings: KitSettings, node: Pick<KitNode, 'warn'>, pollNodeId: string): string {
  return stateDir(settings, node, 'cursors', pollNodeId);
}
