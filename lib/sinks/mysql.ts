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
  resolveColumns,
  toMysqlRow,
  toTsv,
} from './mysql-sql';
import { RowRejection, SerialWrites, convertBatch } from './sql';
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
  constructor(
    message: string,
    readonly kind: MysqlFailureClass,
    readonly code?: string,
    scope?: SinkFailureScope,
  ) {
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
  const prefix =
    kind === 'config'
      ? 'MySQL configuration'
      : kind === 'data'
        ? 'MySQL rejected data'
        : scope === 'records'
          ? 'MySQL error'
          : 'MySQL unavailable';
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

/** A batch converted and checked, before any server work; `tsv` only when it will take the bulk path. */
interface Converted {
  prep: Prepared;
  rows: MysqlValue[][];
  records: AttendanceRecord[];
  rejected: RejectedRecord[];
  duplicates: number;
  tsv: Buffer | null;
}

interface Tally {
  inserted: number;
  duplicates: number;
  rejected: RejectedRecord[];
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
 * The sink in steps: connect (pool, session setup), discover (version, table, columns, unique key), convert (a
 * batch to checked rows, deduped), write (one transaction: the bulk load, or multi-row INSERTs that isolate a
 * bad record by halving).
 */
class MysqlSink implements Sink {
  readonly target = 'mysql' as const;
  private readonly table: string;
  private readonly qTable: string;
  private readonly mapped: MysqlColumn[];
  private readonly rowsPerStatement: number;
  private readonly log: SinkLogger;
  private readonly bulkMin: number;
  private readonly loadSql: string;
  // Cleared for good (and said once) when the server or account refuses the bulk path.
  private bulkAvailable: boolean;

  private pool: mysql.Pool | null = null;
  private discovered: Promise<Prepared> | null = null;
  /** The resolved discovery, for prepare() (which is synchronous and never waits for the server). */
  private ready: Prepared | null = null;
  private closed = false;
  private readonly writes = new SerialWrites();
  private readonly sqlByRows = new Map<number, string>();
  // Connections whose session we set up (strict mode, zone); a WeakSet forgets the ones the pool drops.
  private readonly initialised = new WeakSet<object>();
  /** Batches converted ahead by prepare(), by array identity (a bisected slice is a new array: converted anew). */
  private readonly staged = new WeakMap<AttendanceRecord[], Converted>();

  constructor(
    private readonly options: MysqlSinkOptions,
    logger?: SinkLogger,
  ) {
    // Validates identifiers and the mapping now: a bad config fails when the node starts, not on the first batch.
    this.table = options.table ?? MYSQL_DEFAULT_TABLE;
    this.qTable = quoteIdentifier(this.table);
    this.mapped = resolveColumns(options.columns);
    if (options.createTable) buildCreateTableSql(this.table, this.mapped);
    this.rowsPerStatement = Math.max(1, Math.floor(options.rowsPerStatement ?? 1000));
    this.log = logger ?? (() => undefined);
    this.bulkMin = Math.max(0, Math.floor(options.bulkLoadMinRows ?? 200));
    this.bulkAvailable = this.bulkMin > 0;
    this.loadSql = buildLoadDataSql(this.table, this.mapped);
  }

  async open(): Promise<void> {
    if (this.closed) throw new MysqlSinkError('MySQL sink is closed', 'transient', 'POOL_CLOSED');
    this.ready = await this.discover();
  }

  prepare(batch: AttendanceRecord[]): void {
    // Only once the table is known; before that, write() converts as usual.
    if (this.closed || !this.ready || batch.length === 0 || this.staged.has(batch)) return;
    try {
      this.staged.set(batch, this.convert(batch, this.ready));
    } catch {
      /* write() converts again and reports whatever this was */
    }
  }

  write(batch: AttendanceRecord[]): Promise<SinkWriteResult> {
    // One batch in flight per sink (docs/targets.md §5.4): later calls wait for the earlier ones.
    return this.writes.run(() => this.writeBatch(batch));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.writes.idle();
    const p = this.pool;
    this.pool = null;
    this.discovered = null;
    this.ready = null;
    await p?.end().catch(() => undefined);
  }

  // ---- connect ----

  private getPool(): mysql.Pool {
    if (!this.pool) {
      const o = this.options;
      this.pool = mysql.createPool({
        host: o.host ?? '127.0.0.1',
        port: o.port ?? 3306,
        socketPath: o.socketPath,
        user: o.user,
        password: o.password,
        database: o.database,
        connectionLimit: Math.max(1, o.connectionLimit ?? 2),
        connectTimeout: o.connectTimeoutMs ?? 10000,
        // docs/targets.md §5.4: without FOUND_ROWS, affectedRows counts rows inserted (a duplicate whose
        // ON DUPLICATE KEY UPDATE changes nothing counts 0; with FOUND_ROWS it would count 1).
        flags: ['-FOUND_ROWS'],
        // Times travel as strings both ways; no Date ever meets the process zone.
        dateStrings: true,
        timezone: 'Z',
        charset: 'utf8mb4',
        supportBigNumbers: true,
        enableKeepAlive: true,
        ssl: o.ssl,
        // Parameter values are bound by the server (execute), never spliced into SQL text.
        multipleStatements: false,
      });
    }
    return this.pool;
  }

  private async connection(): Promise<mysql.PoolConnection> {
    const conn = await this.getPool().getConnection();
    if (!this.initialised.has(conn.connection)) {
      try {
        // Strict for this session whatever the server default: a too-long value must fail, not be cut.
        // time_zone +00:00 keeps a customer's TIMESTAMP key column from shifting at DST changes.
        await conn.query(
          "SET SESSION sql_mode = CONCAT_WS(',', @@SESSION.sql_mode, 'STRICT_ALL_TABLES'), time_zone = '+00:00'",
        );
      } catch (err) {
        conn.destroy();
        throw err;
      }
      this.initialised.add(conn.connection);
    }
    return conn;
  }

  // ---- discover ----

  /** The table as the server has it, once; a failure is not cached, so the next write tries again. */
  private discover(): Promise<Prepared> {
    if (!this.discovered) {
      const p = this.inspect().catch((err: unknown) => {
        // The table may have been created meanwhile.
        if (this.discovered === p) this.discovered = null;
        throw toSinkError(err, 'open');
      });
      this.discovered = p;
    }
    return this.discovered;
  }

  private async inspect(): Promise<Prepared> {
    const conn = await this.connection();
    try {
      const [meta] = await conn.query<mysql.RowDataPacket[]>(
        'SELECT VERSION() AS version, @@max_allowed_packet AS maxPacket, @@SESSION.sql_mode AS sqlMode',
      );
      const version = String(meta[0]?.version ?? '');
      const flavor = flavorFromVersion(version);
      if (this.options.createTable) {
        await conn.query(buildCreateTableSql(this.table, this.mapped, flavor));
      }
      const limits = await this.textLimits(conn);
      await this.checkUniqueKey(conn);
      // Half the packet limit, capped at 4 MiB: room for the statement text and framing.
      const maxPacket = Number(meta[0]?.maxPacket ?? 4 << 20);
      const maxBytes = Math.max(64 << 10, Math.min(4 << 20, Math.floor(maxPacket / 2)));
      this.log('debug', `mysql sink ready: ${version}, table ${this.table}, ${this.mapped.length} columns`);
      const bulkOk = !/NO_BACKSLASH_ESCAPES/i.test(String(meta[0]?.sqlMode ?? ''));
      return { columns: this.mapped, limits, maxBytes, flavor, bulkOk };
    } finally {
      conn.release();
    }
  }

  /** Checks that every mapped column exists; returns the text columns' limits (lower-cased name → characters). */
  private async textLimits(conn: mysql.PoolConnection): Promise<Map<string, number>> {
    const [cols] = await conn.query<(ColumnInfo & mysql.RowDataPacket)[]>(
      'SELECT COLUMN_NAME, DATA_TYPE, CHARACTER_MAXIMUM_LENGTH FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?',
      [this.table],
    );
    if (cols.length === 0) {
      throw new MysqlSinkError(
        `MySQL configuration: table ${this.qTable} not found in database ${quoteIdentifier(this.options.database)} (create it, or enable "create table")`,
        'config',
        'ER_NO_SUCH_TABLE',
      );
    }
    const byName = new Map(cols.map((c) => [String(c.COLUMN_NAME).toLowerCase(), c]));
    const missing = this.mapped
      .filter((c) => !byName.has(c.column.toLowerCase()))
      .map((c) => `${c.column} (${c.field})`);
    if (missing.length > 0) {
      throw new MysqlSinkError(
        `MySQL configuration: table ${this.qTable} has no column ${missing.join(', ')}`,
        'config',
        'ER_BAD_FIELD_ERROR',
      );
    }
    const limits = new Map<string, number>();
    for (const c of this.mapped) {
      const info = byName.get(c.column.toLowerCase());
      const max = info?.CHARACTER_MAXIMUM_LENGTH;
      if (max !== null && max !== undefined && /char|text/i.test(String(info?.DATA_TYPE)))
        limits.set(c.column.toLowerCase(), Number(max));
    }
    return limits;
  }

  /** Without a unique key on the key columns, ON DUPLICATE KEY never fires and re-sends would double rows. */
  private async checkUniqueKey(conn: mysql.PoolConnection): Promise<void> {
    const [idx] = await conn.query<(IndexInfo & mysql.RowDataPacket)[]>(
      'SELECT INDEX_NAME, NON_UNIQUE, COLUMN_NAME FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?',
      [this.table],
    );
    const keyCols = new Set(
      this.mapped
        .filter((c) => MYSQL_KEY_FIELDS.includes(c.field) || c.field === 'id')
        .map((c) => c.column.toLowerCase()),
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
      const want = this.mapped
        .filter((c) => MYSQL_KEY_FIELDS.includes(c.field))
        .map((c) => c.column)
        .join(', ');
      throw new MysqlSinkError(
        `MySQL configuration: table ${this.qTable} needs a UNIQUE KEY on (${want}) so re-sent records are not doubled`,
        'config',
        'NO_UNIQUE_KEY',
      );
    }
  }

  // ---- convert ----

  private useBulk(prep: Prepared, rows: number): boolean {
    return this.bulkAvailable && prep.bulkOk && rows >= this.bulkMin;
  }

  /** Converts and checks every record; the same key twice is written once. Pure CPU, no server. */
  private convert(batch: AttendanceRecord[], prep: Prepared): Converted {
    const c = convertBatch(batch, (record) => {
      try {
        return toMysqlRow(record, prep.columns, prep.limits);
      } catch (err) {
        if (err instanceof MysqlValueError) return new RowRejection(err.message);
        throw err;
      }
    });
    const tsv = this.useBulk(prep, c.rows.length) ? Buffer.from(toTsv(c.rows), 'utf8') : null;
    return { prep, rows: c.rows, records: c.records, rejected: c.rejected, duplicates: c.duplicates.length, tsv };
  }

  // ---- write ----

  private async writeBatch(batch: AttendanceRecord[]): Promise<SinkWriteResult> {
    if (this.closed) throw new MysqlSinkError('MySQL sink is closed', 'transient', 'POOL_CLOSED');
    if (batch.length === 0) return { inserted: 0, duplicates: 0, rejected: [] };
    const prep = await this.discover();
    this.ready = prep;

    // Convert and check every record before touching the server (prepare() may have done it already).
    const early = this.staged.get(batch);
    this.staged.delete(batch);
    const conv = early && early.prep === prep ? early : this.convert(batch, prep);
    const tally: Tally = { inserted: 0, duplicates: conv.duplicates, rejected: [...conv.rejected] };
    if (conv.rows.length === 0) return tally;

    let conn: mysql.PoolConnection;
    try {
      conn = await this.connection();
    } catch (err) {
      throw toSinkError(err, 'connect');
    }
    let inTx = false;
    try {
      // One transaction per batch: the batch is all-or-nothing and the counts describe exactly what committed.
      await conn.query('START TRANSACTION');
      inTx = true;
      await this.writeRows(conn, conv, tally);
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
      this.log('warn', e.message, { kind: e.kind, records: batch.length });
      throw e;
    }
  }

  /** The converted rows, inside the open transaction: the bulk load when it applies and is clean, else INSERTs. */
  private async writeRows(conn: mysql.PoolConnection, conv: Converted, tally: Tally): Promise<void> {
    const { rows, records, prep } = conv;
    if (
      this.useBulk(prep, rows.length) &&
      (await this.bulkWrite(conn, conv.tsv ?? Buffer.from(toTsv(rows), 'utf8'), rows.length, tally))
    )
      return;
    for (const [from, to] of planChunks(rows, { maxRows: this.rowsPerStatement, maxBytes: prep.maxBytes })) {
      await this.insertRange(conn, rows, records, from, to, tally);
    }
  }

  private insertSql(rows: number): string {
    let sql = this.sqlByRows.get(rows);
    if (!sql) {
      sql = buildInsertSql(this.table, this.mapped, rows);
      // Bisection can ask for many sizes; keep the usual few.
      if (this.sqlByRows.size < 64) this.sqlByRows.set(rows, sql);
    }
    return sql;
  }

  /**
   * One INSERT for rows[from, to). A data error (too long, bad date, constraint) is rolled back by the server
   * for that statement only, so the range is split in halves until the record(s) at fault are isolated:
   * they are rejected, the rest are written in the same transaction.
   */
  private async insertRange(
    conn: mysql.PoolConnection,
    rows: MysqlValue[][],
    records: AttendanceRecord[],
    from: number,
    to: number,
    tally: Tally,
  ): Promise<void> {
    const n = to - from;
    const params: MysqlValue[] = [];
    for (let i = from; i < to; i++) for (const v of rows[i]) params.push(v);
    try {
      const [res] = await conn.execute<mysql.ResultSetHeader>(this.insertSql(n), params);
      // With -FOUND_ROWS, affectedRows is the number of new rows; a no-op duplicate counts 0.
      const inserted = Math.min(n, Math.max(0, res.affectedRows));
      if (res.affectedRows > n)
        this.log('warn', `mysql sink: affectedRows ${res.affectedRows} for ${n} rows (a trigger or a changed row?)`);
      tally.inserted += inserted;
      tally.duplicates += n - inserted;
    } catch (err) {
      if (classifyMysqlError(err) !== 'data') throw err;
      if (n === 1) {
        tally.rejected.push({ record: records[from], reason: describe(err).message });
        return;
      }
      const mid = from + Math.ceil(n / 2);
      await this.insertRange(conn, rows, records, from, mid, tally);
      await this.insertRange(conn, rows, records, mid, to, tally);
    }
  }

  /**
   * The bulk path for one batch, inside the caller's open transaction (mysql-sql.ts buildLoadDataSql).
   * Returns false, with nothing of the batch left in the transaction, when the batch must take the
   * multi-row path instead: the server refused LOCAL INFILE, or a row did not load verbatim.
   */
  private async bulkWrite(conn: mysql.PoolConnection, data: Buffer, n: number, tally: Tally): Promise<boolean> {
    let res: mysql.ResultSetHeader;
    try {
      [res] = await conn.query<mysql.ResultSetHeader>({
        sql: this.loadSql,
        // Ignores the name the server asks for: only this batch's bytes ever leave the process.
        // 64 KiB pieces: mysql2 sends each piece as one packet, and a packet must stay under max_allowed_packet.
        infileStreamFactory: () => Readable.from(chunksOf(data, 64 << 10)),
      });
    } catch (err) {
      if (isFatal(err) || !bulkRefused(err)) throw err;
      this.bulkAvailable = false;
      this.log(
        'info',
        `mysql sink: LOAD DATA LOCAL INFILE unavailable (${describe(err).message}); using multi-row INSERTs from now on`,
      );
      // A refused LOAD wrote nothing; still roll back so the caller starts its fallback from a clean slate.
      await conn.query('ROLLBACK');
      await conn.query('START TRANSACTION');
      return false;
    }
    const info = parseLoadInfo(res.info ?? '');
    // Every warning must be a skipped duplicate (one 1062 each) and every row inserted or skipped; anything
    // else means a value was altered on the way in (IGNORE semantics), so none of it may commit.
    if (
      !info ||
      info.records !== n ||
      info.warnings !== info.skipped ||
      res.warningStatus !== info.skipped ||
      res.affectedRows + info.skipped !== n
    ) {
      await conn.query('ROLLBACK');
      await conn.query('START TRANSACTION');
      this.log('debug', `mysql sink: bulk load not clean (${res.info ?? 'no info'}); writing the batch with INSERTs`);
      return false;
    }
    tally.inserted += res.affectedRows;
    tally.duplicates += info.skipped;
    return true;
  }
}

export function createMysqlSink(options: MysqlSinkOptions, logger?: SinkLogger): Sink {
  return new MysqlSink(options, logger);
}
