/**
 * Pure SQL generation and value conversion for the MySQL/MariaDB sink (docs/targets.md §5): identifiers,
 * column mapping, the default table's DDL, the multi-row idempotent INSERT, chunking and error classes.
 * No connection here, so all of it is unit-tested without a server.
 */
import { ATTENDANCE_RECORD_FIELDS, type AttendanceRecord } from '../record';
import { DEFAULT_COLUMNS } from './columns';
import {
  SQL_IDENTIFIER,
  codePoints,
  dateTimeParts,
  hasLoneSurrogate,
  isCalendarTime,
  planRanges,
  DateTimeParts,
} from './sql';

export type MysqlField = keyof AttendanceRecord;

/** Canonical field → column name, or null for "not written". */
export type MysqlColumnMap = Partial<Record<MysqlField, string | null>>;

export interface MysqlColumn {
  field: MysqlField;
  column: string;
}

export const MYSQL_DEFAULT_TABLE = 'attendance_log';

/** docs/targets.md §1: identifiers come from the node config only and must match this before being quoted (sql.ts). */
export const SAFE_IDENTIFIER = SQL_IDENTIFIER.mysql;

/** The fields of the unique key that makes re-writes no-ops; they must always be mapped. */
export const MYSQL_KEY_FIELDS: readonly MysqlField[] = ['deviceSn', 'userId', 'localTime'];

/** Default mapping: the SQL targets' shared columns (lib/sinks/columns.ts). */
export const DEFAULT_MYSQL_COLUMNS: Readonly<Record<MysqlField, string | null>> = DEFAULT_COLUMNS;

// Column order of the created table and of the INSERT: the canonical order (docs/architecture.md §3).
const FIELD_ORDER: readonly MysqlField[] = ATTENDANCE_RECORD_FIELDS;

const NULLABLE_FIELDS: ReadonlySet<MysqlField> = new Set<MysqlField>(['deviceName', 'site', 'deviceHost', 'uid']);
const INTEGER_FIELDS: ReadonlySet<MysqlField> = new Set<MysqlField>(['uid', 'state', 'verify', 'workCode']);

/** Validates and backtick-quotes one identifier. Throws on anything outside SAFE_IDENTIFIER. */
export function quoteIdentifier(name: string): string {
  if (typeof name !== 'string' || !SAFE_IDENTIFIER.test(name)) {
    throw new Error(`invalid MySQL identifier ${JSON.stringify(name)}: must match ${SAFE_IDENTIFIER.source}`);
  }
  // The pattern admits no backtick, so quoting cannot be broken out of; quoting makes keywords safe.
  return '`' + name + '`';
}

/**
 * The mapped columns in canonical order. Throws a readable Error for an unknown field, an invalid or
 * repeated column name, or an unmapped key field (without the key, re-sends would double rows).
 */
export function resolveColumns(map: MysqlColumnMap = {}): MysqlColumn[] {
  for (const f of Object.keys(map)) {
    if (!(FIELD_ORDER as readonly string[]).includes(f)) throw new Error(`column mapping: unknown field "${f}"`);
  }
  const out: MysqlColumn[] = [];
  const seen = new Map<string, MysqlField>();
  for (const field of FIELD_ORDER) {
    const column = field in map ? map[field] : DEFAULT_MYSQL_COLUMNS[field];
    if (column === null || column === undefined || column === '') {
      if (MYSQL_KEY_FIELDS.includes(field))
        throw new Error(`column mapping: key field "${field}" must be mapped to a column`);
      continue;
    }
    quoteIdentifier(column);
    // MySQL column names are case-insensitive.
    const lower = column.toLowerCase();
    const other = seen.get(lower);
    if (other) throw new Error(`column mapping: "${field}" and "${other}" both map to column "${column}"`);
    seen.set(lower, field);
    out.push({ field, column });
  }
  return out;
}

/** Server family, for the key collation: keys must compare byte-exact, trailing spaces included. */
export type MysqlFlavor = 'mariadb' | 'mysql8' | 'mysql57';

export function flavorFromVersion(version: string): MysqlFlavor {
  if (/mariadb/i.test(version)) return 'mariadb';
  const m = /^(\d+)\.(\d+)\.(\d+)/.exec(version);
  if (m && (Number(m[1]) > 8 || (Number(m[1]) === 8 && (Number(m[2]) > 0 || Number(m[3]) >= 17)))) return 'mysql8';
  return 'mysql57';
}

/**
 * utf8mb4_bin is a PAD SPACE collation: '12' and '12 ' would be one key. MariaDB's nopad_bin and MySQL
 * 8.0.17+'s 0900_bin compare exactly, like our in-batch dedupe. MySQL 5.7 has neither (documented limit).
 */
const KEY_COLLATION: Record<MysqlFlavor, string> = {
  mariadb: 'utf8mb4_nopad_bin',
  mysql8: 'utf8mb4_0900_bin',
  mysql57: 'utf8mb4_bin',
};

/** Column types of the created table, sized from the record schema so a valid record always fits. */
function columnType(field: MysqlField, flavor: MysqlFlavor): string {
  const key = `CHARACTER SET utf8mb4 COLLATE ${KEY_COLLATION[flavor]}`;
  switch (field) {
    case 'id':
      return 'VARCHAR(200) NOT NULL';
    case 'deviceSn':
      return `VARCHAR(64) ${key} NOT NULL`;
    case 'deviceName':
      return 'VARCHAR(128) NULL';
    case 'site':
      return 'VARCHAR(128) NULL';
    case 'deviceHost':
      return 'VARCHAR(300) NULL';
    case 'userId':
      return `VARCHAR(24) ${key} NOT NULL`;
    case 'uid':
      return 'SMALLINT UNSIGNED NULL';
    // DATETIME, never TIMESTAMP: TIMESTAMP converts through the session time zone.
    case 'localTime':
      return 'DATETIME NOT NULL';
    case 'timestamp':
      return 'DATETIME NOT NULL';
    case 'tz':
      return 'VARCHAR(64) NOT NULL';
    case 'state':
      return 'TINYINT UNSIGNED NOT NULL';
    case 'direction':
      return 'VARCHAR(16) NOT NULL';
    case 'verify':
      return 'TINYINT UNSIGNED NOT NULL';
    case 'verifyMethod':
      return 'VARCHAR(16) NOT NULL';
    case 'workCode':
      return 'INT UNSIGNED NOT NULL DEFAULT 0';
    case 'source':
      return 'VARCHAR(8) NOT NULL';
    // receivedAt has milliseconds; DATETIME(3) keeps them instead of rounding (MySQL) or cutting (MariaDB).
    case 'receivedAt':
      return 'DATETIME(3) NOT NULL';
  }
}

/**
 * CREATE TABLE IF NOT EXISTS for the mapped columns: a surrogate `id` and the unique key `uk_punch` on the
 * key columns. No index on local_time by default: measured, it costs ~30 % of insert throughput; a site
 * whose reports filter by date across devices can add `KEY (local_time)` itself.
 */
export function buildCreateTableSql(
  table: string,
  columns: readonly MysqlColumn[],
  flavor: MysqlFlavor = 'mariadb',
): string {
  const col = (f: MysqlField): string => {
    const c = columns.find((x) => x.field === f);
    if (!c) throw new Error(`column mapping: key field "${f}" must be mapped to a column`);
    return quoteIdentifier(c.column);
  };
  if (columns.some((c) => c.column.toLowerCase() === 'id')) {
    throw new Error('column mapping: "id" is the created table\'s surrogate key; map the field to another column');
  }
  const lines = [
    '  `id` BIGINT UNSIGNED NOT NULL AUTO_INCREMENT',
    ...columns.map((c) => `  ${quoteIdentifier(c.column)} ${columnType(c.field, flavor)}`),
    '  PRIMARY KEY (`id`)',
    `  UNIQUE KEY \`uk_punch\` (${col('deviceSn')}, ${col('userId')}, ${col('localTime')})`,
  ];
  return `CREATE TABLE IF NOT EXISTS ${quoteIdentifier(table)} (\n${lines.join(',\n')}\n) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`;
}

/**
 * The default table's DDL on MariaDB (the README cites it). On MySQL 8.0.17+ the key collation is
 * utf8mb4_0900_bin instead; the sink picks it from the server version.
 */
export const MYSQL_ATTENDANCE_LOG_DDL = `CREATE TABLE IF NOT EXISTS \`attendance_log\` (
  \`id\` BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  \`device_sn\` VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL,
  \`device_name\` VARCHAR(128) NULL,
  \`site\` VARCHAR(128) NULL,
  \`device_host\` VARCHAR(300) NULL,
  \`user_id\` VARCHAR(24) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL,
  \`uid\` SMALLINT UNSIGNED NULL,
  \`local_time\` DATETIME NOT NULL,
  \`ts_utc\` DATETIME NOT NULL,
  \`tz\` VARCHAR(64) NOT NULL,
  \`state\` TINYINT UNSIGNED NOT NULL,
  \`direction\` VARCHAR(16) NOT NULL,
  \`verify\` TINYINT UNSIGNED NOT NULL,
  \`verify_method\` VARCHAR(16) NOT NULL,
  \`work_code\` INT UNSIGNED NOT NULL DEFAULT 0,
  \`source\` VARCHAR(8) NOT NULL,
  \`received_at\` DATETIME(3) NOT NULL,
  PRIMARY KEY (\`id\`),
  UNIQUE KEY \`uk_punch\` (\`device_sn\`, \`user_id\`, \`local_time\`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`;

/**
 * `INSERT … VALUES (?, …), … ON DUPLICATE KEY UPDATE k = k` for `rows` rows. The update assigns a key
 * column to itself: a no-op that works with or without an `id` column, and unlike INSERT IGNORE it leaves
 * every other error (too long, bad date) an error instead of a warning plus silent truncation (§5.3).
 */
export function buildInsertSql(table: string, columns: readonly MysqlColumn[], rows: number): string {
  if (!Number.isSafeInteger(rows) || rows < 1) throw new Error(`row count must be a positive integer, got ${rows}`);
  if (rows * columns.length > MYSQL_MAX_PLACEHOLDERS)
    throw new Error(`${rows} rows × ${columns.length} columns exceed ${MYSQL_MAX_PLACEHOLDERS} placeholders`);
  const key = columns.find((c) => c.field === 'deviceSn');
  if (!key) throw new Error('column mapping: key field "deviceSn" must be mapped to a column');
  const tuple = '(' + columns.map(() => '?').join(',') + ')';
  const k = quoteIdentifier(key.column);
  return (
    `INSERT INTO ${quoteIdentifier(table)} (${columns.map((c) => quoteIdentifier(c.column)).join(',')}) VALUES ` +
    new Array<string>(rows).fill(tuple).join(',') +
    ` ON DUPLICATE KEY UPDATE ${k} = ${k}`
  );
}

/**
 * Bulk path (docs/targets.md §5.5, made safe): one `LOAD DATA LOCAL INFILE … IGNORE` straight into the table,
 * inside the batch's transaction. IGNORE (implied by LOCAL anyway: the server cannot stop the client's
 * stream) skips duplicate keys with one 1062 warning each, but would also turn a too-long value or a bad
 * date into a warning and a stored, altered row. So the sink commits only when the warnings are exactly the
 * skipped duplicates; anything more is rolled back and the batch goes through the multi-row INSERT, which
 * raises the real error (strict mode) and isolates the record. Needs backslash escapes on (no
 * NO_BACKSLASH_ESCAPES in sql_mode) for the TAB/LF/backslash literals; the sink checks before using it.
 */
export function buildLoadDataSql(table: string, columns: readonly MysqlColumn[]): string {
  // The file name is never opened: the sink's stream factory ignores it and sends only the batch.
  return (
    `LOAD DATA LOCAL INFILE 'punchflow-batch.tsv' IGNORE INTO TABLE ${quoteIdentifier(table)} CHARACTER SET utf8mb4 ` +
    `FIELDS TERMINATED BY '\\t' ENCLOSED BY '' ESCAPED BY '\\\\' LINES STARTING BY '' TERMINATED BY '\\n' ` +
    `(${columns.map((c) => quoteIdentifier(c.column)).join(',')})`
  );
}

/** `Records: N  Deleted: D  Skipped: S  Warnings: W` from a LOAD DATA answer; null when it does not parse. */
export function parseLoadInfo(info: string): { records: number; skipped: number; warnings: number } | null {
  const m = /Records:\s*(\d+)\s+Deleted:\s*\d+\s+Skipped:\s*(\d+)\s+Warnings:\s*(\d+)/.exec(info);
  return m ? { records: Number(m[1]), skipped: Number(m[2]), warnings: Number(m[3]) } : null;
}

// A global regex's test() is stateful (lastIndex); the plain one decides, the global one replaces.
const TSV_NEEDS_ESCAPE = /[\\\t\n\r\0]/;
const TSV_SPECIAL = /[\\\t\n\r\0]/g;
const TSV_ESCAPES: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r', '\0': '\\0' };

/**
 * One value as a LOAD DATA field (FIELDS ESCAPED BY '\\'): NULL is \\N; backslash, TAB, LF, CR and NUL are
 * escaped, so the server reads back exactly the string we had (a literal "\\N" arrives as "\\\\N").
 */
export function tsvField(v: MysqlValue): string {
  if (v === null) return '\\N';
  if (typeof v === 'number') return String(v);
  return TSV_NEEDS_ESCAPE.test(v) ? v.replace(TSV_SPECIAL, (c) => TSV_ESCAPES[c]) : v;
}

/** Rows as the LOAD DATA file: tab-separated fields, one line per row. */
export function toTsv(rows: readonly (readonly MysqlValue[])[]): string {
  let out = '';
  for (const row of rows) {
    for (let i = 0; i < row.length; i++) out += (i === 0 ? '' : '\t') + tsvField(row[i]);
    out += '\n';
  }
  return out;
}

/** The prepared-statement protocol counts parameters in 16 bits. */
export const MYSQL_MAX_PLACEHOLDERS = 65535;

export type MysqlValue = string | number | null;

/** A record that cannot be written as it is: goes to `rejected` with this reason, never retried. */
export class MysqlValueError extends Error {
  constructor(
    readonly field: MysqlField,
    reason: string,
  ) {
    super(`${field}: ${reason}`);
    this.name = 'MysqlValueError';
  }
}

function checkCalendar(field: MysqlField, value: string, p: DateTimeParts): void {
  // DATETIME's range starts at year 1000.
  if (!isCalendarTime(p, 1000))
    throw new MysqlValueError(field, `not a valid date-time: ${JSON.stringify(value.slice(0, 19))}`);
}

/**
 * `YYYY-MM-DDTHH:mm:ss` (device wall clock) → `YYYY-MM-DD HH:mm:ss`, by string surgery: never through a
 * Date, so the Node process's zone cannot shift the key.
 */
export function mysqlLocalTime(value: string, field: MysqlField = 'localTime'): string {
  const p = typeof value === 'string' && value.length === 19 ? dateTimeParts(value) : null;
  if (!p) throw new MysqlValueError(field, `must be YYYY-MM-DDTHH:mm:ss, got ${JSON.stringify(value)}`);
  checkCalendar(field, value, p);
  return value.slice(0, 10) + ' ' + value.slice(11);
}

/** ISO UTC → `YYYY-MM-DD HH:mm:ss[.mmm]`; `millis` keeps the fraction (zero-padded) for DATETIME(3). */
export function mysqlUtcTime(value: string, field: MysqlField, millis: boolean): string {
  const p = typeof value === 'string' ? dateTimeParts(value) : null;
  // After the seconds: "Z", or "." with 1–3 digits and "Z".
  const len = typeof value === 'string' ? value.length : 0;
  let fraction = '';
  let ok = p !== null && value.charCodeAt(len - 1) === 90;
  if (ok && len !== 20) {
    ok = len >= 22 && len <= 24 && value.charCodeAt(19) === 46;
    for (let i = 20; ok && i < len - 1; i++) {
      const c = value.charCodeAt(i);
      ok = c >= 48 && c <= 57;
    }
    if (ok) fraction = value.slice(20, len - 1);
  }
  if (!ok || !p)
    throw new MysqlValueError(field, `must be an ISO 8601 UTC time ending in Z, got ${JSON.stringify(value)}`);
  checkCalendar(field, value, p);
  const base = value.slice(0, 10) + ' ' + value.slice(11, 19);
  // Whole seconds for DATETIME: cut explicitly, since MySQL would round and MariaDB truncate.
  return millis ? `${base}.${fraction.padEnd(3, '0')}` : base;
}

/** Text limits in characters (code points, as MySQL counts them) by column name, lower-cased. */
export type MysqlTextLimits = ReadonlyMap<string, number>;

/**
 * One record → the values for `columns`, in order. Throws MysqlValueError naming the field for anything the
 * table would truncate, convert or refuse, so the server never gets to guess.
 */
export function toMysqlRow(
  record: AttendanceRecord,
  columns: readonly MysqlColumn[],
  limits?: MysqlTextLimits,
): MysqlValue[] {
  const plan = rowPlan(columns, limits);
  const row: MysqlValue[] = new Array<MysqlValue>(plan.length);
  for (let i = 0; i < plan.length; i++) {
    const { field, column, kind, nullable, max } = plan[i];
    const v: unknown = record[field];
    if (v === null || v === undefined) {
      if (v === null && nullable) {
        row[i] = null;
        continue;
      }
      throw new MysqlValueError(field, 'is required');
    }
    if (kind === 'local') row[i] = mysqlLocalTime(v as string);
    else if (kind === 'utc') row[i] = mysqlUtcTime(v as string, field, false);
    else if (kind === 'utcMillis') row[i] = mysqlUtcTime(v as string, field, true);
    else if (kind === 'int') {
      if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0)
        throw new MysqlValueError(field, `must be a non-negative integer, got ${JSON.stringify(v)}`);
      row[i] = v;
    } else {
      if (typeof v !== 'string') throw new MysqlValueError(field, `must be a string, got ${typeof v}`);
      if (hasLoneSurrogate(v))
        throw new MysqlValueError(field, 'contains a lone UTF-16 surrogate (not storable as utf8mb4)');
      // Code points never outnumber UTF-16 units: only a long string needs counting.
      if (max !== undefined && v.length > max && codePoints(v) > max) {
        // Rejected, never truncated: a cut user id would be another person's key.
        throw new MysqlValueError(field, `${codePoints(v)} characters exceed column ${column}'s ${max}`);
      }
      row[i] = v;
    }
  }
  return row;
}

interface ColumnPlan {
  field: MysqlField;
  column: string;
  kind: 'local' | 'utc' | 'utcMillis' | 'int' | 'text';
  nullable: boolean;
  max: number | undefined;
}

// Per (columns, limits): worked out once, not per record (the sink passes the same two objects every time).
const plans = new WeakMap<readonly MysqlColumn[], WeakMap<object, ColumnPlan[]>>();
const NO_LIMITS: MysqlTextLimits = new Map();

function rowPlan(columns: readonly MysqlColumn[], limits: MysqlTextLimits = NO_LIMITS): ColumnPlan[] {
  let byLimits = plans.get(columns);
  if (!byLimits) plans.set(columns, (byLimits = new WeakMap()));
  let plan = byLimits.get(limits);
  if (!plan) {
    plan = columns.map(({ field, column }) => ({
      field,
      column,
      kind:
        field === 'localTime'
          ? 'local'
          : field === 'timestamp'
            ? 'utc'
            : field === 'receivedAt'
              ? 'utcMillis'
              : INTEGER_FIELDS.has(field)
                ? 'int'
                : 'text',
      nullable: NULLABLE_FIELDS.has(field),
      max: limits.get(column.toLowerCase()),
    }));
    byLimits.set(limits, plan);
  }
  return plan;
}

/** The exact key our in-batch dedupe uses: the table's unique key, compared byte for byte (sql.ts). */
export { recordKey } from './sql';

export interface ChunkLimits {
  /** Rows per statement (docs/targets.md §5.2: 1,000). */
  maxRows: number;
  /** Bytes of parameter data per statement, kept well under max_allowed_packet. */
  maxBytes: number;
  /** Placeholders per statement (≤ MYSQL_MAX_PLACEHOLDERS). */
  maxPlaceholders?: number;
}

/** A generous upper bound of a row's size on the wire: UTF-8 bytes plus per-value framing. */
export function estimateRowBytes(row: readonly MysqlValue[]): number {
  let n = 0;
  // 3 bytes per UTF-16 unit bounds UTF-8 from above without encoding every string twice.
  for (const v of row) n += (typeof v === 'string' ? v.length * 3 : 8) + 12;
  return n;
}

/**
 * Cuts rows into [start, end) ranges that respect every limit. A single row larger than maxBytes gets a
 * range of its own (the server then decides; a too-large row is rejected as data).
 */
export function planChunks(rows: readonly (readonly MysqlValue[])[], limits: ChunkLimits): [number, number][] {
  const perRow = rows.length > 0 ? rows[0].length : 1;
  const byPlaceholders = Math.floor(
    Math.min(limits.maxPlaceholders ?? MYSQL_MAX_PLACEHOLDERS, MYSQL_MAX_PLACEHOLDERS) / Math.max(perRow, 1),
  );
  return planRanges(rows, Math.max(1, Math.min(limits.maxRows, byPlaceholders)), estimateRowBytes, limits.maxBytes);
}

/**
 * What a failure means for delivery (docs/targets.md §1):
 * - transient: the server is unreachable, restarting or busy (deadlock, lock wait): retry the batch;
 * - data: this statement's rows cannot be stored as they are: split to find the record(s), reject those;
 * - config: the table, a column, the database or a privilege is wrong: hold everything and say what to fix.
 */
export type MysqlFailureClass = 'transient' | 'data' | 'config';

export interface MysqlErrorLike {
  code?: unknown;
  errno?: unknown;
  sqlState?: unknown;
  fatal?: unknown;
}

const TRANSIENT_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'PROTOCOL_CONNECTION_LOST',
  'PROTOCOL_SEQUENCE_TIMEOUT',
  'PROTOCOL_ENQUEUE_AFTER_FATAL_ERROR',
  'PROTOCOL_ENQUEUE_AFTER_QUIT',
  'POOL_CLOSED',
]);

// Server error numbers (MySQL and MariaDB share them below 3000; 1927/4025 are MariaDB's).
const TRANSIENT_ERRNOS = new Set([
  1040, // too many connections
  1053, // server shutdown in progress
  1114, // table full (disk)
  1021, // disk full
  1203, // max user connections
  1205, // lock wait timeout
  1213, // deadlock
  1317, // query interrupted
  1614, // XA deadlock
  1927, // connection killed (MariaDB)
  2006, // server gone away
  2013, // lost connection during query
  4031, // disconnected for inactivity (MySQL 8)
]);
const DATA_ERRNOS = new Set([
  1048, // NULL in a NOT NULL column
  1153, // packet bigger than max_allowed_packet: split until one record is left
  1264, // out of range
  1265, // data truncated
  1292, // incorrect date/time value
  1300, // invalid character string
  1366, // incorrect value for column
  1367, // illegal value
  1406, // data too long
  1411, // incorrect value for function
  1451,
  1452, // foreign key
  1690, // value out of range
  3819, // check constraint (MySQL)
  4025, // check constraint (MariaDB)
]);
const CONFIG_ERRNOS = new Set([
  1044, // database access denied
  1045, // access denied (user/password)
  1049, // unknown database
  1054, // unknown column
  1142,
  1143, // table/column privilege
  1146, // no such table
  1227, // missing privilege
  1290,
  1036, // server or table read-only
  1364, // a NOT NULL column without default that we do not write
]);

/** The driver error's code and server error number ('' and -1 when absent). */
function errorFields(err: unknown): { e: MysqlErrorLike; code: string; errno: number } {
  const e = (typeof err === 'object' && err !== null ? err : {}) as MysqlErrorLike;
  return { e, code: typeof e.code === 'string' ? e.code : '', errno: typeof e.errno === 'number' ? e.errno : -1 };
}

/**
 * For the delivery loop's isolation rule: whether a non-permanent failure is an outage (listed transient
 * codes, a fatal connection error, configuration) or a server answer we do not know, which may be about a
 * record ('records': the loop isolates only with proof that the server takes other records).
 */
export function mysqlFailureScope(err: unknown): 'outage' | 'records' {
  const { e, code, errno } = errorFields(err);
  if (classifyMysqlError(err) !== 'transient') return 'outage';
  if (TRANSIENT_CODES.has(code) || TRANSIENT_ERRNOS.has(errno) || e.fatal === true || errno < 0) return 'outage';
  return 'records';
}

export function classifyMysqlError(err: unknown): MysqlFailureClass {
  const { e, code, errno } = errorFields(err);
  if (TRANSIENT_CODES.has(code) || TRANSIENT_ERRNOS.has(errno)) return 'transient';
  if (DATA_ERRNOS.has(errno)) return 'data';
  if (CONFIG_ERRNOS.has(errno)) return 'config';
  if (e.fatal === true) return 'transient';
  // Unlisted server errors by SQLSTATE class: 22 data exception and 23 integrity constraint are about the
  // rows; 42 (syntax, access) and 3D/3F (no database) are configuration.
  const state = typeof e.sqlState === 'string' ? e.sqlState : '';
  if (state.startsWith('22') || state.startsWith('23')) return 'data';
  if (state.startsWith('42') || state.startsWith('3D') || state.startsWith('3F') || state.startsWith('28'))
    return 'config';
  // Anything else is held and retried: a record is never dropped because of an error we do not know.
  return 'transient';
}
