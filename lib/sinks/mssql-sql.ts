/**
 * Pure T-SQL generation for the SQL Server sink (docs/targets.md §4). No driver import here, so
 * the statements, parameter declarations and chunking are unit-testable without a server.
 *
 * Everything emitted is valid on SQL Server 2008 (compatibility level 100): `FROM (VALUES …)`, DATETIME2 and
 * `CONVERT(…, 120)` are 2008 features; MERGE, THROW, TRY_CONVERT, IIF, CONCAT, OFFSET/FETCH, OPENJSON,
 * `DROP … IF EXISTS` and `CREATE OR ALTER` are avoided (the unit tests hold a deny-list).
 */
import * as crypto from 'crypto';
import type { AttendanceRecord } from '../record';
import { DEFAULT_COLUMNS } from './columns';
import { RowRejection, SQL_IDENTIFIER, SQL_IDENTIFIER_MAX, chunk, convertBatch, recordKey as tableKey } from './sql';

/** sp_executesql takes 2 of the 2,100 parameters a request may carry (error 8003). */
export const MAX_PARAMS = 2098;
/** Beyond ~300 rows a VALUES list compiles slowly for no gain (docs/targets.md §4.1). */
export const MAX_ROWS_PER_STATEMENT = 300;

/** SQL Server identifiers (sysname) hold up to 128 characters; the plain-name rule is sql.ts's. */
export const MAX_IDENTIFIER = SQL_IDENTIFIER_MAX.mssql;
export const IDENTIFIER = SQL_IDENTIFIER.mssql;

/** How a value travels: the driver-independent part of a mssql parameter type. */
export type MssqlParamType =
  | { type: 'NVarChar'; length: number }
  | { type: 'VarChar'; length: number }
  | { type: 'TinyInt' }
  | { type: 'SmallInt' }
  | { type: 'Int' }
  | { type: 'BigInt' };

export type ColumnKind = 'text' | 'int' | 'time';

export interface MssqlColumn {
  field: keyof AttendanceRecord;
  /** Column name in the table (validated identifier). */
  name: string;
  kind: ColumnKind;
  /** Text: the column's character limit (values longer are rejected, never truncated). */
  maxLength?: number;
  /** Text: false for VARCHAR/CHAR columns; key values must then be ASCII (a '?' substitution would merge keys). */
  unicode?: boolean;
  /** Int: the column's SQL integer type, for range checks. */
  intType?: 'tinyint' | 'smallint' | 'int' | 'bigint';
  /**
   * Time: the value is sent as a 'YYYY-MM-DD HH:MM:SS[.mmm]' string and converted by the server with an
   * explicit style, so neither the Node zone nor tedious's useUTC can shift it. `null` = the column is text
   * and takes the string as it is.
   */
  timeType?: 'datetime2(0)' | 'datetime2(3)' | null;
  nullable: boolean;
}

export interface MssqlTableSpec {
  schema: string;
  table: string;
  columns: MssqlColumn[];
  /** What the sink should log about an existing table it accepts (e.g. a time column that drops seconds). */
  warnings?: string[];
}

export type ColumnMapping = Partial<Record<keyof AttendanceRecord, string | null>>;

/** Key fields of the table contract: unique (device_sn, user_id, local_time). */
export const KEY_FIELDS = ['deviceSn', 'userId', 'localTime'] as const;

/** The default table's columns, shared with the MySQL target (lib/sinks/columns.ts). */
export const DEFAULT_MAPPING: Readonly<Record<keyof AttendanceRecord, string | null>> = DEFAULT_COLUMNS;

/** Types of the table the sink creates; limits follow the record's JSON Schema. */
const CREATE_TYPES: Readonly<
  Record<keyof AttendanceRecord, { sql: string; col: Omit<MssqlColumn, 'field' | 'name'> }>
> = {
  id: { sql: 'NVARCHAR(200) NULL', col: { kind: 'text', maxLength: 200, unicode: true, nullable: true } },
  // Binary collation on the key text so PINs that differ only in case stay distinct (docs/targets.md §4.3).
  deviceSn: {
    sql: 'NVARCHAR(64) COLLATE Latin1_General_BIN2 NOT NULL',
    col: { kind: 'text', maxLength: 64, unicode: true, nullable: false },
  },
  userId: {
    sql: 'NVARCHAR(24) COLLATE Latin1_General_BIN2 NOT NULL',
    col: { kind: 'text', maxLength: 24, unicode: true, nullable: false },
  },
  localTime: { sql: 'DATETIME2(0) NOT NULL', col: { kind: 'time', timeType: 'datetime2(0)', nullable: false } },
  timestamp: { sql: 'DATETIME2(0) NOT NULL', col: { kind: 'time', timeType: 'datetime2(0)', nullable: false } },
  tz: { sql: 'NVARCHAR(64) NOT NULL', col: { kind: 'text', maxLength: 64, unicode: true, nullable: false } },
  state: { sql: 'TINYINT NOT NULL', col: { kind: 'int', intType: 'tinyint', nullable: false } },
  direction: { sql: 'NVARCHAR(16) NOT NULL', col: { kind: 'text', maxLength: 16, unicode: true, nullable: false } },
  verify: { sql: 'TINYINT NOT NULL', col: { kind: 'int', intType: 'tinyint', nullable: false } },
  verifyMethod: { sql: 'NVARCHAR(16) NOT NULL', col: { kind: 'text', maxLength: 16, unicode: true, nullable: false } },
  workCode: { sql: 'BIGINT NOT NULL DEFAULT 0', col: { kind: 'int', intType: 'bigint', nullable: false } },
  deviceName: { sql: 'NVARCHAR(128) NULL', col: { kind: 'text', maxLength: 128, unicode: true, nullable: true } },
  site: { sql: 'NVARCHAR(128) NULL', col: { kind: 'text', maxLength: 128, unicode: true, nullable: true } },
  deviceHost: { sql: 'NVARCHAR(300) NULL', col: { kind: 'text', maxLength: 300, unicode: true, nullable: true } },
  uid: { sql: 'INT NULL', col: { kind: 'int', intType: 'int', nullable: true } },
  source: { sql: 'NVARCHAR(8) NOT NULL', col: { kind: 'text', maxLength: 8, unicode: true, nullable: false } },
  receivedAt: { sql: 'DATETIME2(3) NOT NULL', col: { kind: 'time', timeType: 'datetime2(3)', nullable: false } },
};

export function assertIdentifier(name: string, what: string): string {
  if (!IDENTIFIER.test(name))
    throw new Error(`${what} ${JSON.stringify(name)} is not a plain identifier (${IDENTIFIER.source})`);
  return name;
}

/** Brackets are safe once the name passed IDENTIFIER (no `]` can occur). */
export function quoteIdent(name: string): string {
  return `[${assertIdentifier(name, 'identifier')}]`;
}

export function qualifiedName(spec: Pick<MssqlTableSpec, 'schema' | 'table'>): string {
  return `${quoteIdent(spec.schema)}.${quoteIdent(spec.table)}`;
}

/** Resolves the user's mapping over the defaults; the three key fields must stay mapped. */
export function resolveMapping(mapping: ColumnMapping | undefined): { field: keyof AttendanceRecord; name: string }[] {
  const merged: Record<string, string | null> = { ...DEFAULT_MAPPING, ...(mapping ?? {}) };
  const out: { field: keyof AttendanceRecord; name: string }[] = [];
  const seen = new Set<string>();
  for (const field of Object.keys(DEFAULT_MAPPING) as (keyof AttendanceRecord)[]) {
    const name = merged[field];
    if (name === null || name === undefined || name === '') {
      if ((KEY_FIELDS as readonly string[]).includes(field))
        throw new Error(`column mapping: ${field} is part of the unique key and must be mapped`);
      continue;
    }
    assertIdentifier(name, `column for ${field}`);
    const lower = name.toLowerCase();
    if (seen.has(lower)) throw new Error(`column mapping: ${name} is mapped twice`);
    seen.add(lower);
    out.push({ field, name });
  }
  for (const k of Object.keys(mapping ?? {})) {
    if (!(k in DEFAULT_MAPPING)) throw new Error(`column mapping: unknown record field ${JSON.stringify(k)}`);
  }
  return out;
}

/** The spec of the table the sink would create with this mapping. */
export function defaultTableSpec(schema: string, table: string, mapping?: ColumnMapping): MssqlTableSpec {
  assertIdentifier(schema, 'schema');
  assertIdentifier(table, 'table');
  return {
    schema,
    table,
    columns: resolveMapping(mapping).map(({ field, name }) => ({ field, name, ...CREATE_TYPES[field].col })),
  };
}

/**
 * `<prefix>_<table><suffix>` for the constraints and index the sink creates, within the 128-character limit:
 * a longer one keeps the start of the table name and adds a hash of all of it, so two long names still differ.
 */
export function constraintName(prefix: string, table: string, suffix = ''): string {
  const full = `${prefix}_${table}${suffix}`;
  if (full.length <= MAX_IDENTIFIER) return full;
  const hash = crypto.createHash('sha256').update(table).digest('hex').slice(0, 8);
  return `${prefix}_${table.slice(0, MAX_IDENTIFIER - prefix.length - suffix.length - 10)}_${hash}${suffix}`;
}

/** `IF OBJECT_ID(…) IS NULL CREATE TABLE …` (CREATE TABLE IF NOT EXISTS is not T-SQL). */
export function buildCreateTableSql(schema: string, table: string, mapping?: ColumnMapping): string {
  const cols = resolveMapping(mapping);
  const names = new Set(cols.map((c) => c.name.toLowerCase()));
  const lines: string[] = [];
  // A surrogate identity only when no mapped column is called id (then the unique key is the clustered one).
  const identity = !names.has('id');
  if (identity) lines.push('[id] BIGINT IDENTITY(1,1) NOT NULL');
  for (const c of cols) lines.push(`${quoteIdent(c.name)} ${CREATE_TYPES[c.field].sql}`);
  const key = KEY_FIELDS.map((f) => quoteIdent(cols.find((c) => c.field === f)!.name)).join(', ');
  if (identity) lines.push(`CONSTRAINT ${quoteIdent(constraintName('PK', table))} PRIMARY KEY NONCLUSTERED ([id])`);
  lines.push(`CONSTRAINT ${quoteIdent(constraintName('UQ', table, '_punch'))} UNIQUE CLUSTERED (${key})`);
  const q = qualifiedName({ schema, table });
  const lt = quoteIdent(cols.find((c) => c.field === 'localTime')!.name);
  // OBJECT_ID takes the quoted two-part name as an N'' literal; identifiers are validated, so no quote can occur.
  // The local-time index is a separate statement: inline INDEX in CREATE TABLE needs SQL Server 2014.
  return (
    `IF OBJECT_ID(N'${q}', N'U') IS NULL\nBEGIN\nCREATE TABLE ${q} (\n  ${lines.join(',\n  ')}\n);\n` +
    `CREATE INDEX ${quoteIdent(constraintName('IX', table, '_local_time'))} ON ${q} (${lt});\nEND`
  );
}

/** Introspection of an existing table (INFORMATION_SCHEMA exists since 2000). */
export const INTROSPECT_SQL =
  'SELECT c.COLUMN_NAME AS name, c.DATA_TYPE AS dataType, c.CHARACTER_MAXIMUM_LENGTH AS maxLength, ' +
  "CASE WHEN c.IS_NULLABLE = 'YES' THEN 1 ELSE 0 END AS nullable " +
  'FROM INFORMATION_SCHEMA.COLUMNS c WHERE c.TABLE_SCHEMA = @schema AND c.TABLE_NAME = @table ORDER BY c.ORDINAL_POSITION';

/**
 * The key columns of the table's unique indexes and constraints (primary keys and UNIQUE constraints are unique
 * indexes too). Filtered and disabled indexes do not guarantee anything, so they are left out. 2008-valid.
 */
export const UNIQUE_KEYS_SQL =
  'SELECT i.name AS indexName, c.name AS columnName FROM sys.indexes AS i ' +
  'JOIN sys.index_columns AS ic ON ic.object_id = i.object_id AND ic.index_id = i.index_id ' +
  'JOIN sys.columns AS c ON c.object_id = ic.object_id AND c.column_id = ic.column_id ' +
  'WHERE i.object_id = OBJECT_ID(@object) AND i.is_unique = 1 AND i.is_disabled = 0 AND i.has_filter = 0 ' +
  'AND ic.is_included_column = 0 ORDER BY i.index_id, ic.key_ordinal';

/**
 * Null when some unique index has only key columns (so equal keys collide and the NOT EXISTS probe can seek on
 * it), else what to do about it. Without one, every chunk's NOT EXISTS scans the table under key-range locks.
 */
export function uniqueKeyProblem(
  spec: MssqlTableSpec,
  indexes: { indexName: string; columnName: string }[],
): string | null {
  const keyCols = KEY_FIELDS.map((f) => spec.columns.find((c) => c.field === f)!.name);
  const allowed = new Set(keyCols.map((c) => c.toLowerCase()));
  const byIndex = new Map<string, string[]>();
  for (const r of indexes) byIndex.set(r.indexName, [...(byIndex.get(r.indexName) ?? []), r.columnName.toLowerCase()]);
  if ([...byIndex.values()].some((cols) => cols.length > 0 && cols.every((c) => allowed.has(c)))) return null;
  const list = keyCols.map(quoteIdent).join(', ');
  return (
    `table ${spec.schema}.${spec.table} needs a unique index on (${keyCols.join(', ')}): without it each batch scans the ` +
    `table under range locks to find duplicates. Add it with CREATE UNIQUE INDEX ${quoteIdent(constraintName('UX', spec.table, '_punch'))} ` +
    `ON ${qualifiedName(spec)} (${list}) (after removing duplicate rows, if any). If it exists, this login cannot see it: ` +
    `GRANT VIEW DEFINITION ON ${qualifiedName(spec)} to it`
  );
}

export interface IntrospectedColumn {
  name: string;
  dataType: string;
  /** Characters for (n)varchar/(n)char; -1 for MAX; null for other types. */
  maxLength: number | null;
  nullable: boolean;
}

const INT_TYPES = ['tinyint', 'smallint', 'int', 'bigint'] as const;
const TEXT_TYPES = ['varchar', 'nvarchar', 'char', 'nchar'];
const TIME_TYPES = ['datetime2', 'datetime', 'smalldatetime'];

/**
 * Matches the mapped columns against what the server reported. Returns the spec, or throws an Error naming the
 * missing column or the unusable type (a config problem: the records are held, not rejected).
 */
export function specFromIntrospection(
  schema: string,
  table: string,
  mapping: ColumnMapping | undefined,
  found: IntrospectedColumn[],
): MssqlTableSpec {
  const byName = new Map(found.map((c) => [c.name.toLowerCase(), c]));
  const columns: MssqlColumn[] = [];
  const warnings: string[] = [];
  for (const { field, name } of resolveMapping(mapping)) {
    const c = byName.get(name.toLowerCase());
    if (!c)
      throw new Error(
        `table ${schema}.${table} has no column ${name} (for ${field}); create it or change the column mapping`,
      );
    const t = c.dataType.toLowerCase();
    const wanted = CREATE_TYPES[field].col.kind;
    const base = { field, name: c.name, nullable: c.nullable };
    if (wanted === 'text' || (wanted === 'time' && TEXT_TYPES.includes(t))) {
      if (!TEXT_TYPES.includes(t)) throw new Error(`column ${c.name} is ${t}; ${field} needs a text column`);
      const max = c.maxLength === null || c.maxLength < 0 ? 4000 : c.maxLength;
      if (wanted === 'time')
        columns.push({ ...base, kind: 'time', timeType: null, maxLength: max, unicode: t.startsWith('n') });
      else columns.push({ ...base, kind: 'text', maxLength: max, unicode: t.startsWith('n') });
    } else if (wanted === 'int') {
      if (!(INT_TYPES as readonly string[]).includes(t))
        throw new Error(`column ${c.name} is ${t}; ${field} needs an integer column`);
      columns.push({ ...base, kind: 'int', intType: t as MssqlColumn['intType'] });
    } else {
      if (!TIME_TYPES.includes(t))
        throw new Error(`column ${c.name} is ${t}; ${field} needs a datetime2/datetime or text column`);
      if (t === 'smalldatetime') {
        // It rounds to the minute: on the key, two punches in one minute would become one row.
        if ((KEY_FIELDS as readonly string[]).includes(field)) {
          throw new Error(
            `column ${c.name} is smalldatetime, which rounds to the minute, so two punches in one minute would be one key; change it to datetime2(0) or datetime`,
          );
        }
        warnings.push(`column ${c.name} is smalldatetime: ${field} is stored rounded to the minute`);
      }
      // datetime rounds to 1/300 s: whole seconds survive, so 0 fractional digits are sent for it too.
      columns.push({
        ...base,
        kind: 'time',
        timeType: field === 'receivedAt' && t === 'datetime2' ? 'datetime2(3)' : 'datetime2(0)',
      });
    }
  }
  return warnings.length > 0 ? { schema, table, columns, warnings } : { schema, table, columns };
}

export function paramTypeFor(col: MssqlColumn): MssqlParamType {
  switch (col.kind) {
    case 'int':
      return {
        type:
          col.intType === 'tinyint'
            ? 'TinyInt'
            : col.intType === 'smallint'
              ? 'SmallInt'
              : col.intType === 'bigint'
                ? 'BigInt'
                : 'Int',
      };
    case 'time':
      // Sent as ASCII text; declared VARCHAR so the conversion happens on a known string (style 120/121).
      return {
        type: 'VarChar',
        length: col.timeType === 'datetime2(3)' ? 23 : col.timeType === null ? Math.min(col.maxLength ?? 23, 8000) : 19,
      };
    case 'text': {
      const length = Math.max(1, Math.min(col.maxLength ?? 4000, col.unicode ? 4000 : 8000));
      return col.unicode ? { type: 'NVarChar', length } : { type: 'VarChar', length };
    }
  }
}

const INT_RANGE: Record<NonNullable<MssqlColumn['intType']>, [number, number]> = {
  tinyint: [0, 255],
  smallint: [-32768, 32767],
  int: [-2147483648, 2147483647],
  bigint: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
};

/** 'YYYY-MM-DDTHH:mm:ss[.fff][Z]' → 'YYYY-MM-DD HH:MM:SS' (+ '.mmm' when wanted); null when malformed. */
export function sqlTimeString(value: string, millis: boolean): string | null {
  const m = /^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}:\d{2})(?:\.(\d{1,3}))?Z?$/.exec(value);
  if (!m) return null;
  const base = `${m[1]} ${m[2]}`;
  return millis ? `${base}.${(m[3] ?? '0').padEnd(3, '0')}` : base;
}

export type ParamValue = string | number | null;

/** Converts one field for its column, or returns the reason the record cannot be stored (never truncates). */
export function columnValue(
  col: MssqlColumn,
  record: AttendanceRecord,
): { ok: true; value: ParamValue } | { ok: false; reason: string } {
  const raw = record[col.field];
  if (raw === null || raw === undefined) {
    return col.nullable
      ? { ok: true, value: null }
      : { ok: false, reason: `${col.field}: null, but column ${col.name} is NOT NULL` };
  }
  switch (col.kind) {
    case 'int': {
      const [lo, hi] = INT_RANGE[col.intType ?? 'int'];
      if (typeof raw !== 'number' || !Number.isSafeInteger(raw) || raw < lo || raw > hi) {
        return {
          ok: false,
          reason: `${col.field}: ${JSON.stringify(raw)} does not fit column ${col.name} (${col.intType})`,
        };
      }
      return { ok: true, value: raw };
    }
    case 'time': {
      const s = typeof raw === 'string' ? sqlTimeString(raw, col.timeType === 'datetime2(3)') : null;
      if (s === null) return { ok: false, reason: `${col.field}: ${JSON.stringify(raw)} is not a time` };
      if (col.timeType === null && s.length > (col.maxLength ?? 0))
        return { ok: false, reason: `${col.field}: longer than column ${col.name} (${col.maxLength})` };
      return { ok: true, value: s };
    }
    case 'text': {
      const s = String(raw);
      const len = s.length; // UTF-16 code units: what NVARCHAR(n) counts
      if (len > (col.maxLength ?? 4000))
        return { ok: false, reason: `${col.field}: ${len} characters, column ${col.name} holds ${col.maxLength}` };
      if (!col.unicode && /[\u0080-\uffff]/.test(s)) {
        return {
          ok: false,
          reason: `${col.field}: non-ASCII text, but column ${col.name} is VARCHAR (the code page would change it)`,
        };
      }
      return { ok: true, value: s };
    }
  }
}

export interface KeyedRecord {
  record: AttendanceRecord;
  values: ParamValue[];
}

/** The unique key as stored (time normalised, so 'T' and ' ' spellings meet). */
export function recordKey(r: AttendanceRecord): string {
  return tableKey(r, sqlTimeString(r.localTime, false) ?? r.localTime);
}

export interface PreparedBatch {
  rows: KeyedRecord[];
  /** Same key as an earlier record of the batch: counted as duplicates without a round trip. */
  inBatchDuplicates: AttendanceRecord[];
  rejected: { record: AttendanceRecord; reason: string }[];
}

/** Validates and converts the batch, and dedupes it in JS (NOT EXISTS cannot see sibling VALUES rows). */
export function prepareBatch(spec: MssqlTableSpec, batch: AttendanceRecord[]): PreparedBatch {
  const converted = convertBatch(
    batch,
    (record) => {
      const values: ParamValue[] = [];
      for (const col of spec.columns) {
        const v = columnValue(col, record);
        if (!v.ok) return new RowRejection(v.reason);
        values.push(v.value);
      }
      return values;
    },
    recordKey,
  );
  return {
    rows: converted.rows.map((values, i) => ({ record: converted.records[i], values })),
    inBatchDuplicates: converted.duplicates,
    rejected: converted.rejected,
  };
}

export function rowsPerStatement(columnCount: number): number {
  return Math.max(1, Math.min(MAX_ROWS_PER_STATEMENT, Math.floor(MAX_PARAMS / columnCount)));
}

export { chunk } from './sql';

export interface SqlParam {
  name: string;
  type: MssqlParamType;
  value: ParamValue;
}

export interface InsertStatement {
  sql: string;
  params: SqlParam[];
  rows: KeyedRecord[];
}

/** The value expression for one parameter inside VALUES: times converted with an explicit style. */
function valueExpr(col: MssqlColumn, p: string): string {
  if (col.kind === 'time' && col.timeType)
    return `CONVERT(${col.timeType.toUpperCase()}, ${p}, ${col.timeType === 'datetime2(3)' ? 121 : 120})`;
  return p;
}

/** The column of the one-row result that says how many rows a chunk inserted. */
export const INSERTED_COUNT = 'punchflow_inserted';

/**
 * One chunk: `INSERT … SELECT v.* FROM (VALUES …) AS v(…) WHERE NOT EXISTS (… WITH (UPDLOCK, HOLDLOCK) …)`.
 * UPDLOCK+HOLDLOCK take key-range locks so two writers cannot both find a key absent; the unique key stays the
 * final guard (2627/2601 are handled by the caller). The rows inserted are counted through OUTPUT INTO a table
 * variable and returned as a result: the DONE counts would include an AFTER INSERT trigger's own statements,
 * and a server whose options turn NOCOUNT on sends none (OUTPUT without INTO is refused on tables with triggers).
 */
export function buildInsert(spec: MssqlTableSpec, rows: KeyedRecord[]): InsertStatement {
  const ncol = spec.columns.length;
  if (rows.length === 0) throw new Error('buildInsert: empty chunk');
  if (rows.length * ncol > MAX_PARAMS)
    throw new Error(`buildInsert: ${rows.length * ncol} parameters exceed ${MAX_PARAMS}`);
  const types = spec.columns.map(paramTypeFor);
  const params: SqlParam[] = [];
  const tuples: string[] = [];
  rows.forEach((row, r) => {
    const exprs: string[] = [];
    spec.columns.forEach((col, c) => {
      const name = `p${r * ncol + c}`;
      params.push({ name, type: types[c], value: row.values[c] });
      exprs.push(valueExpr(col, `@${name}`));
    });
    tuples.push(`(${exprs.join(', ')})`);
  });
  const names = spec.columns.map((c) => quoteIdent(c.name));
  const key = KEY_FIELDS.map((f) => {
    const col = spec.columns.find((c) => c.field === f);
    if (!col) throw new Error(`buildInsert: key field ${f} is not mapped`);
    return `t.${quoteIdent(col.name)} = v.${quoteIdent(col.name)}`;
  });
  const table = qualifiedName(spec);
  const sql =
    'DECLARE @inserted TABLE (n INT NOT NULL);\n' +
    `INSERT INTO ${table} (${names.join(', ')})\n` +
    'OUTPUT 1 INTO @inserted (n)\n' +
    `SELECT ${names.map((n) => `v.${n}`).join(', ')}\n` +
    `FROM (VALUES\n  ${tuples.join(',\n  ')}\n) AS v (${names.join(', ')})\n` +
    `WHERE NOT EXISTS (SELECT 1 FROM ${table} AS t WITH (UPDLOCK, HOLDLOCK) WHERE ${key.join(' AND ')});\n` +
    `SELECT COUNT(*) AS ${INSERTED_COUNT} FROM @inserted;`;
  return { sql, params, rows };
}

/** All statements of one batch, each within the parameter budget. */
export function buildInsertStatements(spec: MssqlTableSpec, rows: KeyedRecord[]): InsertStatement[] {
  return chunk(rows, rowsPerStatement(spec.columns.length)).map((c) => buildInsert(spec, c));
}

/** Constructs that do not exist on SQL Server 2008 (compatibility level 100); unit tests scan the SQL with it. */
export const POST_2008_SYNTAX: readonly RegExp[] = [
  /\bMERGE\b/i,
  /\bTHROW\b/i,
  /\bTRY_CONVERT\b/i,
  /\bTRY_CAST\b/i,
  /\bIIF\s*\(/i,
  /\bCONCAT\s*\(/i,
  /\bOFFSET\b/i,
  /\bFETCH\s+NEXT\b/i,
  /\bOPENJSON\b/i,
  /\bSTRING_AGG\b/i,
  /\bDROP\s+\w+\s+IF\s+EXISTS\b/i,
  /\bCREATE\s+OR\s+ALTER\b/i,
  /\bFORMAT\s*\(/i,
  /\bSEQUENCE\b/i,
  /\bDATEFROMPARTS\b/i,
  /\bEOMONTH\b/i,
];
