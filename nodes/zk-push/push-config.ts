/**
 * zk-push editor settings → PushServerSettings (pure, so the mapping and its errors, which name the field,
 * are testable without Node-RED). The token arrives separately from credentials.
 */
import type { NodeDef } from 'node-red';
import { hostTimeZone, isValidTimeZone } from '../../lib/record/zone';
import { DEFAULT_HANDSHAKE, isValidTransFlag } from '../../lib/push/options';
import { parseAllowList } from '../../lib/push/allow-list';
import { codePageName } from '../../lib/push/body';
import { normaliseBasePath, pushDefaults, PushServerSettings } from '../../lib/push/settings';
import { readSetting, SETTING_RULES } from '../shared/setting-rules';

const R = SETTING_RULES['zk-push'];

export interface ZkPushDef extends NodeDef {
  listen?: 'node' | 'port';
  basePath?: string;
  port?: number | string;
  host?: string;
  devices?: string;
  unknown?: 'reject' | 'accept';
  tz?: string;
  site?: string;
  maxBodyKiB?: number | string;
  codePage?: string;
  bodyTimeout?: number | string;
  perAddress?: number | string;
  delay?: number | string;
  errorDelay?: number | string;
  transFlag?: string;
  realtime?: boolean;
  sendDate?: boolean;
  history?: 'all' | 'new';
  otherTables?: 'ignore' | 'pass';
  allowDestructive?: boolean;
  commandTimeout?: number | string;
}

export interface ZkPushCredentials {
  token?: string;
}

export interface PushNodeSettings {
  server: PushServerSettings;
  listen: 'node' | 'port';
  port: number;
  host: string;
  allowDestructive: boolean;
}

export function pushNodeSettings(def: Partial<ZkPushDef>, creds: ZkPushCredentials): PushNodeSettings {
  const tz = def.tz?.trim() || hostTimeZone();
  if (!isValidTimeZone(tz))
    throw new RangeError(`time zone ${JSON.stringify(tz)} is not an IANA zone (e.g. Europe/Berlin)`);
  const transFlag = def.transFlag?.trim() || DEFAULT_HANDSHAKE.transFlag;
  if (!isValidTransFlag(transFlag))
    throw new RangeError('TransFlag must be table words (TransData AttLog OpLog …) or a bit string');
  const token = creds.token?.trim() || null;
  if (token !== null && !/^[\x21-\x7e]{1,64}$/.test(token))
    throw new RangeError('the token must be 1-64 printable characters without spaces');
  const server = pushDefaults({
    basePath: normaliseBasePath(def.basePath),
    devices: parseAllowList(def.devices),
    unknownDevices: def.unknown === 'accept' ? 'accept' : 'reject',
    defaultTz: tz,
    defaultSite: def.site?.trim() || null,
    token,
    maxBodyBytes: readSetting(R.maxBodyKiB, def.maxBodyKiB) * 1024,
    codePage: codePageName(def.codePage?.trim() || 'utf-8'),
    bodyTimeoutMs: readSetting(R.bodyTimeout, def.bodyTimeout) * 1000,
    maxRequestsPerAddress: readSetting(R.perAddress, def.perAddress),
    handshake: {
      ...DEFAULT_HANDSHAKE,
      delaySec: readSetting(R.delay, def.delay),
      errorDelaySec: readSetting(R.errorDelay, def.errorDelay),
      transFlag,
      realtime: def.realtime !== false,
    },
    history: def.history === 'new' ? 'new' : 'all',
    otherTables: def.otherTables === 'pass' ? 'pass' : 'ignore',
    commandTimeoutMs: readSetting(R.commandTimeout, def.commandTimeout) * 1000,
    sendDate: def.sendDate !== false,
  });
  return {
    server,
    listen: def.listen === 'port' ? 'port' : 'node',
    port: readSetting(R.port, def.port),
    host: def.host?.trim() || '0.0.0.0',
    allowDestructive: def.allowDestructive === true,
  };
}
