/**
 * Fleet sharding: several Node-RED instances share one device list, each keeping "shard i of n". The
 * choice must be the same on every instance and after every restart, so it hashes a key known before any
 * contact with the device: its address `host:port` (host lower-cased). The serial number would be nicer
 * (it survives a re-addressed device) but is only learnt by connecting, and every instance connecting to
 * every device just to decide who owns it is what sharding is meant to avoid. When a caller does know a
 * device's serial up front it may pass it as the key instead (shardKey's `serial`).
 * Hash: the first 32 bits (big-endian) of SHA-256 of the key's UTF-8 bytes, modulo n: fixed by definition,
 * independent of Node version, process or list order, and easy to reproduce in a shell
 * (`printf '10.1.0.5:4370' | sha256sum`, first 8 hex digits, mod n).
 */
import { createHash } from 'crypto';
import { deviceKey } from '../device/device-config';

export interface Shard {
  /** 0-based: 0 … count-1. */
  index: number;
  count: number;
}

export class ShardSettingError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ShardSettingError';
  }
}

/** Largest n accepted: more instances than this is a typo, not a deployment. */
export const MAX_SHARDS = 1024;

/**
 * `"i/n"` (also `"i of n"`) → a shard; blank, `"off"` or `"0/1"`-style single shards → null (no filtering).
 * Throws ShardSettingError naming what is wrong: a typo must not silently poll nothing or everything.
 */
export function parseShard(text: unknown): Shard | null {
  if (text === undefined || text === null) return null;
  const t = String(text).trim().toLowerCase();
  if (t === '' || t === 'off' || t === 'none') return null;
  const m = /^(\d+)\s*(?:\/|of)\s*(\d+)$/.exec(t);
  if (!m)
    throw new ShardSettingError(
      `shard "${String(text)}" must look like "0/4" (shard 0 of 4; shards count from 0) or be empty`,
    );
  const index = Number(m[1]);
  const count = Number(m[2]);
  if (count < 1 || count > MAX_SHARDS)
    throw new ShardSettingError(`shard "${String(text)}": the number of shards must be from 1 to ${MAX_SHARDS}`);
  if (index >= count)
    throw new ShardSettingError(`shard "${String(text)}": shards count from 0, so the index must be below ${count}`);
  return count === 1 ? null : { index, count };
}

/** The key a device is sharded on: its serial when the caller knows it, else `host:port` (lower-cased). */
export function shardKey(device: { host: string; port: number; serial?: string | null }): string {
  return device.serial ? device.serial : deviceKey(device).toLowerCase();
}

/** Which of `count` shards a key falls in. */
export function shardOf(key: string, count: number): number {
  if (!Number.isInteger(count) || count < 1)
    throw new RangeError(`shard count must be a whole number ≥ 1 (got ${count})`);
  return createHash('sha256').update(key, 'utf8').digest().readUInt32BE(0) % count;
}

/** The devices of `list` that belong to `shard` (all of them when shard is null), in list order. */
export function selectShard<T extends { host: string; port: number; serial?: string | null }>(
  list: readonly T[],
  shard: Shard | null,
): T[] {
  if (!shard) return [...list];
  return list.filter((d) => shardOf(shardKey(d), shard.count) === shard.index);
}

/** "shard 1/4" for status texts and logs. */
export function formatShard(shard: Shard): string {
  return `shard ${shard.index}/${shard.count}`;
}
