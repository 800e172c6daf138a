/**
 * Argument parsing for the `zk` command line (docs/architecture.md §6). Pure: turns argv into a typed command or
 * throws UsageError; printing and exit codes are bin/zk.ts's business.
 */
import { parseArgs } from 'node:util';
import { parseWallClock, formatWallClock } from '../protocol/time';
import { hostTimeZone, isValidTimeZone } from '../record/zone';
import {
  TemplatesCommand,
  UserWriteArgs,
  USER_WRITE_HELP,
  USER_WRITE_OPTIONS,
  TEMPLATE_OPTIONS,
  parseTemplates,
  parseUserWrite,
} from './user-args';

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export const SIM_PROFILES = ['tft', 'zk6', 'compact8', 'tft49'] as const;
export type SimProfile = (typeof SIM_PROFILES)[number];
export type OutputFormat = 'ndjson' | 'csv';

export interface DeviceTarget {
  host: string;
  port: number;
  commKey: number;
  udp: boolean;
  timeoutMs: number;
  json: boolean;
}

export interface SimCommand {
  command: 'sim';
  host: string;
  port: number;
  records: number | undefined;
  users: number | undefined;
  commKey: number;
  udp: boolean;
  profile: SimProfile;
  /** A live punch per device every N ms; 0 none. The command line defaults to 5 s so `zk live` has something to show. */
  liveEveryMs: number;
  /** Fixes serials and data; unset, each device's serial follows its port (two runs on other ports never share one). */
  seed: number | undefined;
  /** 'plain' (default) or 'edge' (adds the 24-digit and leading-zero ids tests use). */
  userIds: 'plain' | 'edge';
  devices: number;
  tz: string;
  /** Push (ADMS) mode: the server the simulated devices push to; absent for the pull protocol. */
  push?: string;
}

export interface InfoCommand extends DeviceTarget {
  command: 'info';
  /** The zone the device clock is read in, for the drift figure. */
  tz: string;
}
export interface UsersCommand extends DeviceTarget {
  command: 'users';
  /** zk users set|sync|delete; absent for the listing. */
  write?: UserWriteArgs;
}
export interface FetchCommand extends DeviceTarget {
  command: 'fetch';
  /** Inclusive lower bound on localTime (`YYYY-MM-DDTHH:mm:ss`), or null. */
  since: string | null;
  /** Inclusive upper bound on localTime; a bare date covers that whole day. */
  until: string | null;
  tz: string;
  format: OutputFormat;
  out: string | null;
}
export interface LiveCommand extends DeviceTarget {
  command: 'live';
  count: number | null;
  tz: string;
}
export interface HelpCommand {
  command: 'help';
  topic: string | null;
}
/** `zk time`: show the device clock, or with --sync set it from this host's past --threshold seconds. */
export interface TimeCommand extends DeviceTarget {
  command: 'time';
  sync: boolean;
  thresholdSec: number;
  tz: string;
  dryRun: boolean;
}
/** `zk clear --safe --out FILE`: save the log to FILE, then clear it only if nothing arrived meanwhile. */
export interface ClearCommand extends DeviceTarget {
  command: 'clear';
  out: string;
  tz: string;
  dryRun: boolean;
}
export interface UnlockCommand extends DeviceTarget {
  command: 'unlock';
  seconds: number;
  dryRun: boolean;
}
export interface RestartCommand extends DeviceTarget {
  command: 'restart';
  dryRun: boolean;
}
export type DeviceCommand = TimeCommand | ClearCommand | UnlockCommand | RestartCommand;

export type CliCommand =
  SimCommand | InfoCommand | UsersCommand | FetchCommand | LiveCommand | HelpCommand | TemplatesCommand | DeviceCommand;
export type { TemplatesCommand, UserWriteArgs };

/** `zk sim` makes a live punch this often unless told otherwise, so `zk live` against it shows something. */
export const DEFAULT_SIM_LIVE_EVERY_S = 5;

export const USAGE_LINE =
  'usage: zk <sim|info|users|fetch|live|time|clear|unlock|restart> [options]   (zk --help for details)';

/** The full help; names the host's zone, the default for --tz. */
export function helpText(): string {
  return `zk: read ZKTeco-protocol time clocks, or simulate them

usage:
  zk sim   [--port 4370] [--host 127.0.0.1] [--records N] [--users N] [--comm-key K] [--udp]
           [--profile tft|zk6|compact8|tft49] [--live-every SECONDS] [--seed N] [--devices N] [--tz ZONE]
           [--user-ids plain|edge]
           [--push http://SERVER[:PORT]]   (push mode: devices push to that server's /iclock, as ADMS firmware does)
  zk info  HOST[:PORT] [--tz ZONE] [device options]
  zk users HOST[:PORT] [device options]
  zk fetch HOST[:PORT] [--since T] [--until T] [--tz ZONE] [--format ndjson|csv] [--out FILE] [device options]
  zk live  HOST[:PORT] [--count N] [--tz ZONE] [device options]
${USER_WRITE_HELP}
  zk time  HOST[:PORT] [--sync [--threshold SECONDS]] [--tz ZONE] [--dry-run] [device options]
  zk clear HOST[:PORT] --safe --out FILE [--tz ZONE] [--dry-run] [device options]
  zk unlock HOST[:PORT] [--seconds 3] [--dry-run] [device options]
  zk restart HOST[:PORT] [--dry-run] [device options]

device options:
  --comm-key K    the device's communication password (0-4294967295; default 0 = none)
  --udp           talk UDP instead of TCP
  --timeout MS    per-command timeout in milliseconds (default 5000)
  --json          machine-readable output (info: one JSON object; users: one JSON line per user)

fetch / live print canonical attendance records (one JSON object per line, or CSV with --format csv).
  --tz ZONE       the device's IANA time zone (default: this computer's, now ${hostTimeZone()}; info uses it for the clock drift)
  --since/--until filter on the device's wall clock, inclusive: YYYY-MM-DD or YYYY-MM-DDTHH:mm[:ss]
                  (a bare --until date includes that whole day)
Records with impossible times are skipped with a warning on stderr.

time shows the device clock and its drift from this computer's (in --tz); --sync sets it from this
  computer's clock when it is more than --threshold seconds off (default 30), and reads it back.
clear --safe downloads the log, saves it to --out (NDJSON, flushed to disk and read back), then disables the
  device, checks that no punch arrived since the download, clears, and enables it. A punch in between
  means nothing is cleared (exit 1): run it again. --safe is required; there is no other clear.
unlock opens the door for --seconds (1-60); restart reboots the device (it drops the connection).
--dry-run connects and reports what would be done, and changes nothing on the device.

zk sim prints one JSON line per simulated device when it listens, and runs until Ctrl-C.
  --live-every S  a live punch per device every S seconds (default 5; 0: none)
  --seed N        fixes serials and data (default: they follow each device's port)
  --user-ids edge adds a 24-digit user id and one with leading zeros (default plain: 4-digit ids)
Exit status: 0 success, 1 failure (one line on stderr), 2 bad usage.`;
}

const DEVICE_OPTIONS = {
  'comm-key': { type: 'string' },
  udp: { type: 'boolean' },
  timeout: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

const COMMAND_OPTIONS = {
  sim: {
    port: { type: 'string' },
    host: { type: 'string' },
    records: { type: 'string' },
    users: { type: 'string' },
    'comm-key': { type: 'string' },
    udp: { type: 'boolean' },
    profile: { type: 'string' },
    'live-every': { type: 'string' },
    seed: { type: 'string' },
    devices: { type: 'string' },
    tz: { type: 'string' },
    push: { type: 'string' },
    'user-ids': { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
  info: { ...DEVICE_OPTIONS, tz: { type: 'string' } },
  users: { ...DEVICE_OPTIONS, ...USER_WRITE_OPTIONS },
  templates: { ...DEVICE_OPTIONS, ...TEMPLATE_OPTIONS },
  fetch: {
    ...DEVICE_OPTIONS,
    since: { type: 'string' },
    until: { type: 'string' },
    tz: { type: 'string' },
    format: { type: 'string' },
    out: { type: 'string' },
  },
  live: { ...DEVICE_OPTIONS, count: { type: 'string' }, tz: { type: 'string' } },
  time: {
    ...DEVICE_OPTIONS,
    sync: { type: 'boolean' },
    threshold: { type: 'string' },
    tz: { type: 'string' },
    'dry-run': { type: 'boolean' },
  },
  clear: {
    ...DEVICE_OPTIONS,
    safe: { type: 'boolean' },
    out: { type: 'string' },
    tz: { type: 'string' },
    'dry-run': { type: 'boolean' },
  },
  unlock: { ...DEVICE_OPTIONS, seconds: { type: 'string' }, 'dry-run': { type: 'boolean' } },
  restart: { ...DEVICE_OPTIONS, 'dry-run': { type: 'boolean' } },
} as const;

type CommandName = keyof typeof COMMAND_OPTIONS;

function isCommandName(s: string): s is CommandName {
  return Object.prototype.hasOwnProperty.call(COMMAND_OPTIONS, s);
}

/** A whole number in [min, max] from an option value; UsageError naming the option otherwise. */
export function parseIntOption(name: string, value: string | undefined, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  const v = value.trim();
  if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max) {
    throw new UsageError(`--${name} must be a whole number from ${min} to ${max} (got ${JSON.stringify(value)})`);
  }
  return Number(v);
}

/** Seconds (fractions allowed) → ms; `defSec` when the option is absent. */
function parseSeconds(name: string, value: string | undefined, defSec = 0): number {
  if (value === undefined) return Math.round(defSec * 1000);
  const v = value.trim();
  if (!/^\d+(\.\d+)?$/.test(v) || Number(v) > 86400) {
    throw new UsageError(`--${name} must be a number of seconds from 0 to 86400 (got ${JSON.stringify(value)})`);
  }
  return Math.round(Number(v) * 1000);
}

function parseZone(value: string | undefined): string {
  if (value === undefined) return hostTimeZone();
  if (!isValidTimeZone(value)) {
    throw new UsageError(
      `--tz ${JSON.stringify(value)} is not a time zone this Node.js knows (use an IANA name such as Europe/Berlin or UTC)`,
    );
  }
  return value;
}

/** `HOST`, `HOST:PORT`, `[IPv6]:PORT` or a bare IPv6 address. */
export function parseHostPort(target: string, defaultPort = 4370): { host: string; port: number } {
  const t = target.trim();
  let host = t;
  let portText: string | undefined;
  const v6 = /^\[([^\]]+)\](?::(.*))?$/.exec(t);
  if (v6) {
    host = v6[1];
    portText = v6[2];
  } else if (t.indexOf(':') === t.lastIndexOf(':') && t.includes(':')) {
    host = t.slice(0, t.indexOf(':'));
    portText = t.slice(t.indexOf(':') + 1);
  }
  if (host === '' || /\s/.test(host)) throw new UsageError(`${JSON.stringify(target)} is not a HOST[:PORT]`);
  if (portText === undefined) return { host, port: defaultPort };
  if (!/^\d{1,5}$/.test(portText) || Number(portText) < 1 || Number(portText) > 65535) {
    throw new UsageError(`${JSON.stringify(target)}: the port must be a number from 1 to 65535`);
  }
  return { host, port: Number(portText) };
}

/** Inclusive bounds on localTime from `--since` / `--until`: missing parts extend to the start / end. */
export function parseTimeBound(name: 'since' | 'until', value: string | undefined): string | null {
  if (value === undefined) return null;
  const w = parseWallClock(value);
  if (!w) {
    throw new UsageError(
      `--${name} must be a valid date YYYY-MM-DD or YYYY-MM-DDTHH:mm[:ss] (got ${JSON.stringify(value)})`,
    );
  }
  if (name === 'until') {
    const v = value.trim();
    if (v.length === 10) Object.assign(w, { hour: 23, minute: 59, second: 59 });
    else if (v.length === 16) w.second = 59;
  }
  return formatWallClock(w);
}

/** `--push`: an http URL of the push server (the devices add /iclock when it has no path). */
export function parsePushUrl(value: string | undefined): string {
  if (value === undefined || value === '')
    throw new UsageError('--push needs a server URL such as http://127.0.0.1:8081');
  let u: URL;
  try {
    u = new URL(value.includes('://') ? value : `http://${value}`);
  } catch {
    throw new UsageError(`--push must be a server URL such as http://127.0.0.1:8081 (got ${JSON.stringify(value)})`);
  }
  if (u.protocol !== 'http:') throw new UsageError(`--push: only http:// is supported (got ${u.protocol})`);
  return u.toString();
}

function parseTarget(positionals: string[], command: string): { host: string; port: number } {
  if (positionals.length === 0) throw new UsageError(`zk ${command} needs a device: zk ${command} HOST[:PORT]`);
  if (positionals.length > 1) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[1])}`);
  return parseHostPort(positionals[0]);
}

type Values = Record<string, string | boolean | undefined>;

function str(values: Values, key: string): string | undefined {
  const v = values[key];
  return typeof v === 'string' ? v : undefined;
}

function deviceTarget(values: Values, positionals: string[], command: string): DeviceTarget {
  const { host, port } = parseTarget(positionals, command);
  return {
    host,
    port,
    commKey: parseIntOption('comm-key', str(values, 'comm-key'), 0, 0xffffffff) ?? 0,
    udp: values.udp === true,
    timeoutMs: parseIntOption('timeout', str(values, 'timeout'), 1, 600_000) ?? 5000,
    json: values.json === true,
  };
}

/** argv without `node` and the script. Throws UsageError for anything it cannot make sense of. */
export function parseCli(argv: readonly string[]): CliCommand {
  const [first, ...rest] = argv;
  if (first === undefined) throw new UsageError('no command given');
  if (first === '--help' || first === '-h' || first === 'help') {
    return { command: 'help', topic: rest[0] ?? null };
  }
  if (!isCommandName(first)) {
    throw new UsageError(
      first.startsWith('-') ? `unknown option ${first}` : `unknown command ${JSON.stringify(first)}`,
    );
  }
  let values: Values;
  let positionals: string[];
  try {
    const parsed = parseArgs({
      args: [...rest],
      options: COMMAND_OPTIONS[first],
      allowPositionals: true,
      strict: true,
    });
    values = parsed.values as Values;
    positionals = parsed.positionals;
  } catch (err) {
    // parseArgs' messages are long and mention internals; keep the gist.
    const msg = (err as Error).message;
    const unknown = /Unknown option '([^']+)'/.exec(msg);
    if (unknown) throw new UsageError(`unknown option ${unknown[1]} for zk ${first}`);
    const ambiguous = /Option '([^']+)' argument is ambiguous/.exec(msg);
    if (ambiguous) throw new UsageError(`${ambiguous[1]}: write ${ambiguous[1]}=VALUE for a value starting with '-'`);
    const missing = /Option '(?:-\w, )?(--[^ ']+)[^']*' argument missing/.exec(msg);
    if (missing) throw new UsageError(`${missing[1]} needs a value`);
    throw new UsageError(msg.split('\n')[0]);
  }
  if (values.help === true) return { command: 'help', topic: first };

  switch (first) {
    case 'sim': {
      if (positionals.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}`);
      const profile = str(values, 'profile') ?? 'tft';
      if (!(SIM_PROFILES as readonly string[]).includes(profile)) {
        throw new UsageError(`--profile must be one of ${SIM_PROFILES.join(', ')} (got ${JSON.stringify(profile)})`);
      }
      const userIds = str(values, 'user-ids') ?? 'plain';
      if (userIds !== 'plain' && userIds !== 'edge')
        throw new UsageError(`--user-ids must be plain or edge (got ${JSON.stringify(userIds)})`);
      const devices = parseIntOption('devices', str(values, 'devices'), 1, 1000) ?? 1;
      const port = parseIntOption('port', str(values, 'port'), 0, 65535) ?? 4370;
      if (port !== 0 && port + devices - 1 > 65535)
        throw new UsageError(`--port ${port} with --devices ${devices} runs past port 65535`);
      return {
        command: 'sim',
        host: str(values, 'host') ?? '127.0.0.1',
        port,
        records: parseIntOption('records', str(values, 'records'), 0, 10_000_000),
        users: parseIntOption('users', str(values, 'users'), 0, 65_534),
        commKey: parseIntOption('comm-key', str(values, 'comm-key'), 0, 0xffffffff) ?? 0,
        udp: values.udp === true,
        profile: profile as SimProfile,
        liveEveryMs: parseSeconds('live-every', str(values, 'live-every'), DEFAULT_SIM_LIVE_EVERY_S),
        seed: parseIntOption('seed', str(values, 'seed'), 0, 0xffffffff),
        userIds,
        devices,
        tz: parseZone(str(values, 'tz')),
        ...(values.push !== undefined ? { push: parsePushUrl(str(values, 'push')) } : {}),
      };
    }
    case 'info':
      return { command: 'info', ...deviceTarget(values, positionals, first), tz: parseZone(str(values, 'tz')) };
    case 'users': {
      const w = parseUserWrite(values, positionals, (m) => new UsageError(m));
      if (!w) return { command: 'users', ...deviceTarget(values, positionals, first) };
      return { command: 'users', ...deviceTarget(values, w.rest, first), write: w.write };
    }
    case 'templates':
      return parseTemplates(
        values,
        positionals,
        (rest) => deviceTarget(values, rest, first),
        (m) => new UsageError(m),
      );
    case 'fetch': {
      const target = deviceTarget(values, positionals, first);
      const formatText = str(values, 'format');
      if (formatText !== undefined && formatText !== 'ndjson' && formatText !== 'csv') {
        throw new UsageError(`--format must be ndjson or csv (got ${JSON.stringify(formatText)})`);
      }
      if (formatText === 'csv' && target.json) throw new UsageError('--json and --format csv contradict each other');
      const since = parseTimeBound('since', str(values, 'since'));
      const until = parseTimeBound('until', str(values, 'until'));
      if (since !== null && until !== null && since > until)
        throw new UsageError(`--since ${since} is after --until ${until}`);
      const out = str(values, 'out');
      if (out === '') throw new UsageError('--out needs a file name');
      return {
        command: 'fetch',
        ...target,
        since,
        until,
        tz: parseZone(str(values, 'tz')),
        format: formatText ?? 'ndjson',
        out: out ?? null,
      };
    }
    case 'live': {
      const target = deviceTarget(values, positionals, first);
      return {
        command: 'live',
        ...target,
        count: parseIntOption('count', str(values, 'count'), 1, Number.MAX_SAFE_INTEGER) ?? null,
        tz: parseZone(str(values, 'tz')),
      };
    }
    case 'time':
    case 'clear':
    case 'unlock':
    case 'restart':
      return parseDeviceCommand(first, values, positionals);
  }
}

/** The device-management commands: time, clear, unlock, restart. */
function parseDeviceCommand(command: DeviceCommand['command'], values: Values, positionals: string[]): DeviceCommand {
  const target = deviceTarget(values, positionals, command);
  const dryRun = values['dry-run'] === true;
  switch (command) {
    case 'time': {
      const sync = values.sync === true;
      if (!sync && values.threshold !== undefined) throw new UsageError('--threshold only applies with --sync');
      if (!sync && dryRun) throw new UsageError('--dry-run only applies with --sync (zk time alone changes nothing)');
      return {
        command,
        ...target,
        sync,
        thresholdSec: parseIntOption('threshold', str(values, 'threshold'), 0, 86400) ?? 30,
        tz: parseZone(str(values, 'tz')),
        dryRun,
      };
    }
    case 'clear': {
      if (values.safe !== true) {
        throw new UsageError(
          'zk clear only clears safely: add --safe and --out FILE (the records are saved there before anything is cleared)',
        );
      }
      const out = str(values, 'out');
      if (!dryRun && (out === undefined || out === ''))
        throw new UsageError(
          'zk clear --safe needs --out FILE: the records are saved there before the device is cleared',
        );
      return { command, ...target, out: out ?? '', tz: parseZone(str(values, 'tz')), dryRun };
    }
    case 'unlock':
      return { command, ...target, seconds: parseIntOption('seconds', str(values, 'seconds'), 1, 60) ?? 3, dryRun };
    case 'restart':
      return { command, ...target, dryRun };
  }
}
