/**
 * The canonical record's JSON Schema, compiled once with ajv. Its properties are typed as a record over
 * `keyof AttendanceRecord` and its required list is ATTENDANCE_RECORD_FIELDS, so a field added to the
 * interface and not here fails the build. (ajv's JSONSchemaType cannot express required nullable fields.)
 */
import Ajv, { ErrorObject, SchemaObject } from 'ajv';
import { AttendanceRecord, ATTENDANCE_RECORD_FIELDS, DIRECTIONS, VERIFY_METHODS, RECORD_SOURCES } from './canonical';

const LOCAL_TIME = '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}$';
const UTC_TIME = '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(\\.\\d{1,3})?Z$';

const properties: Record<keyof AttendanceRecord, SchemaObject> = {
  id: { type: 'string', minLength: 5, maxLength: 200 },
  deviceSn: { type: 'string', minLength: 1, maxLength: 64 },
  deviceName: { type: ['string', 'null'], maxLength: 128 },
  site: { type: ['string', 'null'], maxLength: 128 },
  deviceHost: { type: ['string', 'null'], maxLength: 300 },
  userId: { type: 'string', minLength: 1, maxLength: 24 },
  uid: { type: ['integer', 'null'], minimum: 0, maximum: 65535 },
  localTime: { type: 'string', pattern: LOCAL_TIME },
  timestamp: { type: 'string', pattern: UTC_TIME },
  tz: { type: 'string', minLength: 1, maxLength: 64 },
  state: { type: 'integer', minimum: 0, maximum: 255 },
  direction: { type: 'string', enum: [...DIRECTIONS] },
  verify: { type: 'integer', minimum: 0, maximum: 255 },
  verifyMethod: { type: 'string', enum: [...VERIFY_METHODS] },
  workCode: { type: 'integer', minimum: 0, maximum: 4294967295 },
  source: { type: 'string', enum: [...RECORD_SOURCES] },
  receivedAt: { type: 'string', pattern: UTC_TIME },
};

export const attendanceRecordSchema: SchemaObject = {
  $id: 'https://punchflow.dev/schema/attendance-record.json',
  type: 'object',
  additionalProperties: true,
  required: [...ATTENDANCE_RECORD_FIELDS],
  properties,
};

const ajv = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true });
const validate = ajv.compile(attendanceRecordSchema);

export type RecordValidation = { ok: true; record: AttendanceRecord } | { ok: false; errors: string[] };

function describe(e: ErrorObject): string {
  const field = e.instancePath
    ? e.instancePath.slice(1).replace(/\//g, '.')
    : ((e.params as { missingProperty?: string }).missingProperty ?? '(record)');
  return `${field}: ${e.message ?? 'invalid'}`;
}

/**
 * Why `value` is no record at all (binary data, an array, a Date, a primitive…), or null for a plain object.
 * Tags, not prototypes: a record built in a Node-RED function node comes from another realm.
 */
export function notARecord(value: unknown): string | null {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined (no value)';
  if (typeof value === 'string') return `text (${value.length} characters)`;
  if (typeof value !== 'object') return `a ${typeof value}`;
  if (ArrayBuffer.isView(value)) {
    const kind = Buffer.isBuffer(value) ? 'Buffer' : (Object.prototype.toString.call(value) as string).slice(8, -1);
    return `binary data (${kind}, ${value.byteLength} bytes)`;
  }
  if (value instanceof ArrayBuffer || Object.prototype.toString.call(value) === '[object ArrayBuffer]') {
    return `binary data (ArrayBuffer, ${(value as ArrayBuffer).byteLength} bytes)`;
  }
  if (Array.isArray(value)) return `an array of ${value.length}`;
  const tag = (Object.prototype.toString.call(value) as string).slice(8, -1);
  return tag === 'Object' ? null : `${/^[AEIOU]/.test(tag) ? 'an' : 'a'} ${tag}`;
}

/** A real calendar time: years 0001–9999 (what every SQL target stores), no Feb 30, no hour 24, no leap second. */
function calendarProblem(s: string): string | null {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})/.exec(s);
  if (!m) return null; // the pattern check reports it
  const [y, mo, d, h, mi, se] = m.slice(1).map(Number);
  if (y < 1) return 'year 0000 does not exist (years run from 0001)';
  if (mo < 1 || mo > 12) return `month ${m[2]} does not exist`;
  const leap = y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0);
  const days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][mo - 1];
  if (d < 1 || d > days) return `${m[1]}-${m[2]} has no day ${m[3]}`;
  if (h > 23 || mi > 59 || se > 59) return `${m[4]}:${m[5]}:${m[6]} is not a time of day`;
  return null;
}

const TIME_FIELDS = ['localTime', 'timestamp', 'receivedAt'] as const;
/** The key's text parts; SQL Server (and MySQL's PAD SPACE collations) compare them without trailing spaces. */
const KEY_TEXT_FIELDS = ['deviceSn', 'userId'] as const;

/** Every missing field in one message (in schema order), so a record with several gaps is fixed in one go. */
function missingFields(errors: ErrorObject[]): string[] {
  const missing = errors
    .filter((e) => e.keyword === 'required' && !e.instancePath)
    .map((e) => (e.params as { missingProperty: string }).missingProperty);
  const rest = errors.filter((e) => !(e.keyword === 'required' && !e.instancePath)).map(describe);
  if (missing.length === 0) return rest;
  const first =
    missing.length === 1
      ? `${missing[0]}: must have required property '${missing[0]}'`
      : `${missing[0]}: missing, with ${missing.length - 1} more (missing: ${missing.join(', ')})`;
  return [first, ...rest];
}

/**
 * Validates one record at a sink's door. Errors name the field and the reason; the id must also be
 * deviceSn|userId|localTime so a record cannot claim another record's key. Beyond the schema: times must be
 * real calendar times (a target would refuse 2023-02-29 and, before, stall on it), and the key's text must not
 * end with a space (targets disagree on whether `A12 ` is `A12`; see the README, zk-sink).
 */
export function validateRecord(value: unknown): RecordValidation {
  const not = notARecord(value);
  if (not !== null) return { ok: false, errors: [`(record): ${not}, not a record`] };
  if (!validate(value)) return { ok: false, errors: missingFields(validate.errors ?? []) };
  const r = value as AttendanceRecord;
  const errors: string[] = [];
  for (const f of KEY_TEXT_FIELDS) {
    if (r[f].endsWith(' ')) {
      errors.push(
        `${f}: ${JSON.stringify(r[f])} ends with a space; key fields may not (SQL Server would take it for ${JSON.stringify(r[f].replace(/ +$/, ''))}): remove it before the sink`,
      );
    }
  }
  for (const f of TIME_FIELDS) {
    const why = calendarProblem(r[f]);
    if (why) errors.push(`${f}: ${r[f]} is not a real date and time (${why})`);
  }
  const expected = `${r.deviceSn}|${r.userId}|${r.localTime}`;
  if (r.id !== expected) errors.push(`id: must be deviceSn|userId|localTime ("${expected}")`);
  return errors.length ? { ok: false, errors } : { ok: true, record: r };
}
