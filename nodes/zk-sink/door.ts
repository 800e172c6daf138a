/**
 * Validation at the sink's door: splits an input payload into valid records and error messages that name
 * the field and the reason. Never throws on any input.
 */
import { ATTENDANCE_RECORD_FIELDS, notARecord, validateRecord } from '../../lib/record';
import type { AttendanceRecord } from '../../lib/record';

export interface DoorError {
  /** The first failing field (`userId`, `payload`, …). */
  field: string;
  /** First reason, e.g. `userId: must NOT have more than 24 characters`. */
  reason: string;
  /** All reasons. */
  errors: string[];
  /** Position in the input array; null for a single record. */
  index: number | null;
  /** The input, with long strings shortened (a 10 MB string must not travel on to the debug sidebar). */
  record: unknown;
}

const MAX_ECHO = 200;

function shorten(v: unknown, depth = 0): unknown {
  if (typeof v === 'string') return v.length > MAX_ECHO ? `${v.slice(0, MAX_ECHO)}… (${v.length} characters)` : v;
  if (v === null || typeof v !== 'object' || depth > 2) return typeof v === 'object' && v !== null ? '[…]' : v;
  // A Buffer or typed array (a file read into msg.payload): Object.entries would copy it byte by byte.
  if (ArrayBuffer.isView(v)) return `[binary data, ${v.byteLength} bytes]`;
  if (Array.isArray(v)) return v.slice(0, 20).map((x) => shorten(x, depth + 1));
  const out: Record<string, unknown> = {};
  let n = 0;
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
    if (n++ >= 40) break;
    out[k.length > MAX_ECHO ? k.slice(0, MAX_ECHO) : k] = shorten(x, depth + 1);
  }
  return out;
}

/**
 * Only the canonical fields (and zk-dedupe's `repeat` mark) go into the outbox: extra properties are not
 * written by any target, and an arbitrary extra (a megabyte blob) must not bloat the outbox.
 */
function canonicalOnly(r: AttendanceRecord & { repeat?: unknown }): AttendanceRecord {
  const out = {} as Record<string, unknown>;
  for (const f of ATTENDANCE_RECORD_FIELDS) out[f] = r[f];
  if (r.repeat === true) out.repeat = true;
  return out as unknown as AttendanceRecord;
}

export function checkPayload(payload: unknown): { valid: AttendanceRecord[]; invalid: DoorError[] } {
  const valid: AttendanceRecord[] = [];
  const invalid: DoorError[] = [];
  const not = Array.isArray(payload) ? null : notARecord(payload);
  if (not !== null) {
    // Binary or text is usually JSON not parsed yet: say so, instead of listing 17 missing fields.
    const hint = /^(binary|text)/.test(not) ? '; if it holds JSON, parse it first (a JSON node before this one)' : '';
    const reason = `payload: ${not}, not a record or an array of records${hint}`;
    invalid.push({ field: 'payload', reason, errors: [reason], index: null, record: shorten(payload) });
    return { valid, invalid };
  }
  const list = Array.isArray(payload) ? payload : [payload];
  list.forEach((item: unknown, i) => {
    const r = validateRecord(item);
    if (r.ok) {
      valid.push(canonicalOnly(r.record));
      return;
    }
    const itemNot = notARecord(item);
    if (itemNot !== null) r.errors[0] = `(record): item ${i} is ${itemNot}, not a record`;
    const first = r.errors[0] ?? '(record): invalid';
    const colon = first.indexOf(':');
    invalid.push({
      field: colon > 0 ? first.slice(0, colon) : '(record)',
      reason: first,
      errors: r.errors,
      index: Array.isArray(payload) ? i : null,
      record: shorten(item),
    });
  });
  return { valid, invalid };
}
