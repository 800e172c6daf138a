/**
 * One definition per numeric node setting: its range, default and message. The runtime reads settings with
 * readSetting; the build (scripts/copy-assets.js) writes each editor's `defaults` entries from editorDefault,
 * so the edit dialog flags exactly what the runtime would refuse, with the same words.
 */
import { DEVICE_RULES } from '../../lib/device/device-config';
import { DEFAULT_HANDSHAKE } from '../../lib/push/options';

export interface NumberRule {
  /** How messages name the setting. */
  readonly field: string;
  readonly default: number;
  readonly min: number;
  readonly max: number;
  /** Whole numbers only (ports, counts, batch sizes). */
  readonly integer: boolean;
}

const rule = (field: string, dflt: number, min: number, max: number, integer = false): NumberRule => ({
  field,
  default: dflt,
  min,
  max,
  integer,
});

const int = (field: string, dflt: number, min: number, max: number): NumberRule => rule(field, dflt, min, max, true);

/** The device and fleet settings zk-poll and zk-live share. */
const CAPTURE = {
  port: DEVICE_RULES.port,
  timeout: DEVICE_RULES.timeoutMs,
  failuresToError: int('failures before error', 5, 1, 1000),
  // Down to a fraction of a second, so a test (or a demo) can reach the long streak quickly.
  longStreakHours: rule('long failure streak (h)', 24, 0.0001, 24 * 365),
  longStreakRetryMin: rule('retry period after a long streak (min)', 60, 0.001, 7 * 1440),
};

/** Every rule, by node type and the flow-JSON property it checks. */
export const SETTING_RULES = {
  'zk-poll': {
    ...CAPTURE,
    interval: rule('interval (s)', 60, 0, 7 * 86400),
    concurrency: int('concurrency', 16, 1, 256),
    chunkSize: int('chunk size', 5000, 1, 1_000_000),
    deviceTimeout: rule('device timeout (s)', 0, 0, 86400),
  },
  'zk-live': {
    ...CAPTURE,
    backoffInitial: rule('first reconnect delay (s)', 5, 0.01, 3600),
    backoffMax: rule('longest reconnect delay (s)', 300, 0.01, 86400),
  },
  'zk-users': {
    port: DEVICE_RULES.port,
    timeout: DEVICE_RULES.timeoutMs,
    concurrency: int('concurrency', 8, 1, 256),
    pushTimeout: int('push answer timeout', 120, 1, 86400),
  },
  'zk-dedupe': {
    maxKeys: rule('max keys', 1_000_000, 1, 50_000_000),
    retentionDays: rule('retention', 40, 0.0001, 3650),
    repeatSeconds: rule('repeat window', 0, 0, 86_400),
  },
  'zk-sink': {
    batchSize: int('batch size', 1000, 1, 100_000),
    flushInterval: int('flush interval', 200, 0, 600_000),
    isolateAfter: int('isolate after', 5, 0, 100),
  },
  'zk-push': {
    port: int('port', 8081, 0, 65535),
    maxBodyKiB: int('body size limit (KiB)', 4096, 16, 65536),
    bodyTimeout: int('body time limit (s)', 30, 5, 600),
    perAddress: int('requests per address', 32, 1, 10000),
    delay: int('heartbeat (Delay)', DEFAULT_HANDSHAKE.delaySec, 1, 3600),
    errorDelay: int('ErrorDelay', DEFAULT_HANDSHAKE.errorDelaySec, 1, 3600),
    commandTimeout: int('command timeout', 600, 10, 86400),
  },
  'zk-mqtt-in': {
    maxMessageKiB: int('max message (KiB)', 4096, 1, 262_144),
    ackTimeout: int('downstream timeout (s)', 60, 1, 3600),
  },
} satisfies Record<string, Record<string, NumberRule>>;

export type RuledNode = keyof typeof SETTING_RULES;

/** The rule of `name` in node `type`, or undefined. */
export function settingRule(type: string, name: string): NumberRule | undefined {
  const rules = (SETTING_RULES as Record<string, Record<string, NumberRule>>)[type];
  return rules && Object.prototype.hasOwnProperty.call(rules, name) ? rules[name] : undefined;
}

/** What is wrong with a value outside the rule, without the value (the runtime appends it). */
export function ruleMessage(r: NumberRule): string {
  return `${r.field} must be ${r.integer ? 'a whole number' : 'a number'} from ${r.min} to ${r.max}`;
}

/** `v` checked against the rule (blank, null or missing: the default); throws a RangeError naming the field. */
export function readSetting(r: NumberRule, v: unknown): number {
  if (v === undefined || v === null || v === '') return r.default;
  const n = Number(v);
  if (!Number.isFinite(n) || n < r.min || n > r.max || (r.integer && !Number.isInteger(n))) {
    throw new RangeError(`${ruleMessage(r)} (got "${String(v)}")`);
  }
  return n;
}

/**
 * The editor's `defaults` entry for a setting of node `type`, as JavaScript source: the default value and a
 * validator that accepts what readSetting accepts (blank = default) and otherwise returns the rule's message,
 * which Node-RED shows beside the field (it reads a string as a reason only from a two-parameter validator).
 */
export function editorDefault(type: string, name: string): string {
  const r = settingRule(type, name);
  if (!r) throw new Error(`${type}.html: no setting rule "${name}" in nodes/shared/setting-rules.ts`);
  const whole = r.integer ? ' && Math.floor(n) === n' : '';
  return (
    `${name}: { value: ${JSON.stringify(r.default)}, validate: function (v, opt) { if (v === '' || v === undefined || v === null) return true; ` +
    `var n = Number(v); return (isFinite(n) && n >= ${r.min} && n <= ${r.max}${whole}) || ${JSON.stringify(ruleMessage(r))}; } }`
  );
}
