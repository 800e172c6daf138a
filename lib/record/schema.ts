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
  const field = e.instancePath ? e.instancePath.slice(1).replace(/\//g, '.') : (e.params as { missingProperty?: string }).missingProperty ?? '(record)';
  return `${field}: ${e.message ?? 'invalid'}`;
}

/**
 * Validates one record at a sink's door. Errors name the field and the reason; the id must also be
 * deviceSn|userId|localTime so a record cannot claim another record's key.
 */
export function validateRecord(value: unknown): RecordValidation {
  if (!validate(value)) return { ok: false, errors: (validate.errors ?? []).map(describe) };
  const r = value as AttendanceRecord;
  const expected = `${r.deviceSn}|${r.userId}|${r.localTime}`;
  if (r.id !== expected) return { ok: false, errors: [`id: must be deviceSn|userId|localTime ("${expected}")`] };
  return { ok: true, record: r };
}
