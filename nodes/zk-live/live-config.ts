/**
 * zk-live's flow-JSON properties → typed settings, and where its devices come from (the same sources as
 * zk-poll, parsed by lib/fleet). No Node-RED runtime here, so it is testable on its own.
 */
import type { NodeDef } from 'node-red';
import type { DeviceConfig } from '../../lib/device';
import { FleetDefaults, HealthOptions, devicesFromArray, devicesFromRange, parseFleetText, parseShard, selectShard, Shard } from '../../lib/fleet';
import type { FirstStart } from '../../lib/live';

export type LiveSourceMode = 'device' | 'list' | 'range' | 'msg';

export interface ZkLiveDef extends NodeDef {
  /** zk-device config node id (mode 'device'). */
  device: string;
  mode: LiveSourceMode;
  /** CSV or JSON device list (mode 'list'). */
  fleet: string;
  /** 10.1.0.0/24 or 10.1.0.10-10.1.0.200 (mode 'range'). */
  range: string;
  /** Fleet defaults. */
  port: string | number;
  tz: string;
  site: string;
  transport: '' | 'tcp' | 'udp' | 'auto';
  timeout: string | number;
  /** "i/n": keep only this instance's share of a fleet (lib/fleet/shard); blank = all. */
  shard: string;
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

export interface LiveSettings {
  mode: LiveSourceMode;
  firstStart: FirstStart;
  health: HealthOptions;
  rawEvents: boolean;
  defaults: FleetDefaults;
  /** Fleets only (list, range, msg.devices); a single zk-device is never filtered. */
  shard: Shard | null;
}

function num(v: string | number | undefined, fallback: number, field: string, min: number, max: number): number {
  if (v === undefined || v === '') return fallback;
  const n = Number(v);
  if (!Number.isFinite(n) || n < min || n > max) throw new Error(`${field} must be a number from ${min} to ${max} (got "${v}")`);
  return n;
}

/** Validates the node's settings; throws naming the field. */
export function liveSettings(def: Partial<ZkLiveDef>, creds: ZkLiveCredentials): LiveSettings {
  const mode: LiveSourceMode = def.mode ?? (def.device ? 'device' : 'list');
  if (!['device', 'list', 'range', 'msg'].includes(mode)) throw new Error(`devices: unknown source "${String(mode)}"`);
  const firstStart: FirstStart = def.firstStart === 'all' ? 'all' : 'now';
  const commKey = creds.commKey === undefined || creds.commKey === '' ? undefined : Number(creds.commKey);
  if (commKey !== undefined && (!Number.isInteger(commKey) || commKey < 0)) throw new Error('fleet comm key must be a whole number (the devices\' communication password)');
  const initial = num(def.backoffInitial, 5, 'first reconnect delay', 0.01, 3600);
  const max = num(def.backoffMax, 300, 'longest reconnect delay', 0.01, 86400);
  if (max < initial) throw new Error(`longest reconnect delay (${max} s) is shorter than the first (${initial} s)`);
  return {
    mode,
    firstStart,
    rawEvents: def.rawEvents === true,
    shard: parseShard(def.shard),
    health: {
      backoffBaseMs: initial * 1000,
      backoffMaxMs: max * 1000,
      failuresToError: Math.floor(num(def.failuresToError, 5, 'failures before error', 1, 1000)),
      longStreakMs: num(def.longStreakHours, 24, 'long failure streak', 0.0001, 24 * 365) * 3600_000,
      longStreakRetryMs: num(def.longStreakRetryMin, 60, 'retry period after a long streak', 0.001, 7 * 1440) * 60_000,
    },
    defaults: {
      port: def.port === undefined || def.port === '' ? undefined : Number(def.port),
      tz: def.tz || undefined,
      site: def.site || null,
      transport: def.transport || undefined,
      timeoutMs: def.timeout === undefined || def.timeout === '' ? undefined : Number(def.timeout),
      commKey,
    },
  };
}

/** The configured fleet (modes 'list' and 'range', this shard's part); [] for 'device' and 'msg'. */
export function configuredFleet(def: Partial<ZkLiveDef>, s: LiveSettings): DeviceConfig[] {
  if (s.mode === 'list') return selectShard(parseFleetText(def.fleet ?? '', s.defaults), s.shard);
  if (s.mode === 'range') {
    if (!def.range || !def.range.trim()) throw new Error('address range is empty (e.g. 10.1.0.0/24 or 10.1.0.10-10.1.0.200)');
    return selectShard(devicesFromRange(def.range, s.defaults), s.shard);
  }
  return [];
}

/** A fleet from msg.devices, with the node's defaults and shared comm key (this shard's part of it). */
export function fleetFromMsg(devices: unknown, s: LiveSettings): DeviceConfig[] {
  return selectShard(devicesFromArray(devices, s.defaults, 'msg.devices'), s.shard);
}
