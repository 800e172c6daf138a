/**
 * MySQL / MariaDB target (docs/targets.md §5): a small mysql2 pool, multi-row idempotent INSERTs in one
 * transaction per batch, counts from the server's answer, times as strings. SQL text comes from
 * mysql-sql.ts; this file owns connections, introspection and turning driver errors into SinkErrors.
 */
import { Readable } from 'stream';
import * as mysql from 'mysql2/promise';
import type { AttendanceRecord } from '../record';
import {
  MYSQL_DEFAULT_TABLE,
  MYSQL_KEY_FIELDS,
  MysqlColumn,
  MysqlColumnMap,
  MysqlFailureClass,
  MysqlFlavor,
  MysqlValue,
  MysqlValueError,
  buildCreateTableSql,
  buildInsertSql,
  buildLoadDataSql,
  classifyMysqlError,
  mysqlFailureScope,
  flavorFromVersion,
  parseLoadInfo,
  planChunks,
  quoteIdentifier,
  recordKey,
  resolveColumns,
  toMysqlRow,
  toTsv,
} from './mysql-sql';
import { RejectedRecord, Sink, SinkError, SinkFailureScope, SinkLogger, SinkWriteResult } from './types';

export interface MysqlSinkOptions {
  host?: string;
  port?: number;
  /** Unix socket instead of host/port. */
  socketPath?: string;
  user: string;
  /** From Node-RED credentials; never logged. */
  password?: string;
  database: string;
  /** Default `attendance_log`. */
  table?: string;
  /** Canonical field → column (null: not written); merged over DEFAULT_MYSQL_COLUMNS. */
  columns?: MysqlColumnMap;
  /** CREATE TABLE IF NOT EXISTS on open (mysql-sql.ts buildCreateTableSql). Default false. */
  createTable?: boolean;
  /** Rows per INSERT statement. Default 1000 (docs/targets.md §5.2). */
  rowsPerStatement?: number;
  /** Pool size. Default 2: one batch in flight per sink, plus a spare while a dead connection is replaced. */
  connectionLimit?: number;
  connectTimeoutMs?: number;
  /**
   * Batches of at least this many rows go through one LOAD DATA LOCAL INFILE … IGNORE straight into the table
   * (mysql-sql.ts buildLoadDataSql), committed only when every row loaded verbatim or was a skipped duplicate;
   * otherwise, for smaller batches, and for good once the server refuses LOCAL INFILE, the multi-row INSERT.
   * Default 200; 0 turns the bulk path off.
   */
  bulkLoadMinRows?: number;
  /** TLS options handed to mysql2 as they are (CA, rejectUnauthorized, …). */
  ssl?: mysql.SslOptions;
}

/** A SinkError that also says which class of failure it was (for the node status: config needs a person). */
export class MysqlSinkError extends SinkError {
  constructor(message: string, readonly kind: MysqlFailureClass, readonly code?: string, scope?: SinkFailureScope) {
    // Config errors are not permanent: the records wait in the outbox until someone fixes the table. They are
    // about the target, never a record, so the delivery loop never isolates a record over one.
    super(message, false, 'mysql', scope ?? (kind === 'config' ? 'outage' : undefined));
    this.name = 'MysqlSinkError';
  }
}

interface Prepared {
  columns: MysqlColumn[];
  /** Lower-cased column name → max characters, from introspection. */
  limits: Map<string, number>;
  maxBytes: number;
  flavor: MysqlFlavor;
  /** Whether the bulk path may be tried (its LOAD DATA text needs backslash escapes). */
  bulkOk: boolean;
}

type ColumnInfo = { COLUMN_NAME: string; DATA_TYPE: string; CHARACTER_MAXIMUM_LENGTH: number | string | null };
type IndexInfo = { INDEX_NAME: string; NON_UNIQUE: number | string; COLUMN_NAME: string };

function describe(err: unknown): { message: string; code?: string } {
  const e = err as { message?: unknown; code?: unknown; errno?: unknown } | null;
  const code = typeof e?.code === 'string' ? e.code : undefined;
  const message = typeof e?.message === 'string' && e.message ? e.message : String(err);
  return { message: code && !message.includes(code) ? `${code}: ${message}` : message, code };
}

function toSinkError(err: unknown, what: string): MysqlSinkError {
  if (err instanceof MysqlSinkError) return err;
  const kind = classifyMysqlError(err);
  const scope = mysqlFailureScope(err);
  const { message, code } = describe(err);
  const prefix = kind === 'config' ? 'MySQL configuration' : kind === 'data' ? 'MySQL rejected data' : scope === 'records' ? 'MySQL error' : 'MySQL unavailable';
  return new MysqlSinkError(`${prefix} (${what}): ${message}`, kind, code, scope);
}

/**
 * Whether a failed connection can go back to the pool. After a network or protocol error it cannot:
 * mysql2 marks it fatal, and reusing it would fail the next batch too.
 */
const isFatal = (err: unknown): boolean => (err as { fatal?: unknown } | null)?.fatal === true;

/** `data` in pieces of at most `size` bytes (views, no copies). */
function chunksOf(data: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < data.length; i += size) out.push(data.subarray(i, i + size));
  return out;
}

export function createMysqlSink(options: MysqlSinkOptions, logger?: SinkLogger): Sink {
  // Validates identifiers and the mapping now: a bad config fails when the node starts, not on the first batch.
  const table = options.table ?? MYSQL_DEFAULT_TABLE;
  const qTable = quoteIdentifier(table);
  const mapped = resolveColumns(options.columns);
  if (options.createTable) buildCreateTableSql(table, mapped);
  const rowsPerStatement = Math.max(1, Math.floor(options.rowsPerStatement ?? 1000));
  const log: SinkLogger = logger ?? (() => undefined);
  const bulkMin = Math.max(0, Math.floor(options.bulkLoadMinRows ?? 200));
  // Cleared for good (and said once) when the server or account refuses the bulk path.
  let bulkAvailable = bulkMin > 0;
  const loadSql = buildLoadDataSql(table, mapped);

  let pool: mysql.Pool | null = null;
  let prepared: Promise<Prepared> | null = null;
  let chain: Promise<unknown> = Promise.resolve();
  let closed = false;
  const sqlByRows = new Map<number, string>();
  // Connections whose session we set up (strict mode, zone); a WeakSet forgets the ones the pool drops.
  const initialised = new WeakSet<object>();

  function getPool(): mysql.Pool {
    if (!pool) {
      pool = mysql.createPool({
        host: options.host ?? '127.0.0.1',
        port: options.port ?? 3306,
        socketPath: options.socketPath,
        user: options.user,
        password: options.password,
        database: options.database,
        connectionLimit: Math.max(1, options.connectionLimit ?? 2),
        connectTimeout: options.connectTimeoutMs ?? 10000,
        // docs/targets.md §5.4: without FOUND_ROWS, affectedRows counts rows inserted (a duplicate whose
        // ON DUPLICATE KEY UPDATE changes nothing counts 0; with FOUND_ROWS it would count 1).
        flags: ['-FOUND_ROWS'],
        // Times travel as strings both ways; no Date ever meets the process zone.
        dateStrings: true,
        timezone: 'Z',
        charset: 'utf8mb4',
        supportBigNumbers: true,
        enableKeepAlive: true,
        ssl: options.ssl,
        // Parameter values are bound by the server (execute), never spliced into SQL text.
        multipleStatements: false,
      });
    }
    return pool;
  }

  async function connection(): Promise<mysql.PoolConnection> {
    const conn = await getPool().getConnection();
    if (!initialised.has(conn.connection)) {
      try {
        // Strict for this session whatever the server default: a too-long value must fail, not be cut.
        // time_zone +00:00 keeps a customer's TIMESTAMP key column from shifting at DST changes.
        await conn.query("SET SESSION sql_mode = CONCAT_WS(',', @@SESSION.sql_mode, 'STRICT_ALL_TABLES'), time_zone = '+00:00'");
      } catch (err) {
        conn.destroy();
        throw err;
      }
      initialised.add(conn.connection);
    }
    return conn;
  }

  async function prepare(): Promise<Prepared> {
    const conn = await connection();
    try {
      const [meta] = await conn.query<mysql.RowDataPacket[]>('SELECT VERSION() AS version, @@max_allowed_packet AS maxPacket, @@SESSION.sql_mode AS sqlMode');
      const version = String(meta[0]?.version ?? '');
      const flavor = flavorFromVersion(version);
      if (options.createTable) {
        await conn.query(buildCreateTableSql(table, mapped, flavor));
      }
      const [cols] = await conn.query<(ColumnInfo & mysql.RowDataPacket)[]>(
        'SELECT COLUMN_NAME, DATA_TYPE, CHARACTER_MAXIMUM_LENGTH FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?',
        [table],
      );
      if (cols.length === 0) {
        throw new MysqlSinkError(`MySQL configuration: table ${qTable} not found in database ${quoteIdentifier(options.database)} (create it, or enable "create table")`, 'config', 'ER_NO_SUCH_TABLE');
      }
      const byName = new Map(cols.map((c) => [String(c.COLUMN_NAME).toLowerCase(), c]));
      const missing = mapped.filter((c) => !byName.has(c.column.toLowerCase())).map((c) => `${c.column} (${c.field})`);
      if (missing.length > 0) {
        throw new MysqlSinkError(`MySQL configuration: table ${qTable} has no column ${missing.join(', ')}`, 'config', 'ER_BAD_FIELD_ERROR');
      }
      const limits = new Map<string, number>();
      for (const c of mapped) {
        const info = byName.get(c.column.toLowerCase());
        const max = info?.CHARACTER_MAXIMUM_LENGTH;
        if (max !== null && max !== undefined && /char|text/i.test(String(info?.DATA_TYPE))) limits.set(c.column.toLowerCase(), Number(max));
      }
      await checkUniqueKey(conn);
      // Half the packet limit, capped at 4 MiB: room for the statement text and framing.
      const maxPacket = Number(meta[0]?.maxPacket ?? 4 << 20);
      const maxBytes = Math.max(64 << 10, Math.min(4 << 20, Math.floor(maxPacket / 2)));
      log('debug', `mysql sink ready: ${version}, table ${table}, ${mapped.length} columns`);
      const bulkOk = !/NO_BACKSLASH_ESCAPES/i.test(String(meta[0]?.sqlMode ?? ''));
      return { columns: mapped, limits, maxBytes, flavor, bulkOk };
    } finally {
      conn.release();
    }
  }

  /** Without a unique key on the key columns, ON DUPLICATE KEY never fires and re-sends would double rows. */
  async function checkUniqueKey(conn: mysql.PoolConnection): Promise<void> {
    const [idx] = await conn.query<(IndexInfo & mysql.RowDataPacket)[]>(
      'SELECT INDEX_NAME, NON_UNIQUE, COLUMN_NAME FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?',
      [table],
    );
    const keyCols = new Set(
      mapped.filter((c) => MYSQL_KEY_FIELDS.includes(c.field) || c.field === 'id').map((c) => c.column.toLowerCase()),
    );
    const unique = new Map<string, string[]>();
    for (const r of idx) {
      if (Number(r.NON_UNIQUE) !== 0) continue;
      const list = unique.get(r.INDEX_NAME) ?? [];
      list.push(String(r.COLUMN_NAME).toLowerCase());
      unique.set(r.INDEX_NAME, list);
    }
    // A unique index whose columns are all ones we write from the key makes equal records collide.
    const ok = [...unique.values()].some((cols) => cols.length > 0 && cols.every((c) => keyCols.has(c)));
    if (!ok) {
      const want = mapped.filter((c) => MYSQL_KEY_FIELDS.includes(c.field)).map((c) => c.column).join(', ');
      throw new MysqlSinkError(`MySQL configuration: table ${qTable} needs a UNIQUE KEY on (${want}) so re-sent records are not doubled`, 'config', 'NO_UNIQUE_KEY');
    }
  }

  function ensurePrepared(): Promise<Prepared> {
    if (!prepared) {
      const p = prepare().catch((err: unknown) => {
        // Not cached: the next write tries again (the table may have been created meanwhile).
        if (prepared === p) prepared = null;
        throw toSinkError(err, 'open');
      });
      prepared = p;
    }
    return prepared;
  }

  function insertSql(rows: number): string {
    let sql = sqlByRows.get(rows);
    if (!sql) {
      sql = buildInsertSql(table, mapped, rows);
      // Bisection can ask for many sizes; keep the usual few.
      if (sqlByRows.size < 64) sqlByRows.set(rows, sql);
    }
    return sql;
  }

  interface Tally {
    inserted: number;
    duplicates: number;
    rejected: RejectedRecord[];
  }

  /**
   * One INSERT for rows[from, to). A data error (too long, bad date, constraint) is rolled back by the server
   * for that statement only, so the range is split in halves until the record(s) at fault are isolated:
   * they are rejected, the rest are written in the same transaction.
   */
  async function insertRange(conn: mysql.PoolConnection, rows: MysqlValue[][], records: AttendanceRecord[], from: number, to: number, tally: Tally): Promise<void> {
    const n = to - from;
    const params: MysqlValue[] = [];
    for (let i = from; i < to; i++) for (const v of rows[i]) params.push(v);
    try {
      const [res] = await conn.execute<mysql.ResultSetHeader>(insertSql(n), params);
      // With -FOUND_ROWS, affectedRows is the number of new rows; a no-op duplicate counts 0.
      const inserted = Math.min(n, Math.max(0, res.affectedRows));
      if (res.affectedRows > n) log('warn', `mysql sink: affectedRows ${res.affectedRows} for ${n} rows (a trigger or a changed row?)`);
      tally.inserted += inserted;
      tally.duplicates += n - inserted;
    } catch (err) {
      if (classifyMysqlError(err) !== 'data') throw err;
      if (n === 1) {
        tally.rejected.push({ record: records[from], reason: describe(err).message });
        return;
      }
      const mid = from + Math.ceil(n / 2);
      await insertRange(conn, rows, records, from, mid, tally);
      await insertRange(conn, rows, records, mid, to, tally);
    }
  }

  /** Errors that say LOCAL INFILE is off (server or client side) or not allowed for this account. */
  function bulkRefused(err: unknown): boolean {
    const e = err as { errno?: unknown; message?: unknown } | null;
    // 1148: not allowed (MariaDB local_infile=0); 2068/3948/4166: local data disabled (MySQL 8, client or server).
    if (typeof e?.errno === 'number' && [1148, 2068, 3948, 4166].includes(e.errno)) return true;
    if (typeof e?.message === 'string' && /LOCAL INFILE|local data|streamFactory/i.test(e.message)) return true;
    return false;
  }

  /**
   * The bulk path for one batch, inside the caller's open transaction (mysql-sql.ts buildLoadDataSql).
   * Returns false, with nothing of the batch left in the transaction, when the batch must take the
   * multi-row path instead: the server refused LOCAL INFILE, or a row did not load verbatim.
   */
  async function bulkWrite(conn: mysql.PoolConnection, data: Buffer, n: number, tally: Tally): Promise<boolean> {
    let res: mysql.ResultSetHeader;
    try {
      [res] = await conn.query<mysql.ResultSetHeader>({
        sql: loadSql,
        // Ignores the name the server asks for: only this batch's bytes ever leave the process.
        // 64 KiB pieces: mysql2 sends each piece as one packet, and a packet must stay under max_allowed_packet.
        infileStreamFactory: () => Readable.from(chunksOf(data, 64 << 10)),
      });
    } catch (err) {
      if (isFatal(err) || !bulkRefused(err)) throw err;
      bulkAvailable = false;
      log('info', `mysql sink: LOAD DATA LOCAL INFILE unavailable (${describe(err).message}); using multi-row INSERTs from now on`);
      // A refused LOAD wrote nothing; still roll back so the caller starts its fallback from a clean slate.
      await conn.query('ROLLBACK');
      await conn.query('START TRANSACTION');
      return false;
    }
    const info = parseLoadInfo(res.info ?? '');
    // Every warning must be a skipped duplicate (one 1062 each) and every row inserted or skipped; anything
    // else means a value was altered on the way in (IGNORE semantics), so none of it may commit.
    if (!info || info.records !== n || info.warnings !== info.skipped || res.warningStatus !== info.skipped || res.affectedRows + info.skipped !== n) {
      await conn.query('ROLLBACK');
      await conn.query('START TRANSACTION');
      log('debug', `mysql sink: bulk load not clean (${res.info ?? 'no info'}); writing the batch with INSERTs`);
      return false;
    }
    tally.inserted += res.affectedRows;
    tally.duplicates += info.skipped;
    return true;
  }

  /** A batch converted and checked, before any server work; `tsv` only when it will take the bulk path. */
  interface Converted {
    prep: Prepared;
    rows: MysqlValue[][];
    records: AttendanceRecord[];
    rejected: RejectedRecord[];
    duplicates: number;
    tsv: Buffer | null;
  }

  /** Batches converted ahead by prepare(), by array identity (a bisected slice is a new array: converted anew). */
  const staged = new WeakMap<AttendanceRecord[], Converted>();
  /** The resolved Prepared, for prepare() (which is synchronous and never waits for the server). */
  let ready: Prepared | null = null;

  const useBulk = (prep: Prepared, rows: number): boolean => bulkAvailable && prep.bulkOk && rows >= bulkMin;

  /** Converts and checks every record; the same key twice is written once. Pure CPU, no server. */
  function convert(batch: AttendanceRecord[], prep: Prepared): Converted {
    const out: Converted = { prep, rows: [], records: [], rejected: [], duplicates: 0, tsv: null };
    const seen = new Set<string>();
    for (const record of batch) {
      let row: MysqlValue[];
      try {
        row = toMysqlRow(record, prep.columns, prep.limits);
      } catch (err) {
        if (!(err instanceof MysqlValueError)) throw err;
        out.rejected.push({ record, reason: err.message });
        continue;
      }
      const key = recordKey(record);
      if (seen.has(key)) {
        out.duplicates++;
        continue;
      }
      seen.add(key);
      out.rows.push(row);
      out.records.push(record);
    }
    if (useBulk(prep, out.rows.length)) out.tsv = Buffer.from(toTsv(out.rows), 'utf8');
    return out;
  }

  async function writeBatch(batch: AttendanceRecord[]): Promise<SinkWriteResult> {
    if (closed) throw new MysqlSinkError('MySQL sink is closed', 'transient', 'POOL_CLOSED');
    if (batch.length === 0) return { inserted: 0, duplicates: 0, rejected: [] };
    const prep = await ensurePrepared();
    ready = prep;

    // Convert and check every record before touching the server (prepare() may have done it already).
    const early = staged.get(batch);
    staged.delete(batch);
    const conv = early && early.prep === prep ? early : convert(batch, prep);
    const { rows, records } = conv;
    const tally: Tally = { inserted: 0, duplicates: conv.duplicates, rejected: [...conv.rejected] };
    if (rows.length === 0) return tally;

    let conn: mysql.PoolConnection;
    try {
      conn = await connection();
    } catch (err) {
      throw toSinkError(err, 'connect');
    }
    let inTx = false;
    try {
      // One transaction per batch: the batch is all-or-nothing and the counts describe exactly what committed.
      await conn.query('START TRANSACTION');
      inTx = true;
      const bulk = useBulk(prep, rows.length) && (await bulkWrite(conn, conv.tsv ?? Buffer.from(toTsv(rows), 'utf8'), rows.length, tally));
      if (!bulk) for (const [from, to] of planChunks(rows, { maxRows: rowsPerStatement, maxBytes: prep.maxBytes })) {
        await insertRange(conn, rows, records, from, to, tally);
      }
      await conn.query('COMMIT');
      inTx = false;
      conn.release();
      return tally;
    } catch (err) {
      // A lost COMMIT answer is ambiguous; the retry is safe because the insert is idempotent.
      if (isFatal(err)) conn.destroy();
      else {
        if (inTx) await conn.query('ROLLBACK').catch(() => undefined);
        conn.release();
      }
      const e = toSinkError(err, 'write');
      log('warn', e.message, { kind: e.kind, records: batch.length });
      throw e;
    }
  }

  return {
    target: 'mysql',
    async open(): Promise<void> {
      if (closed) throw new MysqlSinkError('MySQL sink is closed', 'transient', 'POOL_CLOSED');
      ready = await ensurePrepared();
    },
    prepare(batch: AttendanceRecord[]): void {
      // Only once the table is known; before that, write() converts as usual.
      if (closed || !ready || batch.length === 0 || staged.has(batch)) return;
      try {
        staged.set(batch, convert(batch, ready));
      } catch {
        /* write() converts again and reports whatever this was */
      }
    },
    write(batch: AttendanceRecord[]): Promise<SinkWriteResult> {
      // One batch in flight per sink (docs/targets.md §5.4): later calls wait for the earlier ones.
      const run = chain.then(() => writeBatch(batch));
      chain = run.catch(() => undefined);
      return run;
    },
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      await chain;
      const p = pool;
      pool = null;
      prepared = null;
      ready = null;
      await p?.end().catch(() => undefined);
    },
  };
}
