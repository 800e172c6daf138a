import type { NodeDef } from 'node-red';
import { DeviceConfig, DeviceConfigInput, normaliseDeviceConfig } from '../../lib/device';
import { DIRECTIONS, Direction } from '../../lib/record/canonical';
import type { NameEncoding } from '../../lib/protocol/text';

/** The zk-device node's properties as stored in flow JSON (the comm key is a credential, not here). */
export interface ZkDeviceDef extends NodeDef {
  host: string;
  port: string | number;
  transport: 'auto' | 'tcp' | 'udp';
  timeout: string | number;
  tz: string;
  site: string;
  /** JSON object text: punch state → direction, e.g. {"0":"in","1":"out"}. Empty = defaults. */
  stateMap: string;
  directionOverride: '' | 'in' | 'out';
  nameEncoding: NameEncoding;
}

/** Parses the punch mapping text; throws with the field named. */
export function parseStateMap(text: string | undefined): Record<number, Direction> | undefined {
  if (!text || !text.trim()) return undefined;
  let obj: unknown;
  try {
    obj = JSON.parse(text);
  } catch {
    throw new Error(`punch mapping is not valid JSON: write it as {"0": "in", "1": "out"}`);
  }
  if (!obj || typeof obj !== 'object' || Array.isArray(obj))
    throw new Error('punch mapping must be a JSON object of state → direction');
  const out: Record<number, Direction> = {};
  for (const [k, v] of Object.entries(obj as Record<string, unknown>)) {
    const state = Number(k);
    if (!Number.isInteger(state) || state < 0 || state > 255)
      throw new Error(`punch mapping: state "${k}" must be a whole number 0–255`);
    if (!(DIRECTIONS as readonly string[]).includes(String(v)))
      throw new Error(`punch mapping: state ${k} → "${String(v)}" is not one of ${DIRECTIONS.join(', ')}`);
    out[state] = v as Direction;
  }
  return out;
}

/** Flow JSON + credential → validated DeviceConfig (throws DeviceConfigError / Error naming the field). */
export function deviceConfigFromDef(
  def: Partial<ZkDeviceDef> & { host: string },
  commKey: string | undefined,
): DeviceConfig {
  const input: DeviceConfigInput = {
    host: def.host,
    port: def.port === undefined || def.port === '' ? undefined : Number(def.port),
    transport: def.transport || 'tcp',
    commKey: commKey === undefined || commKey === '' ? 0 : Number(commKey),
    timeoutMs: def.timeout === undefined || def.timeout === '' ? undefined : Number(def.timeout),
    tz: def.tz || undefined,
    name: def.name || null,
    site: def.site || null,
    directionMap: parseStateMap(def.stateMap),
    directionOverride: def.directionOverride ? def.directionOverride : null,
    nameEncoding: def.nameEncoding || 'utf8',
  };
  return normaliseDeviceConfig(input);
}
