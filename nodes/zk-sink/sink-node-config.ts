/**
 * zk-sink editor settings → a SinkConfig for lib/sinks. Pure, so the mapping (and its errors, which name
 * the field) is unit-testable without Node-RED. Secrets arrive separately from credentials.
 */
import * as path from 'path';
import type { NodeDef } from 'node-red';
import type { SinkConfig } from '../../lib/sinks';
import type { SinkTarget } from '../../lib/sinks/types';
import type { AccessSinkOptions } from '../../lib/sinks/access';
import { settingInteger } from '../shared/settings';
import { readSetting, SETTING_RULES } from '../shared/setting-rules';

export interface ZkSinkDef extends NodeDef {
  target: SinkTarget;
  batchSize?: number | string;
  flushInterval?: number | string;
  /** Failures in a row with one error that is no outage before the batch is searched for the refused record. */
  isolateAfter?: number | string;
  // mysql / mssql
  host?: string;
  port?: number | string;
  database?: string;
  user?: string;
  table?: string;
  schema?: string;
  createTable?: boolean;
  encrypt?: boolean;
  trustServerCertificate?: boolean;
  // access
  accessFile?: string;
  accessConnection?: string;
  unknownBadge?: 'error' | 'create' | 'park';
  /** Further AccessSinkOptions (checkTypeMap, machineNumbers, badgeMatch…) as JSON object text. */
  accessOptions?: string;
  // http
  url?: string;
  headers?: string;
  authHeader?: string;
  bodyFormat?: 'array' | 'envelope';
  duplicateStatus?: number | string;
  insecure?: boolean;
  timeout?: number | string;
  tls?: string;
  // file
  dir?: string;
  format?: 'ndjson' | 'csv';
  // mqtt
  broker?: string;
  topic?: string;
  clientId?: string;
}

export interface ZkSinkCredentials {
  password?: string;
  authValue?: string;
  /** MQTT username: a credential, like the password. */
  mqttUser?: string;
}

export interface DeliverySettings {
  batchSize: number;
  flushIntervalMs: number;
  isolateAfter: number;
}

export function deliverySettings(def: ZkSinkDef): DeliverySettings {
  return {
    batchSize: readSetting(SETTING_RULES['zk-sink'].batchSize, def.batchSize),
    flushIntervalMs: readSetting(SETTING_RULES['zk-sink'].flushInterval, def.flushInterval),
    isolateAfter: readSetting(SETTING_RULES['zk-sink'].isolateAfter, def.isolateAfter),
  };
}

function jsonObject(text: string | undefined, field: string): Record<string, unknown> {
  if (!text || !text.trim()) return {};
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new TypeError(`${field} must be a JSON object`);
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new TypeError(`${field} must be a JSON object`);
  return v as Record<string, unknown>;
}

/** TLS settings a core tls-config node adds (its addTLSOptions), when one is selected. */
export type TlsFiller = (opts: Record<string, unknown>) => void;

export function sinkConfigFromDef(
  def: ZkSinkDef,
  creds: ZkSinkCredentials,
  userDir: string,
  tlsFiller?: TlsFiller,
): SinkConfig {
  const port = (d: number): number => settingInteger(def.port, d, 'port', 1, 65535);
  switch (def.target) {
    case 'mysql':
      return {
        target: 'mysql',
        options: {
          host: def.host || '127.0.0.1',
          port: port(3306),
          user: def.user ?? '',
          password: creds.password,
          database: def.database ?? '',
          table: def.table || undefined,
          createTable: !!def.createTable,
        },
      };
    case 'mssql':
      return {
        target: 'mssql',
        options: {
          server: def.host || '127.0.0.1',
          port: port(1433),
          user: def.user || undefined,
          password: creds.password,
          database: def.database || undefined,
          schema: def.schema || undefined,
          table: def.table || undefined,
          createTable: !!def.createTable,
          encrypt: def.encrypt !== false,
          trustServerCertificate: !!def.trustServerCertificate,
        },
      };
    case 'access': {
      if (!def.accessFile && !def.accessConnection)
        throw new TypeError('Access: the .mdb file or an ODBC connection string is required');
      const extra = jsonObject(def.accessOptions, 'Access options') as Partial<AccessSinkOptions>;
      return {
        target: 'access',
        options: {
          ...extra,
          file: def.accessFile || undefined,
          connectionString: def.accessConnection || undefined,
          unknownBadge: def.unknownBadge === 'create' || def.unknownBadge === 'park' ? def.unknownBadge : 'error',
          // Beside the outbox, per node: parked punches are as precious as queued ones.
          parkFile: path.join(userDir, 'punchflow', 'parked', `${def.id}.json`),
          password: creds.password || undefined,
        },
      };
    }
    case 'http': {
      if (!def.url) throw new TypeError('URL is required');
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(jsonObject(def.headers, 'headers'))) headers[k] = String(v);
      const secretHeaders: Record<string, string> = {};
      if (creds.authValue) secretHeaders[def.authHeader || 'Authorization'] = creds.authValue;
      const tls: Record<string, unknown> = {};
      tlsFiller?.(tls);
      if (def.insecure) tls.rejectUnauthorized = false;
      const dup =
        def.duplicateStatus === undefined || def.duplicateStatus === ''
          ? null
          : settingInteger(def.duplicateStatus, 409, 'duplicate status', 200, 599);
      return {
        target: 'http',
        options: {
          url: def.url,
          headers,
          secretHeaders,
          body: def.bodyFormat === 'envelope' ? 'envelope' : 'array',
          duplicateStatus: dup,
          timeoutMs: settingInteger(def.timeout, 30_000, 'timeout', 100, 600_000),
          tls,
          // Per node, beside the outbox: the ids the API acknowledged, so a re-polled punch is not sent twice.
          ackDir: path.join(userDir, 'punchflow', 'http-acked', def.id),
        },
      };
    }
    case 'file': {
      // Relative directories are under the user directory, never the process's working directory.
      const dir = def.dir ? path.resolve(userDir, def.dir) : path.join(userDir, 'punchflow', 'files');
      return { target: 'file', options: { dir, format: def.format === 'csv' ? 'csv' : 'ndjson' } };
    }
    case 'mqtt': {
      if (!def.broker) throw new TypeError('MQTT: the broker URL is required (e.g. mqtt://127.0.0.1:1883)');
      const tls: Record<string, unknown> = {};
      tlsFiller?.(tls);
      return {
        target: 'mqtt',
        options: {
          url: def.broker,
          topic: def.topic || undefined,
          clientId: def.clientId || undefined,
          username: creds.mqttUser || undefined,
          password: creds.password || undefined,
          tls,
        },
      };
    }
    default:
      throw new TypeError(
        `target must be one of mysql, mssql, access, http, file, mqtt (got ${JSON.stringify(def.target)})`,
      );
  }
}
