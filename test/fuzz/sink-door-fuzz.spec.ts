/**
 * Seeded fuzz of zk-sink's door (nodes/zk-sink/door.ts checkPayload): valid canonical records, records
 * with one or two fields mutated (wrong type, missing, null, huge strings, NaN/Infinity/-0, nested objects,
 * arrays, prototype-pollution keys from JSON.parse, extra fields, times off the calendar, key text ending in a
 * space), and payloads that are no records at all
 * (primitives, Buffers and typed arrays, cyclic objects, arrays of mixed junk, deeply nested arrays).
 *
 * Contract checked for every payload: checkPayload never throws; valid + invalid adds up to the items given
 * (1 for a non-array payload; the holes of a sparse array are no items); every valid record passes validateRecord, holds exactly the canonical fields
 * (plus `repeat: true` when the input had it) and equals the input's canonical fields; every error names
 * its field, its reason starts with that field, and the echoed input holds no long string. Where the
 * generator knows the answer (a record it built valid, a field it broke) the outcome and the field named
 * must be that answer. A 64 MB Buffer is checked in a child process with a 256 MB heap, so work that grows
 * with a binary payload's size shows as a failure, not a stalled run.
 * Reproduce a failure with ZK_FUZZ_SEED=<seed> (printed in every failure message).
 */
import { strict as assert } from 'assert';
import { spawnSync } from 'child_process';
import * as path from 'path';
import { checkPayload, DoorError } from '../../nodes/zk-sink/door';
import {
  ATTENDANCE_RECORD_FIELDS,
  AttendanceRecord,
  DIRECTIONS,
  RECORD_SOURCES,
  VERIFY_METHODS,
  validateRecord,
} from '../../lib/record';
import { syntheticRecord } from '../../support/sink-records';
import { Rng } from '../support/prng';

const SEED = Number(process.env.ZK_FUZZ_SEED ?? 0x5eedd007);
const PAYLOADS = Number(process.env.ZK_FUZZ_PAYLOADS ?? 24_000);
/** The door shortens echoed strings to 200 characters plus a short "… (N characters)" note. */
const MAX_ECHO_STRING = 250;

type Field = keyof AttendanceRecord;
type Obj = Record<string, unknown>;
const FIELDS: readonly Field[] = ATTENDANCE_RECORD_FIELDS;
const CANONICAL = new Set<string>(FIELDS);
const NULLABLE = new Set<Field>(['deviceName', 'site', 'deviceHost', 'uid']);
const INTEGER_MAX: Partial<Record<Field, number>> = { uid: 65535, state: 255, verify: 255, workCode: 4294967295 };
const isInteger = (f: Field): boolean => INTEGER_MAX[f] !== undefined;
/** Strings that may be empty: the nullable free-text fields. */
const MAY_BE_EMPTY = new Set<Field>(['deviceName', 'site', 'deviceHost']);
/** The fields the id is made of. */
const ID_PARTS = new Set<Field>(['deviceSn', 'userId', 'localTime']);

/** Built once and sliced (a slice of a flat string is cheap), so huge values do not dominate the run time. */
const HUGE = 'Ω'.repeat(10) + 'x'.repeat(2_000_000);
const ASCII = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_ .|:/';
/** One code point each (the schema counts code points, not UTF-16 units). */
const EXOTIC = ['é', 'ß', '张', '伟', '😀', '\u0000', '\t', '\n', '"', '\\', '\u202e', '\u{10ffff}'];

function text(rng: Rng, n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) s += rng.bool(0.9) ? ASCII[rng.int(ASCII.length)] : rng.pick(EXOTIC);
  return s;
}

const pad = (n: number, w: number): string => String(n).padStart(w, '0');

const isLeap = (y: number): boolean => y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0);
const DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** A real calendar time (the door checks the calendar, years 0001–9999), edges drawn often. */
function localTime(rng: Rng): string {
  const y = rng.pick([1, 9999, 2000, 2024, 2100, rng.range(1, 9999)]);
  const mo = rng.pick([1, 2, 12, rng.range(1, 12)]);
  const dim = DAYS[mo - 1] + (mo === 2 && isLeap(y) ? 1 : 0);
  const d = rng.pick([1, dim, rng.range(1, dim)]);
  return `${pad(y, 4)}-${pad(mo, 2)}-${pad(d, 2)}T${pad(rng.pick([0, 23, rng.int(24)]), 2)}:${pad(rng.int(60), 2)}:${pad(rng.pick([0, 59, rng.int(60)]), 2)}`;
}

/** The right shape and digits, but no calendar time: Feb 29 of a common year, day 31 of a 30-day month, hour 24… */
function impossibleTime(rng: Rng): string {
  const y = rng.pick([2023, 2100, 1900, 2025]);
  return rng.pick([
    `${y}-02-29T09:00:00`,
    `${y}-02-30T00:00:00`,
    '2024-04-31T12:00:00',
    '2024-13-01T00:00:00',
    '2024-00-10T00:00:00',
    '2024-06-00T00:00:00',
    '2024-06-10T24:00:00',
    '2024-06-10T23:60:00',
    '2024-06-10T23:59:60',
    '0000-01-01T00:00:00',
    `${pad(rng.int(10000), 4)}-${pad(rng.range(13, 99), 2)}-${pad(rng.range(32, 99), 2)}T${pad(rng.range(24, 99), 2)}:00:00`,
  ]);
}

/** Key text (deviceSn, userId) may not end with a space: the door refuses it for every target. */
const noTrailingSpace = (s: string): string => (s.endsWith(' ') ? `${s.slice(0, -1)}x` : s);

function utcTime(rng: Rng): string {
  return `${localTime(rng)}${rng.pick(['', `.${pad(rng.int(10), 1)}`, `.${pad(rng.int(100), 2)}`, `.${pad(rng.int(1000), 3)}`])}Z`;
}

/** A value the schema accepts for `f`. */
function validValue(rng: Rng, f: Field): unknown {
  switch (f) {
    case 'id':
      return text(rng, rng.range(5, 200));
    case 'deviceSn':
      return noTrailingSpace(text(rng, rng.range(1, 64)));
    case 'deviceName':
    case 'site':
      return rng.bool(0.2) ? null : text(rng, rng.range(0, rng.bool(0.1) ? 128 : 20));
    case 'deviceHost':
      return rng.bool(0.3) ? null : text(rng, rng.range(0, rng.bool(0.1) ? 300 : 25));
    case 'userId':
      return rng.bool(0.1) ? '😀'.repeat(rng.range(1, 24)) : noTrailingSpace(text(rng, rng.range(1, 24)));
    case 'uid':
      return rng.bool(0.2) ? null : rng.pick([0, -0, 65535, rng.int(65536)]);
    case 'localTime':
      return localTime(rng);
    case 'timestamp':
    case 'receivedAt':
      return utcTime(rng);
    case 'tz':
      return text(rng, rng.range(1, 64));
    case 'state':
    case 'verify':
      return rng.pick([0, 255, rng.int(256)]);
    case 'direction':
      return rng.pick(DIRECTIONS);
    case 'verifyMethod':
      return rng.pick(VERIFY_METHODS);
    case 'workCode':
      return rng.pick([0, 4294967295, rng.int(100000)]);
    case 'source':
      return rng.pick(RECORD_SOURCES);
  }
}

const withId = (r: Obj): Obj => ({ ...r, id: `${String(r.deviceSn)}|${String(r.userId)}|${String(r.localTime)}` });

/** A canonical record the schema must accept: the sink tests' synthetic ones, or every field drawn at random. */
function validRecord(rng: Rng): Obj {
  if (rng.bool(0.3))
    return {
      ...syntheticRecord(rng.int(1_000_000), {
        devices: rng.range(1, 9),
        users: rng.range(1, 900),
        source: rng.pick(RECORD_SOURCES),
      }),
    };
  const r: Obj = {};
  for (const f of FIELDS) if (f !== 'id') r[f] = validValue(rng, f);
  return withId(r);
}

function deepNest(rng: Rng, levels: number, leaf: unknown): unknown {
  let v = leaf;
  for (let i = levels; i > 0; i--) v = rng.bool() ? [v] : { v };
  return v;
}

/** A value of the wrong JSON type for `f` (never accepted). */
function wrongType(rng: Rng, f: Field): unknown {
  const common: Array<() => unknown> = [
    () => rng.bool(),
    () => ({}),
    () => [],
    () => [1, 'a', null],
    () => ({ a: { b: { c: 1 } } }),
    () => ({ [f]: validValue(rng, f) }),
    () => [validValue(rng, f)],
    () => deepNest(rng, rng.range(1, 40), 'x'),
    () => validRecord(rng),
    () => () => 1,
    () => Buffer.from('12'),
  ];
  const typed: Array<() => unknown> = isInteger(f)
    ? [() => '0', () => String(rng.int(256)), () => text(rng, rng.range(0, 10))]
    : [() => 0, () => 1, () => rng.int(1_000_000), () => -1, () => 0.5];
  return rng.pick([...common, ...typed])();
}

/**
 * What the door must answer for one item: valid, or refused with the first error on one of `fields` (empty:
 * any field). null when the generator cannot tell.
 */
type Expect = { ok: true } | { ok: false; fields: ReadonlySet<string> } | null;
const VALID: Expect = { ok: true };
const refused = (...fields: string[]): Expect => ({ ok: false, fields: new Set(fields) });

interface Item {
  /** Position in the input array (0 for a single record). */
  index: number;
  value: unknown;
  expect: Expect;
  what: string;
}

interface Made {
  value: Obj;
  expect: Expect;
  what: string;
}

/** Breaks or changes one field of a valid record and says what the door must answer. */
function mutateField(rng: Rng, rec: Obj, f: Field): Made {
  const r: Obj = { ...rec };
  const bad = (what: string): Made => ({ value: r, expect: refused(f), what: `${f}: ${what}` });
  const ok = (what: string): Made => ({ value: r, expect: VALID, what: `${f}: ${what}` });
  switch (rng.int(12)) {
    case 0:
      delete r[f];
      return bad('missing');
    case 1:
      r[f] = null;
      return NULLABLE.has(f) ? ok('null') : bad('null');
    case 2:
      r[f] = undefined;
      return bad('undefined');
    case 3:
      r[f] = wrongType(rng, f);
      return bad('wrong type');
    case 4:
      r[f] = rng.pick([NaN, Infinity, -Infinity]);
      return bad('NaN or Infinity');
    case 5:
      r[f] = -0;
      return isInteger(f) ? ok('-0') : bad('-0 for a string');
    case 6:
      r[f] = rng.pick([-1, 0.5, 1e-9, 2 ** 53, Number.MAX_VALUE, (INTEGER_MAX[f] ?? 0) + 1, -(2 ** 31)]);
      return bad('out of range or fractional number');
    case 7: {
      // Longer than every string field's limit (deviceHost allows 300), and no time pattern matches it.
      const from = rng.int(12);
      r[f] = HUGE.slice(from, from + rng.pick([301, 400, 5000, 100_000, rng.bool(0.2) ? 1_000_000 : 301]));
      return bad('huge string');
    }
    case 8:
      r[f] = '';
      return MAY_BE_EMPTY.has(f) ? ok('empty string') : bad('empty string');
    case 9: {
      // Another value the schema accepts, id kept: only the id and its parts break the id rule.
      let v = validValue(rng, f);
      while (Object.is(v, rec[f])) v = validValue(rng, f);
      r[f] = v;
      if (f === 'id' || ID_PARTS.has(f)) return { value: r, expect: refused('id'), what: `${f}: changed, id kept` };
      return ok('another valid value');
    }
    case 10:
      r[f] = validValue(rng, f);
      return { value: withId(r), expect: VALID, what: `${f}: another valid value, id recomputed` };
    default: {
      // Near misses: a time with a zone or off the calendar, a padded or differently cased enum, one code point
      // too many, key text ending in a space.
      const lt = String(rec.localTime);
      const ts = String(rec.timestamp);
      const near: Record<Field, unknown[]> = {
        id: ['a|b', 'x'.repeat(201)],
        deviceSn: ['s'.repeat(65), '😀'.repeat(65), `${String(rec.deviceSn).slice(0, 63)} `, ' '],
        deviceName: ['n'.repeat(129)],
        site: ['s'.repeat(129)],
        deviceHost: ['h'.repeat(301)],
        userId: ['x'.repeat(25), '😀'.repeat(25), `${String(rec.userId).slice(0, 23)} `, 'A12 ', ' '],
        uid: [65536, '1', 1.5],
        localTime: [
          `${lt}Z`,
          `${lt}.000`,
          lt.replace('T', ' '),
          ` ${lt}`,
          `${lt}\n`,
          impossibleTime(rng),
          impossibleTime(rng),
        ],
        timestamp: [
          ts.replace(/Z$/, ''),
          ts.replace(/(\.\d+)?Z$/, '.1234Z'),
          ts.replace(/Z$/, '+00:00'),
          `${ts}\n`,
          `${impossibleTime(rng)}.000Z`,
        ],
        tz: ['z'.repeat(65), ''],
        state: [256, '0'],
        direction: ['IN', ' in', 'in ', 'sideways'],
        verify: [256, 1.5],
        verifyMethod: ['Fingerprint', 'retina', ''],
        workCode: [4294967296, '0'],
        source: ['POLL', 'pull', 'sql'],
        receivedAt: ['2024-03-04 12:00:00Z', '2024-03-04T12:00:00.000z', 'yesterday', `${impossibleTime(rng)}Z`],
      };
      r[f] = rng.pick(near[f]);
      return bad('near miss');
    }
  }
}

/** Extra properties the door must ignore (and not copy): junk, blobs, `repeat`, prototype-pollution keys. */
function withExtras(rng: Rng, rec: Obj): Made {
  const kind = rng.int(6);
  if (kind === 0) {
    // JSON.parse makes `__proto__` an own property: it must neither pollute nor count as a field.
    const extra = rng.pick([
      '"__proto__":{"polluted":"yes","userId":"evil","repeat":true}',
      '"constructor":{"prototype":{"polluted":"yes"}}',
      '"__proto__":null',
      '"prototype":{"polluted":"yes"},"hasOwnProperty":"no","toString":5,"valueOf":null',
    ]);
    return {
      value: JSON.parse(`{${extra},${JSON.stringify(rec).slice(1)}`) as Obj,
      expect: VALID,
      what: `extra ${extra.slice(0, 24)}`,
    };
  }
  if (kind === 1) {
    // A required field only on the (JSON) __proto__ object: still missing.
    const f = rng.pick(FIELDS);
    const rest: Obj = { ...rec };
    delete rest[f];
    const value = JSON.parse(`{"__proto__":${JSON.stringify({ [f]: rec[f] })},${JSON.stringify(rest).slice(1)}`) as Obj;
    return { value, expect: refused(f), what: `${f} only under a JSON __proto__` };
  }
  if (kind === 2)
    return { value: Object.assign(Object.create(null) as Obj, rec), expect: VALID, what: 'null prototype' };
  const r: Obj = { ...rec };
  for (let i = rng.range(1, 5); i > 0; i--) {
    const key = rng.pick([
      'repeat',
      'repeat',
      '_msgid',
      'topic',
      `x_${HUGE.slice(0, 1000)}`,
      `x_${text(rng, rng.range(1, 20))}`,
    ]);
    r[key] = rng.pick<unknown>([
      true,
      false,
      'true',
      1,
      null,
      HUGE.slice(0, 500_000),
      { nested: [1, 2, { deep: HUGE.slice(0, 300) }] },
      Buffer.alloc(64),
    ]);
  }
  return { value: r, expect: VALID, what: 'extra fields' };
}

function recordItem(rng: Rng): Made {
  const rec = validRecord(rng);
  const k = rng.int(10);
  if (k < 2) return { value: rec, expect: VALID, what: 'valid' };
  if (k < 4) return withExtras(rng, rec);
  if (k < 9) return mutateField(rng, rec, rng.pick(FIELDS));
  // Two fields changed: when both break their own field, the first error names one of them.
  const f1 = rng.pick(FIELDS);
  const f2 = rng.pick(FIELDS.filter((f) => f !== f1));
  const a = mutateField(rng, rec, f1);
  const b = mutateField(rng, a.value, f2);
  const breaks = (m: Made, f: Field): boolean => m.expect !== null && !m.expect.ok && m.expect.fields.has(f);
  return {
    value: b.value,
    expect: breaks(a, f1) && breaks(b, f2) ? refused(f1, f2) : null,
    what: `${a.what} + ${b.what}`,
  };
}

/** Anything but a record. */
function junkValue(rng: Rng, depth = 0): unknown {
  const kinds: Array<() => unknown> = [
    () => rng.pick([0, -0, NaN, Infinity, -Infinity, 1e308, -1, 3.14, rng.u32()]),
    () =>
      rng.pick<() => string>([
        () => '',
        () => '[]',
        () => '{}',
        () => 'null',
        () => JSON.stringify(validRecord(rng)),
        () => text(rng, rng.range(0, 300)),
      ])(),
    () => HUGE.slice(rng.int(3), rng.pick([201, 1000, 1_000_000])),
    () => rng.pick([null, undefined, true, false]),
    () => rng.pick<unknown>([10n, Symbol('s'), Symbol.iterator, Math.max]),
    () =>
      rng.pick<() => unknown>([
        () => ({}),
        () => new Date(0),
        () => new Map([[1, 2]]),
        () => new Set([1]),
        () => /re/g,
        () => new Error('boom'),
        () => Promise.resolve(1),
      ])(),
    () => (rng.bool(0.8) ? rng.bytes(rng.int(300)) : Buffer.alloc(rng.range(300, 200_000), rng.int(256))),
    () =>
      rng.pick<() => unknown>([
        () => new Uint8Array(rng.int(1000)),
        () => new Float64Array(rng.int(100)),
        () => new DataView(new ArrayBuffer(16)),
        () => new ArrayBuffer(rng.int(1000)),
        () => new Uint16Array(50_000),
        () => Object.setPrototypeOf(new Uint8Array(8), null) as unknown,
      ])(),
    () => {
      const a: Obj = { id: 'x' };
      a.self = a;
      a.list = [a, [a]];
      return a;
    },
    () =>
      deepNest(
        rng,
        rng.range(1, rng.bool(0.1) ? 5000 : 60),
        rng.pick<() => unknown>([() => validRecord(rng), () => 'leaf', () => 1, () => null])(),
      ),
    () => {
      const o: Obj = {};
      for (let i = rng.range(30, rng.bool(0.1) ? 3000 : 300); i > 0; i--)
        o[text(rng, rng.range(1, 8))] = rng.bool() ? i : HUGE.slice(0, rng.range(1, 600));
      return o;
    },
    () =>
      Array.from({ length: rng.range(0, depth === 0 ? 30 : 4) }, () =>
        depth < 2 ? junkValue(rng, depth + 1) : 'leaf',
      ),
    () => JSON.parse('{"__proto__":{"polluted":"yes"},"constructor":{"prototype":{"polluted":"yes"}}}') as unknown,
    () => ({
      [HUGE.slice(0, 5000)]: HUGE.slice(0, 5000),
      nested: { deeper: { deepest: { value: HUGE.slice(0, 9999) } } },
    }),
    () => {
      // Sparse: holes are not items (the door, like forEach, skips them); only the values set are.
      const a: unknown[] = new Array(rng.range(1, 1000));
      for (let i = rng.int(4); i > 0; i--) a[rng.int(a.length)] = rng.bool() ? validRecord(rng) : 'x';
      return a;
    },
    () =>
      rng.pick<() => unknown>([
        () => new String('boxed'),
        () => new Number(5),
        () => Object.create({ inherited: true }),
      ])(),
  ];
  return rng.pick(kinds)();
}

/** Junk as an item of a record list: refused on some field, or as `(record)` when it is no object. */
function junkExpect(v: unknown): Expect {
  if (
    v !== null &&
    typeof v === 'object' &&
    !Array.isArray(v) &&
    typeof Reflect.get(v, 'id') === 'string' &&
    Object.keys(v).length > 3
  )
    return null;
  return refused();
}

function describeValue(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return `array(${v.length})`;
  if (ArrayBuffer.isView(v)) return `binary(${String(v.byteLength)})`;
  if (typeof v === 'object') return (v as object).constructor?.name ?? 'object(null prototype)';
  if (typeof v === 'string') return `string(${v.length})`;
  return typeof v;
}

/** The items of an array as the door sees them (holes skipped), each with what the generator knows. */
function itemsOf(list: unknown[], known: ReadonlyMap<number, Made> = new Map()): Item[] {
  const items: Item[] = [];
  list.forEach((value, index) => {
    const m = known.get(index);
    items.push(
      m
        ? { index, value, expect: m.expect, what: m.what }
        : { index, value, expect: junkExpect(value), what: `junk ${describeValue(value)}` },
    );
  });
  return items;
}

/** A payload and its items (null: not an object, so one `payload` error). */
function payloadOf(rng: Rng): { payload: unknown; items: Item[] | null } {
  const k = rng.int(10);
  if (k < 4) {
    const m = recordItem(rng);
    return { payload: m.value, items: [{ index: 0, value: m.value, expect: m.expect, what: m.what }] };
  }
  if (k < 6) {
    const value =
      k === 4
        ? junkValue(rng)
        : rng.pick<unknown>([
            undefined,
            null,
            0,
            NaN,
            '',
            'records',
            HUGE.slice(0, 1_000_000),
            true,
            7n,
            Symbol('p'),
            Math.min,
          ]);
    if (value === null || typeof value !== 'object') return { payload: value, items: null };
    if (Array.isArray(value)) return { payload: value, items: itemsOf(value) };
    return {
      payload: value,
      items: [{ index: 0, value, expect: junkExpect(value), what: `junk ${describeValue(value)}` }],
    };
  }
  // Arrays: records, broken records and junk mixed; now and then a larger batch.
  const n = rng.bool(0.02) ? rng.range(100, 600) : rng.range(0, 25);
  const list: unknown[] = [];
  const known = new Map<number, Made>();
  for (let j = 0; j < n; j++) {
    if (rng.bool(0.7)) {
      const m = recordItem(rng);
      known.set(j, m);
      list.push(m.value);
    } else list.push(junkValue(rng));
  }
  return { payload: list, items: itemsOf(list, known) };
}

let ctx = '';
function fail(msg: string): never {
  assert.fail(`${msg} [seed ${SEED}, ${ctx}]`);
}

/** Every string (values and keys) in the echoed input is short; the echo is finite (no cycles) and holds no bytes. */
function checkEcho(echo: unknown, depth = 0): void {
  if (depth > 10) fail('echoed record is nested deeper than the door shortens to');
  if (typeof echo === 'string') {
    if (echo.length > MAX_ECHO_STRING) fail(`echoed string of ${echo.length} characters`);
    return;
  }
  if (echo === null || typeof echo !== 'object') return;
  if (ArrayBuffer.isView(echo) || echo instanceof ArrayBuffer) fail('echoed record holds binary data');
  for (const k of Object.keys(echo)) {
    if (k.length > MAX_ECHO_STRING) fail(`echoed key of ${k.length} characters`);
    checkEcho((echo as Obj)[k], depth + 1);
  }
}

/** The canonical fields of an input as a property read sees them, plus `repeat: true` when set. */
function expectedOutput(input: unknown): Obj {
  const out: Obj = {};
  for (const f of FIELDS) out[f] = Reflect.get(input as object, f);
  if (Reflect.get(input as object, 'repeat') === true) out.repeat = true;
  return out;
}

function checkError(e: DoorError, index: number | null, expect: Expect): void {
  if (typeof e.field !== 'string' || e.field === '') fail(`error without a field: ${JSON.stringify(e.field)}`);
  if (!CANONICAL.has(e.field) && e.field !== 'payload' && e.field !== '(record)')
    fail(`error names an unknown field ${JSON.stringify(e.field)}`);
  if (typeof e.reason !== 'string' || !e.reason.startsWith(`${e.field}:`))
    fail(`reason ${JSON.stringify(e.reason)} does not start with its field ${e.field}`);
  if (e.reason.length > 500) fail(`reason of ${e.reason.length} characters`);
  if (!Array.isArray(e.errors) || e.errors.length === 0 || e.errors[0] !== e.reason)
    fail('errors[] must start with the reason');
  if (e.index !== index) fail(`error index ${String(e.index)}, expected ${String(index)}`);
  if (expect && !expect.ok && expect.fields.size > 0 && !expect.fields.has(e.field)) {
    fail(`error names ${e.field}, expected ${[...expect.fields].join(' or ')}: ${e.reason}`);
  }
  checkEcho(e.record);
}

function checkValid(out: AttendanceRecord, input: unknown): void {
  const v = validateRecord(out);
  if (!v.ok) fail(`a record let through fails validateRecord: ${v.errors.join('; ')}`);
  if (out === input) fail('the input object itself was passed on (its extra fields would travel with it)');
  for (const k of Object.keys(out))
    if (!CANONICAL.has(k) && k !== 'repeat') fail(`valid record carries extra field ${JSON.stringify(k.slice(0, 40))}`);
  for (const f of FIELDS) if (!Object.prototype.hasOwnProperty.call(out, f)) fail(`valid record lacks own field ${f}`);
  try {
    assert.deepStrictEqual(out, expectedOutput(input));
  } catch (err) {
    fail(`valid record differs from the input's canonical fields: ${(err as Error).message.slice(0, 600)}`);
  }
}

interface Stats {
  payloads: number;
  items: number;
  valid: number;
  invalid: number;
  arrays: number;
  predicted: number;
  fieldErrors: Record<string, number>;
}

function runOne(payload: unknown, items: Item[] | null, stats: Stats): void {
  let result: ReturnType<typeof checkPayload>;
  try {
    result = checkPayload(payload);
  } catch (err) {
    fail(`checkPayload threw: ${(err as Error)?.stack ?? String(err)}`);
  }
  const { valid, invalid } = result;
  if (!Array.isArray(valid) || !Array.isArray(invalid)) fail('checkPayload must return two arrays');
  stats.payloads++;
  if (items === null) {
    if (valid.length !== 0 || invalid.length !== 1)
      fail(`non-object payload gave ${valid.length} valid, ${invalid.length} invalid`);
    if (invalid[0].field !== 'payload') fail(`non-object payload: field ${invalid[0].field}, expected payload`);
    checkError(invalid[0], null, null);
    stats.items++;
    stats.invalid++;
    stats.fieldErrors.payload = (stats.fieldErrors.payload ?? 0) + 1;
    return;
  }
  const isArray = Array.isArray(payload);
  if (valid.length + invalid.length !== items.length)
    fail(`${valid.length} valid + ${invalid.length} invalid for ${items.length} items`);
  const byIndex = new Map<number, DoorError>();
  let last = -1;
  for (const e of invalid) {
    const at = isArray ? e.index : 0;
    if (typeof at !== 'number' || at <= last) fail(`error index ${String(e.index)} missing, repeated or out of order`);
    byIndex.set(at, e);
    last = at;
  }
  const base = ctx;
  let v = 0;
  for (const item of items) {
    ctx = `${base}, item ${item.index}: ${item.what}`;
    const e = byIndex.get(item.index);
    byIndex.delete(item.index);
    if (e) {
      if (item.expect?.ok) fail(`a valid record was refused: ${e.reason}`);
      checkError(e, isArray ? item.index : null, item.expect);
      stats.invalid++;
      stats.fieldErrors[e.field] = (stats.fieldErrors[e.field] ?? 0) + 1;
    } else {
      if (item.expect && !item.expect.ok)
        fail(
          `an invalid record was let through (expected an error on ${[...item.expect.fields].join(' or ') || 'some field'})`,
        );
      if (v >= valid.length) fail('fewer valid records than items without an error');
      checkValid(valid[v++], item.value);
      stats.valid++;
    }
    if (item.expect) stats.predicted++;
    stats.items++;
  }
  ctx = base;
  if (byIndex.size > 0) fail(`errors for positions that hold no item: ${[...byIndex.keys()].join(', ')}`);
}

describe('fuzz: zk-sink door (seeded)', function () {
  this.timeout(120_000);

  it(`${PAYLOADS.toLocaleString('en')} random payloads through checkPayload: never throws, counts add up, valid records exact, errors named and short`, () => {
    const rng = new Rng(SEED);
    const protoKeysBefore = Object.getOwnPropertyNames(Object.prototype).sort();
    const stats: Stats = { payloads: 0, items: 0, valid: 0, invalid: 0, arrays: 0, predicted: 0, fieldErrors: {} };
    for (let i = 0; i < PAYLOADS; i++) {
      ctx = `payload ${i}`;
      const { payload, items } = payloadOf(rng);
      if (Array.isArray(payload)) stats.arrays++;
      // A record the generator calls valid must pass the schema on its own (this checks the generator too).
      for (const it of items ?? []) {
        if (!it.expect?.ok) continue;
        const v = validateRecord(it.value);
        if (!v.ok) fail(`the generator built a record the schema refuses (${it.what}): ${v.errors.join('; ')}`);
      }
      runOne(payload, items, stats);
    }
    // Binary payloads (a file read into msg.payload) are refused like any other non-record.
    for (const big of [Buffer.alloc(2 * 1024 * 1024), new Uint8Array(1024 * 1024), new Float64Array(256 * 1024)]) {
      ctx = `large binary payload ${describeValue(big)}`;
      runOne(big, [{ index: 0, value: big, expect: refused(), what: describeValue(big) }], stats);
      const list = [big, { userId: big }, [big]];
      runOne(list, itemsOf(list), stats);
    }
    ctx = 'after the run';
    // Nothing leaked onto Object.prototype from the __proto__/constructor payloads.
    assert.deepEqual(Object.getOwnPropertyNames(Object.prototype).sort(), protoKeysBefore);
    assert.equal(({} as Obj).polluted, undefined);
    assert.equal(stats.payloads, PAYLOADS + 6);
    // The storm exercised every outcome: valid records, errors on every canonical field, payload and record errors.
    assert.ok(stats.valid > PAYLOADS / 4, `valid: ${stats.valid}`);
    assert.ok(stats.invalid > PAYLOADS / 2, `invalid: ${stats.invalid}`);
    assert.ok(stats.arrays > PAYLOADS / 5, `arrays: ${stats.arrays}`);
    assert.ok(stats.predicted > PAYLOADS, `outcomes predicted: ${stats.predicted}`);
    for (const f of [...FIELDS, 'payload', '(record)']) {
      assert.ok(
        (stats.fieldErrors[f] ?? 0) >= 100,
        `errors on ${f}: ${stats.fieldErrors[f] ?? 0} (${JSON.stringify(stats.fieldErrors)})`,
      );
    }
  });

  it('a 64 MB Buffer payload (alone, and as a field) is refused within a 256 MB heap: its echo is a summary, not a copy of every byte', () => {
    // In a child with a small heap, so work that grows with the payload's size fails here as an out-of-memory
    // exit instead of stalling the run.
    const door = path.resolve(__dirname, '../../nodes/zk-sink/door');
    const script = `
      const { checkPayload } = require(${JSON.stringify(door)});
      const big = Buffer.alloc(64 * 1024 * 1024, 0x41);
      const single = checkPayload(big);
      const list = checkPayload([big, { userId: big }, new Float64Array(8 * 1024 * 1024)]);
      const out = [...single.invalid, ...list.invalid].map((e) => ({ field: e.field, index: e.index, echo: JSON.stringify(e.record).length }));
      process.stdout.write(JSON.stringify({ valid: single.valid.length + list.valid.length, out }));
    `;
    const child = spawnSync(
      process.execPath,
      ['--max-old-space-size=256', '-r', 'ts-node/register/transpile-only', '-e', script],
      {
        cwd: path.resolve(__dirname, '../..'),
        encoding: 'utf8',
        timeout: 90_000,
      },
    );
    assert.equal(
      child.status,
      0,
      `child exited ${String(child.status)} (${String(child.signal)}): ${child.stderr.slice(-600)}`,
    );
    const got = JSON.parse(child.stdout) as {
      valid: number;
      out: Array<{ field: string; index: number | null; echo: number }>;
    };
    assert.equal(got.valid, 0);
    // Binary data is named as such ("not a record"); an object holding it lacks fields, named from the first.
    assert.deepEqual(
      got.out.map((e) => [e.field, e.index]),
      [
        ['payload', null],
        ['(record)', 0],
        ['id', 1],
        ['(record)', 2],
      ],
    );
    for (const e of got.out) assert.ok(e.echo < 1000, `echo of ${e.echo} characters`);
  });
});
