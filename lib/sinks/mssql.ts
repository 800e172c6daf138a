/**
 * SQL Server target (docs/targets.md §4): the same table contract as MySQL (default dbo.attendance_log, unique key
 * (device_sn, user_id, local_time)), written with `INSERT … SELECT … WHERE NOT EXISTS` chunks inside one
 * transaction per batch. SQL generation lives in mssql-sql.ts; this file owns the pool, the transaction and the
 * error classification.
 */
import type { AttendanceRecord } from '../record';
import { Sink, SinkError, SinkLogger, SinkWriteResult, RejectedRecord } from './types';
import {
  ColumnMapping,
  INSERTED_COUNT,
  INTROSPECT_SQL,
  InsertStatement,
  IntrospectedColumn,
  KeyedRecord,
  MssqlParamType,
  MssqlTableSpec,
  UNIQUE_KEYS_SQL,
  assertIdentifier,
  buildCreateTableSql,
  buildInsert,
  buildInsertStatements,
  prepareBatch,
  qualifiedName,
  specFromIntrospection,
  uniqueKeyProblem,
} from './mssql-sql';
import { SerialWrites } from './sql';

// ---- the part of the mssql API we use (the package ships no types; @types/mssql is not a dependency) ----

interface MssqlResult {
  recordset?: Record<string, unknown>[];
  recordsets?: Record<string, unknown>[][];
  rowsAffected: number[];
}
interface MssqlRequest {
  input(name: string, type: unknown, value: unknown): MssqlRequest;
  query(sql: string): Promise<MssqlResult>;
  batch(sql: string): Promise<MssqlResult>;
}
interface MssqlTransaction {
  begin(): Promise<MssqlTransaction>;
  commit(): Promise<void>;
  rollback(): Promise<void>;
  /** aborted: the server ended the transaction itself (mssql then gives the connection back to the pool). */
  on(event: 'rollback', listener: (aborted: boolean) => void): unknown;
}
interface MssqlPool {
  connect(): Promise<MssqlPool>;
  close(): Promise<void>;
  request(): MssqlRequest;
  on(event: 'error', listener: (err: unknown) => void): MssqlPool;
}
type TypeFactory = (length?: number) => unknown;
interface MssqlModule {
  ConnectionPool: new (config: Record<string, unknown>) => MssqlPool;
  Transaction: new (pool: MssqlPool) => MssqlTransaction;
  Request: new (parent: MssqlPool | MssqlTransaction) => MssqlRequest;
  NVarChar: TypeFactory;
  VarChar: TypeFactory;
  TinyInt: unknown;
  SmallInt: unknown;
  Int: unknown;
  BigInt: unknown;
}

let mssqlModule: MssqlModule | null = null;
/** Loaded on first use so a flow without an SQL Server target never pays for tedious. */
function loadMssql(): MssqlModule {
  if (!mssqlModule) {
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      mssqlModule = require('mssql') as MssqlModule;
    } catch (err) {
      throw new SinkError(
        `the SQL Server target needs the package mssql (npm install mssql): ${(err as Error).message}`,
        false,
        'mssql',
        'outage',
      );
    }
  }
  return mssqlModule;
}

function driverType(m: MssqlModule, t: MssqlParamType): unknown {
  switch (t.type) {
    case 'NVarChar':
      return m.NVarChar(t.length);
    case 'VarChar':
      return m.VarChar(t.length);
    case 'TinyInt':
      return m.TinyInt;
    case 'SmallInt':
      return m.SmallInt;
    case 'Int':
      return m.Int;
    case 'BigInt':
      return m.BigInt;
  }
}

// ---- options ----

export interface MssqlSinkOptions {
  /** `mssql://user:password@host[:port]/database?encrypt=false&trustServerCertificate=true&instanceName=X`; fields below override it. */
  url?: string;
  server?: string;
  port?: number;
  /** Named instance (e.g. SQLEXPRESS), found through SQL Browser on UDP 1434; or give a fixed port. */
  instanceName?: string;
  database?: string;
  user?: string;
  /** From Node-RED credentials; never logged. */
  password?: string;
  /** Default true (current mssql default). */
  encrypt?: boolean;
  /** Local ZKTime servers often have self-signed certificates. Default false. */
  trustServerCertificate?: boolean;
  schema?: string;
  table?: string;
  columns?: ColumnMapping;
  createTable?: boolean;
  /** Default 2: one batch in flight per sink, plus one spare. */
  poolMax?: number;
  connectTimeoutMs?: number;
  requestTimeoutMs?: number;
}

interface ConnSettings {
  server: string;
  port?: number;
  instanceName?: string;
  database: string;
  user?: string;
  password?: string;
  encrypt: boolean;
  trustServerCertificate: boolean;
}

/** Parses an `mssql://` URL (used by the real-server suite through PUNCHFLOW_MSSQL_URL, and by the node). */
export function parseMssqlUrl(url: string): Partial<ConnSettings> {
  const u = new URL(url);
  if (u.protocol !== 'mssql:' && u.protocol !== 'sqlserver:') throw new Error(`not an mssql:// URL: ${u.protocol}`);
  const bool = (k: string): boolean | undefined => {
    const v = u.searchParams.get(k);
    return v === null ? undefined : /^(1|true|yes)$/i.test(v);
  };
  const out: Partial<ConnSettings> = { server: decodeURIComponent(u.hostname) };
  if (u.port) out.port = Number(u.port);
  if (u.username) out.user = decodeURIComponent(u.username);
  if (u.password) out.password = decodeURIComponent(u.password);
  const db = decodeURIComponent(u.pathname.replace(/^\//, ''));
  if (db) out.database = db;
  const inst = u.searchParams.get('instanceName');
  if (inst) out.instanceName = inst;
  const enc = bool('encrypt');
  if (enc !== undefined) out.encrypt = enc;
  const trust = bool('trustServerCertificate');
  if (trust !== undefined) out.trustServerCertificate = trust;
  return out;
}

function settings(o: MssqlSinkOptions): ConnSettings {
  const fromUrl = o.url ? parseMssqlUrl(o.url) : {};
  const pick = <K extends keyof ConnSettings>(k: K): ConnSettings[K] | undefined =>
    (o[k as keyof MssqlSinkOptions] as ConnSettings[K] | undefined) ?? fromUrl[k];
  const server = pick('server');
  const database = pick('database');
  if (!server) throw new SinkError('SQL Server target: no server configured', false, 'mssql', 'outage');
  if (!database) throw new SinkError('SQL Server target: no database configured', false, 'mssql', 'outage');
  return {
    server,
    port: pick('port'),
    instanceName: pick('instanceName'),
    database,
    user: pick('user'),
    password: pick('password'),
    encrypt: pick('encrypt') ?? true,
    trustServerCertificate: pick('trustServerCertificate') ?? false,
  };
}

// ---- error classification (docs/targets.md §1) ----

export type MssqlErrorClass = 'duplicate' | 'transient' | 'data' | 'config';

const DUPLICATE = new Set([2627, 2601]);
/** String/binary truncated, date/number conversion, NULL into NOT NULL, overflow, FK/CHECK violations. */
const DATA = new Set([8152, 2628, 241, 242, 245, 515, 8114, 8115, 547, 220, 232]);
/**
 * Login failed, no such object/column, permission denied, database unavailable to this login, no such schema
 * (2760), a name taken by another object when creating the table (2714).
 */
const CONFIG = new Set([18456, 18452, 208, 207, 229, 230, 262, 4060, 2812, 15151, 2760, 2714]);
const TRANSIENT_CODES = new Set([
  'ETIMEOUT',
  'ESOCKET',
  'ECONNRESET',
  'ECONNCLOSED',
  'ECONNREFUSED',
  'ENOTOPEN',
  'EINVALIDSTATE',
  'EABORT',
]);

function errNumber(err: unknown): number | undefined {
  const e = err as { number?: unknown; originalError?: { number?: unknown; info?: { number?: unknown } } } | null;
  const n = e?.number ?? e?.originalError?.number ?? e?.originalError?.info?.number;
  return typeof n === 'number' ? n : undefined;
}
function errCode(err: unknown): string | undefined {
  const e = err as { code?: unknown; originalError?: { code?: unknown } } | null;
  const c = e?.code ?? e?.originalError?.code;
  return typeof c === 'string' ? c : undefined;
}

export function classifyMssqlError(err: unknown): MssqlErrorClass {
  const n = errNumber(err);
  if (n !== undefined) {
    if (DUPLICATE.has(n)) return 'duplicate';
    if (DATA.has(n)) return 'data';
    if (CONFIG.has(n)) return 'config';
    return 'transient'; // 1205 deadlock, 1222 lock timeout, Azure throttling (40501, 40613, …) and anything new
  }
  const code = errCode(err);
  if (code === 'ELOGIN' || code === 'EINSTLOOKUP') return 'config';
  const msg = err instanceof Error ? err.message : String(err);
  if (/certificate|self[- ]signed|SSL|TLS/i.test(msg) && code !== 'ETIMEOUT') return 'config';
  if (code && TRANSIENT_CODES.has(code)) return 'transient';
  return 'transient';
}

/** A message for the status/log that says what to check; never contains the password. */
function describe(err: unknown, cls: MssqlErrorClass, where: string): string {
  const msg = err instanceof Error ? err.message : String(err);
  const n = errNumber(err);
  const tag = n !== undefined ? ` (error ${n})` : errCode(err) ? ` (${errCode(err)})` : '';
  let hint = '';
  if (cls === 'config') {
    if (/certificate|self[- ]signed/i.test(msg))
      hint = '; for a self-signed server certificate enable trustServerCertificate';
    else if (n === 18456 || errCode(err) === 'ELOGIN') hint = '; check the user and password';
    else if (n === 208 || n === 207) hint = '; check the table and column mapping (or enable create table)';
    else if (n === 2760) hint = '; check the schema name, and that this login may create tables in it';
    else if (n === 2714)
      hint = '; another object has that name (a constraint or index of another table?): choose another table name';
  }
  return `SQL Server ${where}: ${msg}${tag}${hint}`;
}

/** The server rolled the transaction back (error 1205, 241, 242…): nothing of the batch is left to commit. */
class TransactionEnded extends Error {
  constructor(readonly error: unknown) {
    super('SQL Server ended the transaction');
  }
}

/** mssql's answer to a request on a transaction that is no longer open. */
const isTransactionGone = (err: unknown): boolean => errCode(err) === 'ENOTBEGUN' || errCode(err) === 'EABORT';

// ---- the sink ----

export interface MssqlSink extends Sink {
  /** The table as discovered on open(); for tests and the node's status. */
  readonly spec: MssqlTableSpec | null;
}

export function createMssqlSink(options: MssqlSinkOptions, logger?: SinkLogger): MssqlSink {
  const schema = assertIdentifier(options.schema ?? 'dbo', 'schema');
  const table = assertIdentifier(options.table ?? 'attendance_log', 'table');
  const conn = settings(options);
  let pool: MssqlPool | null = null;
  let spec: MssqlTableSpec | null = null;
  const writes = new SerialWrites();

  const fail = (err: unknown, where: string): SinkError => {
    if (err instanceof SinkError) return err;
    const cls = classifyMssqlError(err);
    // Config and transient problems hold the records (the outbox retries); only records go to the error output.
    // A configuration error, or a driver error without a server error number (connection, login, TLS), is about
    // the server, never a record: the delivery loop must not go looking for one to set aside.
    const outage = cls === 'config' || (errNumber(err) === undefined && errCode(err) !== undefined);
    return new SinkError(describe(err, cls, where), false, 'mssql', outage ? 'outage' : undefined);
  };

  async function connect(): Promise<MssqlPool> {
    if (pool) return pool;
    const m = loadMssql();
    const p = new m.ConnectionPool({
      server: conn.server,
      port: conn.port,
      database: conn.database,
      user: conn.user,
      password: conn.password,
      connectionTimeout: options.connectTimeoutMs ?? 15000,
      requestTimeout: options.requestTimeoutMs ?? 30000,
      pool: { max: options.poolMax ?? 2, min: 0, idleTimeoutMillis: 30000 },
      options: {
        encrypt: conn.encrypt,
        trustServerCertificate: conn.trustServerCertificate,
        instanceName: conn.instanceName,
        appName: 'punchflow',
        // Times travel as strings; keeps any Date the driver might build independent of the Node zone.
        useUTC: true,
      },
    });
    // An idle connection dropping must not crash Node-RED; the next batch reconnects.
    p.on('error', (err) => logger?.('warn', describe(err, classifyMssqlError(err), 'pool error')));
    try {
      await p.connect();
    } catch (err) {
      await p.close().catch(() => undefined);
      throw fail(
        err,
        `connect to ${conn.server}${conn.instanceName ? `\\${conn.instanceName}` : ''}${conn.port ? `:${conn.port}` : ''}`,
      );
    }
    pool = p;
    return p;
  }

  async function discover(p: MssqlPool): Promise<MssqlTableSpec> {
    const m = loadMssql();
    try {
      if (options.createTable) await p.request().batch(buildCreateTableSql(schema, table, options.columns));
      const res = await p
        .request()
        .input('schema', m.NVarChar(128), schema)
        .input('table', m.NVarChar(128), table)
        .query(INTROSPECT_SQL);
      const found: IntrospectedColumn[] = (res.recordset ?? []).map((r) => ({
        name: String(r.name),
        dataType: String(r.dataType),
        maxLength: r.maxLength === null || r.maxLength === undefined ? null : Number(r.maxLength),
        nullable: Number(r.nullable) === 1 || r.nullable === true,
      }));
      if (found.length === 0) {
        throw new SinkError(
          `SQL Server: table ${schema}.${table} not found in ${conn.database}; create it (README has the DDL) or enable create table`,
          false,
          'mssql',
          'outage',
        );
      }
      const s = specFromIntrospection(schema, table, options.columns, found);
      const keys = await p.request().input('object', m.NVarChar(300), qualifiedName(s)).query(UNIQUE_KEYS_SQL);
      const problem = uniqueKeyProblem(
        s,
        (keys.recordset ?? []).map((r) => ({ indexName: String(r.indexName), columnName: String(r.columnName) })),
      );
      if (problem) throw new SinkError(`SQL Server configuration: ${problem}`, false, 'mssql', 'outage');
      for (const w of s.warnings ?? []) logger?.('warn', `SQL Server ${schema}.${table}: ${w}`);
      return s;
    } catch (err) {
      if (err instanceof SinkError) throw err;
      if (err instanceof Error && !('number' in err) && !('code' in err))
        throw new SinkError(`SQL Server: ${err.message}`, false, 'mssql', 'outage');
      throw fail(err, `open ${schema}.${table}`);
    }
  }

  /** Runs one chunk; its inserted count comes from the statement's own result, not from the DONE counts. */
  async function exec(tx: MssqlTransaction, stmt: InsertStatement): Promise<number> {
    const m = loadMssql();
    const req = new m.Request(tx);
    for (const p of stmt.params) req.input(p.name, driverType(m, p.type), p.value);
    const res = await req.query(stmt.sql);
    // The last result set with our column: a trigger may send result sets of its own before it.
    const sets = res.recordsets ?? (res.recordset ? [res.recordset] : []);
    for (let i = sets.length - 1; i >= 0; i--) {
      const v = sets[i][0]?.[INSERTED_COUNT];
      if (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= stmt.rows.length) return v;
    }
    throw new Error(`SQL Server sent no inserted-row count for a chunk of ${stmt.rows.length}`);
  }

  /** Says whether `err` left the transaction ended by the server (then nothing more may run in it). */
  type EndedCheck = (err: unknown) => TransactionEnded | null;

  interface ChunkOutcome {
    inserted: number;
    rejected: RejectedRecord[];
  }

  /**
   * One chunk with the fallbacks of docs/targets.md §4.2: a duplicate-key error (a concurrent writer won the race)
   * retries once, then goes row by row counting 2627/2601 as already written; a data error splits the chunk in
   * halves until the bad record is alone, and rejects it. After an error that made the server end the
   * transaction, nothing more runs in it: `ended` turns that into a TransactionEnded for writeBatch.
   */
  async function runChunk(
    tx: MssqlTransaction,
    s: MssqlTableSpec,
    rows: KeyedRecord[],
    ended: EndedCheck,
    attempt = 0,
  ): Promise<ChunkOutcome> {
    try {
      return { inserted: await exec(tx, buildInsert(s, rows)), rejected: [] };
    } catch (err) {
      // Going on in a transaction the server ended would only meet "Transaction has not begun".
      const end = ended(err);
      if (end) throw end;
      const cls = classifyMssqlError(err);
      if (cls === 'duplicate') {
        if (attempt === 0) return runChunk(tx, s, rows, ended, 1);
        const out: ChunkOutcome = { inserted: 0, rejected: [] };
        for (const row of rows) {
          try {
            out.inserted += await exec(tx, buildInsert(s, [row]));
          } catch (e) {
            const end = ended(e);
            if (end) throw end;
            const c = classifyMssqlError(e);
            if (c === 'duplicate') continue;
            if (c === 'data') out.rejected.push({ record: row.record, reason: describe(e, c, 'rejected the record') });
            else throw e;
          }
        }
        return out;
      }
      if (cls === 'data') {
        if (rows.length === 1)
          return {
            inserted: 0,
            rejected: [{ record: rows[0].record, reason: describe(err, cls, 'rejected the record') }],
          };
        const mid = Math.ceil(rows.length / 2);
        const a = await runChunk(tx, s, rows.slice(0, mid), ended);
        const b = await runChunk(tx, s, rows.slice(mid), ended);
        return { inserted: a.inserted + b.inserted, rejected: [...a.rejected, ...b.rejected] };
      }
      throw err;
    }
  }

  async function writeBatch(batch: AttendanceRecord[]): Promise<SinkWriteResult> {
    if (!spec) await open();
    const s = spec!;
    const prep = prepareBatch(s, batch);
    const result: SinkWriteResult = {
      inserted: 0,
      duplicates: prep.inBatchDuplicates.length,
      rejected: prep.rejected.slice(),
    };
    if (prep.rows.length === 0) return result;
    const p = await connect();
    const m = loadMssql();
    const tx = new m.Transaction(p);
    // mssql reports the server's rollback (the ENVCHANGE token) while the failing request is answered, before
    // its error reaches us; a later request on the ended transaction fails with ENOTBEGUN/EABORT instead.
    let serverEnded = false;
    let lastError: unknown = null;
    tx.on('rollback', (aborted) => {
      if (aborted) serverEnded = true;
    });
    const ended: EndedCheck = (err) => {
      const gone = isTransactionGone(err);
      if (!gone) lastError = err;
      return serverEnded || gone ? new TransactionEnded(gone ? (lastError ?? err) : err) : null;
    };
    try {
      await tx.begin();
    } catch (err) {
      throw fail(err, 'begin transaction');
    }
    try {
      // A server whose user options turn XACT_ABORT on would doom the transaction on the first duplicate;
      // NOCOUNT is set off for the same reason (the counts are read from each statement's result anyway).
      await new m.Request(tx).batch('SET XACT_ABORT OFF; SET NOCOUNT OFF;');
      let attempted = 0;
      for (const stmt of buildInsertStatements(s, prep.rows)) {
        const out = await runChunk(tx, s, stmt.rows, ended);
        attempted += stmt.rows.length - out.rejected.length;
        result.inserted += out.inserted;
        result.rejected.push(...out.rejected);
      }
      if (serverEnded) throw new TransactionEnded(lastError ?? new Error('the server rolled the transaction back'));
      await tx.commit();
      result.duplicates += attempted - result.inserted;
      return result;
    } catch (err) {
      if (!serverEnded) await tx.rollback().catch(() => undefined);
      const e =
        err instanceof TransactionEnded
          ? endedError(err.error, prep.rows.length)
          : fail(err, `write to ${schema}.${table}`);
      logger?.('warn', e.message, { records: batch.length });
      throw e;
    }
  }

  /**
   * The server rolled the whole batch back. A record it cannot convert (241, 242…) is permanent: the delivery
   * loop halves the batch until that record is alone and sends it to the error output. Anything else (a
   * deadlock) is retried.
   */
  function endedError(cause: unknown, rows: number): SinkError {
    const cls = classifyMssqlError(cause);
    if (cls === 'data') {
      return new SinkError(
        describe(cause, cls, rows === 1 ? 'rejected the record' : 'rejected a record of the batch and rolled it back'),
        true,
        'mssql',
      );
    }
    return fail(cause, `write to ${schema}.${table} (the server rolled the batch back)`);
  }

  async function open(): Promise<void> {
    const p = await connect();
    spec = await discover(p);
    logger?.(
      'info',
      `SQL Server ${conn.server}/${conn.database}: writing ${schema}.${table} (${spec.columns.length} columns)`,
    );
  }

  return {
    target: 'mssql',
    get spec() {
      return spec;
    },
    open: () => open(),
    // One batch at a time: the delivery loop already serialises, this keeps direct callers safe too.
    write(batch: AttendanceRecord[]): Promise<SinkWriteResult> {
      return writes.run(() => writeBatch(batch));
    },
    async close(): Promise<void> {
      await writes.idle();
      const p = pool;
      pool = null;
      spec = null;
      if (p) await p.close().catch(() => undefined);
    },
  };
}
