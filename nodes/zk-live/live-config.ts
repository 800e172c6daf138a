/**
 * zk-live's flow-JSON properties → typed settings, and where its devices come from (the same sources as
 * zk-poll, parsed by lib/fleet). No Node-RED runtime here, so it is testable on its own.
 */
import type { NodeDef } from 'node-red';
import { FleetSource, FleetSourceDef, FleetSourceMode, HealthOptions, fleetSource } from '../../lib/fleet';
import { readSetting, SETTING_RULES } from '../shared/setting-rules';
export { configuredFleet, fleetFromMsg } from '../../lib/fleet';
import type { FirstStart } from '../../lib/live';

const R = SETTING_RULES['zk-live'];

export type LiveSourceMode = FleetSourceMode;

export interface ZkLiveDef extends NodeDef, FleetSourceDef {
  firstStart: FirstStart;
  /** Reconnect backoff, seconds. */
  backoffInitial: string | number;
  backoffMax: string | number;
  failuresToError: string | number;
  longStreakHours: string | number;
  longStreakRetryMin: string | number;
  /** Pass non-attendance device events on (output 2, topic 'event'). */
  rawEvents: boolean;
}

export interface ZkLiveCredentials {
  /** The fleet's shared comm key (devices without their own). */
  commKey?: string;
}

export interface LiveSettings extends FleetSource {
  firstStart: FirstStart;
  health: HealthOptions;
  rawEvents: boolean;
}

/** Validates the node's settings; throws naming the field. */
export function liveSettings(def: Partial<ZkLiveDef>, creds: ZkLiveCredentials): LiveSettings {
  const source = fleetSource(def, creds.commKey);
  const firstStart: FirstStart = def.firstStart === 'all' ? 'all' : 'now';
  const initial = readSetting(R.backoffInitial, def.backoffInitial);
  const max = readSetting(R.backoffMax, def.backoffMax);
  if (max < initial) throw new Error(`longest reconnect delay (${max} s) is shorter than the first (${initial} s)`);
  return {
    ...source,
    firstStart,
    rawEvents: def.rawEvents === true,
    health: {
      backoffBaseMs: initial * 1000,
      backoffMaxMs: max * 1000,
      failuresToError: readSetting(R.failuresToError, def.failuresToError),
      longStreakMs: readSetting(R.longStreakHours, def.longStreakHours) * 3600_000,
      longStreakRetryMs: readSetting(R.longStreakRetryMin, def.longStreakRetryMin) * 60_000,
    },
  };
}
