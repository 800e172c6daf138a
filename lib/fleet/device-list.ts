/**
 * Fleets without one config node per device: CSV or JSON text, an array (msg.devices), or an IPv4 address
 * range, all turned into DeviceConfig[] through normaliseDeviceConfig with one set of shared defaults.
 * Every error names the line or entry and the field, because the list is typed by people.
 */
import {
  DeviceConfig,
  DeviceConfigError,
  DeviceConfigInput,
  deviceKey,
  normaliseDeviceConfig,
} from '../device/device-config';
import type { TransportKind } from '../client';

/** Shared settings for every device of a fleet that does not carry its own. */
export interface FleetDefaults {
  port?: number;
  tz?: string;
  timeoutMs?: number;
  transport?: TransportKind;
  /** The fleet's comm-key credential, used by devices without their own. */
  commKey?: number;
  site?: string | null;
  futureToleranceSec?: number;
}

export class DeviceListError extends Error {
  constructor(
    readonly where: string,
    readonly field: string | null,
    message: string,
  ) {
    super(message);
    this.name = 'DeviceListError';
  }
}

/** Most hosts one range may name: a typo such as /16 should not start 65,534 connections. */
export const MAX_RANGE_HOSTS = 4096;

/** Columns accepted in CSV headers and JSON keys (lower-cased) → DeviceConfig field. */
const COLUMNS: Record<string, keyof DeviceConfigInput> = {
  host: 'host',
  ip: 'host',
  address: 'host',
  port: 'port',
  name: 'name',
  site: 'site',
  branch: 'site',
  tz: 'tz',
  timezone: 'tz',
  commkey: 'commKey',
  comm_key: 'commKey',
  'comm key': 'commKey',
  transport: 'transport',
  timeoutms: 'timeoutMs',
  timeout: 'timeoutMs',
};
const COLUMN_LIST = 'host, port, name, site, tz, commKey, transport, timeoutMs';

function fieldOf(column: string): keyof DeviceConfigInput | undefined {
  return COLUMNS[column.trim().toLowerCase()];
}

/** One entry with its own values over the shared defaults; errors say where. */
function build(where: string, own: Partial<Record<keyof DeviceConfigInput, unknown>>, d: FleetDefaults): DeviceConfig {
  const blank = (v: unknown) => v === undefined || v === null || (typeof v === 'string' && v.trim() === '');
  const pick = <T>(v: unknown, fallback: T): unknown => (blank(v) ? fallback : typeof v === 'string' ? v.trim() : v);
  if (blank(own.host))
    throw new DeviceListError(where, 'host', `${where}: host is empty (every device needs an IP address or host name)`);
  const input = {
    host: String(own.host).trim(),
    port: pick(own.port, d.port),
    name: pick(own.name, null),
    site: pick(own.site, d.site ?? null),
    tz: pick(own.tz, d.tz),
    commKey: pick(own.commKey, d.commKey),
    transport: pick(own.transport, d.transport),
    timeoutMs: pick(own.timeoutMs, d.timeoutMs),
    futureToleranceSec: d.futureToleranceSec,
  } as DeviceConfigInput;
  try {
    return normaliseDeviceConfig(input);
  } catch (err) {
    if (err instanceof DeviceConfigError) throw new DeviceListError(where, err.field, `${where}: ${err.message}`);
    throw err;
  }
}

/** Two entries for one host:port would share (and fight over) one session: refuse with both places. */
function checkUnique(list: { where: string; cfg: DeviceConfig }[]): DeviceConfig[] {
  const seen = new Map<string, string>();
  for (const { where, cfg } of list) {
    const key = deviceKey(cfg);
    const first = seen.get(key);
    if (first) throw new DeviceListError(where, 'host', `${where}: ${key} is already listed (${first})`);
    seen.set(key, where);
  }
  return list.map((x) => x.cfg);
}

// ---- CSV -----------------------------------------------------------------------------------------

/** The separator of the header line: comma, or semicolon/tab as spreadsheets in some locales export. */
function detectDelimiter(text: string): string {
  const first = text.split('\n').find((l) => l.trim() !== '' && !l.trim().startsWith('#')) ?? '';
  for (const d of [',', ';', '\t']) if (first.includes(d)) return d;
  return ',';
}

/** RFC 4180 rows with the line each starts on: quoted fields, "" escapes, newlines inside quotes. */
export function parseCsvRows(text: string, delimiter = detectDelimiter(text)): { line: number; cells: string[] }[] {
  const rows: { line: number; cells: string[] }[] = [];
  let cells: string[] = [];
  let cell = '';
  let quoted = false;
  let line = 1;
  let rowLine = 1;
  let i = 0;
  const src = text.replace(/^\uFEFF/, ''); // spreadsheet exports start with a BOM
  const endRow = () => {
    cells.push(cell);
    if (!(cells.length === 1 && cells[0].trim() === '')) rows.push({ line: rowLine, cells });
    cells = [];
    cell = '';
  };
  while (i < src.length) {
    const ch = src[i];
    if (quoted) {
      if (ch === '"' && src[i + 1] === '"') {
        cell += '"';
        i += 2;
        continue;
      }
      if (ch === '"') {
        quoted = false;
        i++;
        continue;
      }
      if (ch === '\n') line++;
      cell += ch;
      i++;
      continue;
    }
    if (ch === '"' && cell.trim() === '') {
      quoted = true;
      cell = '';
      i++;
      continue;
    }
    if (ch === delimiter) {
      cells.push(cell);
      cell = '';
      i++;
      continue;
    }
    if (ch === '\r') {
      i++;
      continue;
    }
    if (ch === '\n') {
      endRow();
      line++;
      rowLine = line;
      i++;
      continue;
    }
    cell += ch;
    i++;
  }
  if (quoted)
    throw new DeviceListError(`line ${rowLine}`, null, `line ${rowLine}: a quoted field is not closed (missing ")`);
  if (cell !== '' || cells.length > 0) endRow();
  return rows;
}

export function parseCsvDevices(text: string, defaults: FleetDefaults = {}): DeviceConfig[] {
  const rows = parseCsvRows(text).filter((r) => !r.cells[0].trim().startsWith('#'));
  if (rows.length === 0) return [];
  const header = rows[0];
  const fields = header.cells.map((c) => {
    const f = fieldOf(c);
    if (!f) {
      const hint = /^\d+\.\d+\.\d+\.\d+$/.test(c.trim())
        ? ' (the first line must be a header row, e.g. host,port,name,site,tz,commKey)'
        : '';
      throw new DeviceListError(
        `line ${header.line}`,
        null,
        `line ${header.line}: unknown column "${c.trim()}"${hint}; expected ${COLUMN_LIST}`,
      );
    }
    return f;
  });
  if (!fields.includes('host'))
    throw new DeviceListError(`line ${header.line}`, 'host', `line ${header.line}: the header has no host column`);
  const out: { where: string; cfg: DeviceConfig }[] = [];
  for (const row of rows.slice(1)) {
    const where = `line ${row.line}`;
    if (row.cells.length > fields.length && row.cells.slice(fields.length).some((c) => c.trim() !== '')) {
      throw new DeviceListError(
        where,
        null,
        `${where}: ${row.cells.length} fields but the header has ${fields.length} columns`,
      );
    }
    const own: Partial<Record<keyof DeviceConfigInput, unknown>> = {};
    fields.forEach((f, i) => (own[f] = row.cells[i]));
    out.push({ where, cfg: build(where, own, defaults) });
  }
  return checkUnique(out);
}

// ---- JSON and arrays -------------------------------------------------------------------------------

/** msg.devices or parsed JSON: objects with the CSV column names, or plain host strings ("10.0.0.5:4370"). */
export function devicesFromArray(list: unknown, defaults: FleetDefaults = {}, what = 'msg.devices'): DeviceConfig[] {
  if (!Array.isArray(list))
    throw new DeviceListError(
      what,
      null,
      `${what} must be an array of devices ({host, port, name, site, tz, commKey})`,
    );
  const out: { where: string; cfg: DeviceConfig }[] = [];
  list.forEach((entry: unknown, i) => {
    const where = `${what}[${i}]`;
    if (typeof entry === 'string') {
      const m = /^(.+?)(?::(\d+))?$/.exec(entry.trim());
      out.push({ where, cfg: build(where, { host: m?.[1] ?? entry, port: m?.[2] }, defaults) });
      return;
    }
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
      throw new DeviceListError(where, null, `${where}: expected an object such as {"host": "10.1.0.5"}`);
    }
    const own: Partial<Record<keyof DeviceConfigInput, unknown>> = {};
    for (const [k, v] of Object.entries(entry as Record<string, unknown>)) {
      const f = fieldOf(k);
      if (!f) throw new DeviceListError(where, k, `${where}: unknown field "${k}"; expected ${COLUMN_LIST}`);
      own[f] = v;
    }
    out.push({ where, cfg: build(where, own, defaults) });
  });
  return checkUnique(out);
}

export function parseJsonDevices(text: string, defaults: FleetDefaults = {}): DeviceConfig[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new DeviceListError('JSON', null, `device list JSON: ${(err as Error).message}`);
  }
  return devicesFromArray(parsed, defaults, 'entry');
}

/** JSON when the text starts with '[', CSV otherwise. */
export function parseFleetText(text: string, defaults: FleetDefaults = {}): DeviceConfig[] {
  const t = text.trim();
  if (t === '') return [];
  return t.startsWith('[') ? parseJsonDevices(t, defaults) : parseCsvDevices(t, defaults);
}

// ---- address ranges ----------------------------------------------------------------------------------

function ipToInt(where: string, ip: string): number {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(ip.trim());
  if (!m || m.slice(1).some((o) => Number(o) > 255))
    throw new DeviceListError(where, 'range', `${where}: "${ip.trim()}" is not an IPv4 address`);
  return ((Number(m[1]) << 24) >>> 0) + (Number(m[2]) << 16) + (Number(m[3]) << 8) + Number(m[4]);
}

function intToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

/** First and last address (inclusive) of `10.1.0.0/24`, `10.1.0.10-10.1.0.200` or `10.1.0.10-200`. */
export function rangeBounds(range: string): { first: number; last: number } {
  const where = `range "${range.trim()}"`;
  const r = range.trim();
  const cidr = /^([\d.]+)\/(\d{1,2})$/.exec(r);
  if (cidr) {
    const bits = Number(cidr[2]);
    if (bits > 32) throw new DeviceListError(where, 'range', `${where}: prefix /${bits} is longer than 32 bits`);
    const base = ipToInt(where, cidr[1]);
    const size = 2 ** (32 - bits);
    const network = Math.floor(base / size) * size;
    // /31 and /32 have no network or broadcast address to skip (RFC 3021).
    if (size <= 2) return { first: network, last: network + size - 1 };
    return { first: network + 1, last: network + size - 2 };
  }
  const dash = /^([\d.]+)\s*-\s*([\d.]+)$/.exec(r);
  if (dash) {
    const first = ipToInt(where, dash[1]);
    const lastText = /^\d{1,3}$/.test(dash[2]) ? dash[1].replace(/\d+$/, dash[2]) : dash[2];
    const last = ipToInt(where, lastText);
    if (last < first)
      throw new DeviceListError(
        where,
        'range',
        `${where}: the end ${intToIp(last)} is before the start ${intToIp(first)}`,
      );
    return { first, last };
  }
  throw new DeviceListError(where, 'range', `${where}: expected CIDR (10.1.0.0/24) or a span (10.1.0.10-10.1.0.200)`);
}

/** Every host of a range on one port, sharing the defaults. */
export function devicesFromRange(
  range: string,
  defaults: FleetDefaults = {},
  maxHosts = MAX_RANGE_HOSTS,
): DeviceConfig[] {
  const { first, last } = rangeBounds(range);
  const n = last - first + 1;
  if (n > maxHosts) {
    throw new DeviceListError(
      `range "${range.trim()}"`,
      'range',
      `range "${range.trim()}" has ${n} addresses; at most ${maxHosts} are allowed (split it or use a device list)`,
    );
  }
  const out: DeviceConfig[] = [];
  for (let a = first; a <= last; a++) out.push(build(`range host ${intToIp(a)}`, { host: intToIp(a) }, defaults));
  return out;
}
