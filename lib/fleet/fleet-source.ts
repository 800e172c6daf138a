/**
 * Where a capture node's devices come from (zk-poll and zk-live take the same sources): one zk-device, a
 * list typed in the node, an address range, or msg.devices; with shared fleet defaults and a shard. Reads the
 * nodes' flow-JSON properties but needs no Node-RED runtime.
 */
import type { DeviceConfig } from '../device';
import { FleetDefaults, devicesFromArray, devicesFromRange, parseFleetText } from './device-list';
import { Shard, parseShard, selectShard } from './shard';

export type FleetSourceMode = 'device' | 'list' | 'range' | 'msg';
const MODES: readonly FleetSourceMode[] = ['device', 'list', 'range', 'msg'];

/** The properties zk-poll and zk-live share in flow JSON. */
export interface FleetSourceDef {
  /** zk-device config node id (mode 'device'). */
  device?: string;
  mode?: FleetSourceMode;
  /** CSV or JSON device list (mode 'list'). */
  fleet?: string;
  /** 10.1.0.0/24 or 10.1.0.10-10.1.0.200 (mode 'range'). */
  range?: string;
  /** Fleet defaults. */
  port?: string | number;
  tz?: string;
  site?: string;
  transport?: '' | 'tcp' | 'udp' | 'auto';
  timeout?: string | number;
  /** "i/n": keep only this instance's share of a fleet (lib/fleet/shard); blank = all. */
  shard?: string;
}

export interface FleetSource {
  mode: FleetSourceMode;
  defaults: FleetDefaults;
  /** Fleets only (list, range, msg.devices); a single zk-device is never filtered. */
  shard: Shard | null;
}

/** The source settings; `commKeyText` is the fleet's shared comm key credential. Throws naming the field. */
export function fleetSource(def: FleetSourceDef, commKeyText: string | undefined): FleetSource {
  const mode: FleetSourceMode = def.mode ?? (def.device ? 'device' : 'list');
  if (!MODES.includes(mode)) throw new Error(`devices: unknown source "${String(mode)}"`);
  const commKey = commKeyText === undefined || commKeyText === '' ? undefined : Number(commKeyText);
  if (commKey !== undefined && (!Number.isInteger(commKey) || commKey < 0))
    throw new Error("fleet comm key must be a whole number (the devices' communication password)");
  return {
    mode,
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
export function configuredFleet(def: FleetSourceDef, s: FleetSource): DeviceConfig[] {
  if (s.mode === 'list') return selectShard(parseFleetText(def.fleet ?? '', s.defaults), s.shard);
  if (s.mode === 'range') {
    if (!def.range || !def.range.trim())
      throw new Error('address range is empty (e.g. 10.1.0.0/24 or 10.1.0.10-10.1.0.200)');
    return selectShard(devicesFromRange(def.range, s.defaults), s.shard);
  }
  return [];
}

/** A fleet from msg.devices, with the node's defaults and shared comm key (this shard's part of it). */
export function fleetFromMsg(devices: unknown, s: FleetSource): DeviceConfig[] {
  return selectShard(devicesFromArray(devices, s.defaults, 'msg.devices'), s.shard);
}
