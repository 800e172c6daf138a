/**
 * zk-poll's flow-JSON properties → typed settings, and where its devices come from. No Node-RED runtime
 * here, so it is testable on its own and the node file stays a thin adapter.
 */
import type { NodeDef } from 'node-red';
import type { DeviceConfig } from '../../lib/device';
import { FleetDefaults, devicesFromArray, devicesFromRange, parseFleetText, parseShard, selectShard, Shard } from '../../lib/fleet';

export type PollSourceMode = 'device' | 'list' | 'range' | 'msg';

export interface ZkPollDef extends NodeDef {
  /** zk-device config node id (mode 'device'). */
  device: string;
  mode: PollSourceMode;
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

export interface PollSettings {
  mode: PollSourceMode;
  intervalMs: number;
  concurrency: number;
  chunkSize: number;
  failuresToError: number;
  longStreakMs: number;
  longStreakRetryMs: number;
  deviceTimeoutMs: number;
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
export function pollSettings(def: Partial<ZkPollDef>, creds: ZkPollCredentials): PollSettings {
  const mode: PollSourceMode = def.mode ?? (def.device ? 'device' : 'list');
  const commKey = creds.commKey === undefined || creds.commKey === '' ? undefined : Number(creds.commKey);
  if (commKey !== undefined && (!Number.isInteger(commKey) || commKey < 0)) throw new Error('fleet comm key must be a whole number (the devices\' communication password)');
  return {
    mode,
    intervalMs: num(def.interval, 60, 'interval', 0, 7 * 86400) * 1000,
    concurrency: Math.floor(num(def.concurrency, 16, 'concurrency', 1, 256)),
    chunkSize: Math.floor(num(def.chunkSize, 5000, 'chunk size', 1, 1_000_000)),
    failuresToError: Math.floor(num(def.failuresToError, 5, 'failures before error', 1, 1000)),
    longStreakMs: num(def.longStreakHours, 24, 'long failure streak', 0.01, 24 * 365) * 3600_000,
    longStreakRetryMs: num(def.longStreakRetryMin, 60, 'retry period after a long streak', 0.1, 7 * 1440) * 60_000,
    deviceTimeoutMs: num(def.deviceTimeout, 0, 'device timeout', 0, 86400) * 1000,
    shard: parseShard(def.shard),
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
export function configuredFleet(def: Partial<ZkPollDef>, s: PollSettings): DeviceConfig[] {
  if (s.mode === 'list') return selectShard(parseFleetText(def.fleet ?? '', s.defaults), s.shard);
  if (s.mode === 'range') {
    if (!def.range || !def.range.trim()) throw new Error('address range is empty (e.g. 10.1.0.0/24 or 10.1.0.10-10.1.0.200)');
    return selectShard(devicesFromRange(def.range, s.defaults), s.shard);
  }
  return [];
}

/** A fleet from msg.devices, with the node's defaults and shared comm key (this shard's part of it). */
export function fleetFromMsg(devices: unknown, s: PollSettings): DeviceConfig[] {
  return selectShard(devicesFromArray(devices, s.defaults, 'msg.devices'), s.shard);
}

/** True when a fleet text carries comm keys, which then sit in the flow file (warned about at start). */
export function fleetTextHasCommKeys(list: DeviceConfig[], sharedKey: number | undefined): boolean {
  return list.some((d) => d.commKey !== 0 && d.commKey !== (sharedKey ?? 0));
}
