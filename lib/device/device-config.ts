import type { Direction } from '../record/canonical';
import type { NameEncoding } from '../protocol/text';
import { hostTimeZone, isValidTimeZone } from '../record/zone';
import type { TransportKind } from '../client';

/** One device as the capture nodes see it (docs/internal-apis.md, capture contracts). */
export interface DeviceConfig {
  host: string;
  port: number;
  transport: TransportKind;
  /** 0 = none. A Node-RED credential: never in flow JSON or logs. */
  commKey: number;
  timeoutMs: number;
  /** The device's IANA zone. */
  tz: string;
  name: string | null;
  site: string | null;
  /** Overrides of the default punch state → direction mapping. */
  directionMap?: Readonly<Record<number, Direction>>;
  /** In-only / out-only doors: every punch gets this direction. */
  directionOverride?: 'in' | 'out' | null;
  nameEncoding?: NameEncoding;
  /** Records later than the device clock plus this are anomalies. Default one day. */
  futureToleranceSec?: number;
  /** Liveness check period of kept connections (zk-live): a dead link is reported within it. Default 15 s. */
  heartbeatMs?: number;
}

export type DeviceConfigInput = Partial<DeviceConfig> & { host: string };

/** A configuration problem, named by field, saying what to check. */
export class DeviceConfigError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
    this.name = 'DeviceConfigError';
  }
}

/** The numeric rules of a device's settings; the editor's checks are generated from these (nodes/shared/setting-rules.ts). */
export const DEVICE_RULES = {
  port: { field: 'port', default: 4370, min: 1, max: 65535, integer: true },
  timeoutMs: { field: 'timeout (ms)', default: 5000, min: 100, max: 120000, integer: false },
} as const;

const HOST_RE =
  /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$|^\[?[0-9A-Fa-f:.]+\]?$/;

/** Fills defaults and validates; throws DeviceConfigError naming the field. */
export function normaliseDeviceConfig(input: DeviceConfigInput): DeviceConfig {
  const where = input.name ? `device "${input.name}"` : `device ${input.host}`;
  const host = String(input.host ?? '')
    .trim()
    .replace(/^\[(.*)\]$/, '$1');
  if (!host || !HOST_RE.test(host))
    throw new DeviceConfigError('host', `${where}: host "${input.host}" is not an IP address or host name`);
  const { port: P, timeoutMs: T } = DEVICE_RULES;
  const port = input.port === undefined || (input.port as unknown) === '' ? P.default : Number(input.port);
  if (!Number.isInteger(port) || port < P.min || port > P.max)
    throw new DeviceConfigError(
      'port',
      `${where}: port "${input.port}" must be a whole number from 1 to 65535 (ZK devices use 4370)`,
    );
  const transport = input.transport ?? 'tcp';
  if (!['auto', 'tcp', 'udp'].includes(transport))
    throw new DeviceConfigError('transport', `${where}: transport must be auto, tcp or udp`);
  const commKey = input.commKey === undefined || (input.commKey as unknown) === '' ? 0 : Number(input.commKey);
  if (!Number.isInteger(commKey) || commKey < 0 || commKey > 0xffffffff)
    throw new DeviceConfigError(
      'commKey',
      `${where}: the comm key must be a whole number (the device's communication password)`,
    );
  const timeoutMs = input.timeoutMs === undefined ? T.default : Number(input.timeoutMs);
  if (!Number.isFinite(timeoutMs) || timeoutMs < T.min || timeoutMs > T.max)
    throw new DeviceConfigError('timeoutMs', `${where}: timeout must be from ${T.min} to ${T.max} ms`);
  const tz = input.tz && String(input.tz).trim() ? String(input.tz).trim() : hostTimeZone();
  if (!isValidTimeZone(tz))
    throw new DeviceConfigError(
      'tz',
      `${where}: time zone "${tz}" is not an IANA zone name (e.g. Europe/Berlin, Asia/Kolkata)`,
    );
  const override = input.directionOverride ?? null;
  if (override !== null && override !== 'in' && override !== 'out')
    throw new DeviceConfigError('directionOverride', `${where}: direction override must be in, out or none`);
  return {
    host,
    port,
    transport,
    commKey,
    timeoutMs,
    tz,
    name: input.name ? String(input.name) : null,
    site: input.site ? String(input.site) : null,
    directionMap: input.directionMap,
    directionOverride: override,
    nameEncoding: input.nameEncoding ?? 'utf8',
    futureToleranceSec: input.futureToleranceSec ?? 86400,
    heartbeatMs: input.heartbeatMs ?? 15000,
  };
}

export function deviceKey(c: Pick<DeviceConfig, 'host' | 'port'>): string {
  return c.host.includes(':') ? `[${c.host}]:${c.port}` : `${c.host}:${c.port}`;
}
