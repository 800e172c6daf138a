/**
 * An att2000-shaped SQLite database for the Access writer's tests (docs/targets.md §3.7), built from the real
 * fixture: column names, order, types and text sizes come from reading ../shared/fixtures/att2000-sample.mdb
 * with mdb-reader; keys, NOT NULL and defaults (which mdb-reader does not expose) follow docs/targets.md §2.2/§2.3.
 * The fixture's rows are copied in too, so tests start from the data ZKTime wrote.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { OdbcConnection, OdbcModule } from '../../lib/sinks/access';

/** The fixture beside the checkout; PUNCHFLOW_ATT2000_FIXTURE names it when the checkout lives elsewhere (a worktree). */
export const FIXTURE =
  process.env.PUNCHFLOW_ATT2000_FIXTURE ?? path.resolve(__dirname, '../../../shared/fixtures/att2000-sample.mdb');
export const TABLES = ['CHECKINOUT', 'USERINFO', 'Machines'] as const;

export interface MdbColumn {
  name: string;
  type: string;
  size: number;
  autoLong: boolean;
}
export interface MdbTable {
  columns: MdbColumn[];
  rows: Record<string, unknown>[];
}
type MdbReaderCtor = new (buf: Buffer) => {
  getTable(name: string): { getColumns(): MdbColumn[]; getData(): Record<string, unknown>[] };
};

/** mdb-reader is ESM-only: a real dynamic import (TypeScript's CommonJS output would turn import() into require). */
const dynamicImport = new Function('u', 'return import(u)') as (u: string) => Promise<{ default: MdbReaderCtor }>;

export async function readFixture(file = FIXTURE): Promise<Record<string, MdbTable>> {
  const { default: MDBReader } = await dynamicImport(pathToFileURL(require.resolve('mdb-reader')).href);
  const reader = new MDBReader(fs.readFileSync(file));
  const out: Record<string, MdbTable> = {};
  for (const t of TABLES) {
    const table = reader.getTable(t);
    out[t] = { columns: table.getColumns(), rows: table.getData() };
  }
  return out;
}

/** mdb-reader type → the SQLite declaration whose ODBC type class matches Access's. Text sizes are bytes (2 × chars). */
export function sqliteType(c: MdbColumn): string {
  switch (c.type) {
    case 'long':
      return 'INTEGER';
    case 'integer':
      return 'SMALLINT';
    case 'byte':
      return 'TINYINT';
    case 'text':
      return `VARCHAR(${c.size / 2})`;
    case 'datetime':
      return 'DATETIME';
    case 'boolean':
      return 'BIT';
    case 'memo':
      return 'TEXT';
    case 'double':
    case 'float':
    case 'currency':
      return 'REAL';
    default:
      return 'BLOB';
  }
}

const USERINFO_ONE = ['ATT', 'INLATE', 'OUTEARLY', 'OVERTIME', 'SEP', 'HOLIDAY', 'LUNCHDURATION'];

export interface MirrorVariant {
  /** 'long': WorkCode as Long Integer (older ZKTime, ZeusUploader's file). Default 'text' (the fixture). */
  workCode?: 'text' | 'long';
  /** false: no Memoinfo column (ZeusUploader's file). */
  memoinfo?: boolean;
  /** Move WorkCode before sn (column order differs between versions). */
  workCodeFirst?: boolean;
  /** false: Badgenumber without a unique index (some att2000 files hold one badge on two rows). */
  badgeUnique?: boolean;
}

export function mirrorDdl(fx: Record<string, MdbTable>, v: MirrorVariant = {}): string[] {
  const ddl: string[] = [];
  for (const t of TABLES) {
    let cols = fx[t].columns.slice();
    if (t === 'CHECKINOUT') {
      if (v.memoinfo === false) cols = cols.filter((c) => c.name !== 'Memoinfo');
      if (v.workCode === 'long') cols = cols.map((c) => (c.name === 'WorkCode' ? { ...c, type: 'long', size: 4 } : c));
      if (v.workCodeFirst) {
        const wc = cols.find((c) => c.name === 'WorkCode')!;
        cols = cols.filter((c) => c !== wc);
        cols.splice(
          cols.findIndex((c) => c.name === 'sn'),
          0,
          wc,
        );
      }
    }
    const defs = cols.map((c) => {
      if (c.autoLong) return `[${c.name}] INTEGER PRIMARY KEY AUTOINCREMENT`;
      let d = `[${c.name}] ${sqliteType(c)}`;
      if (t === 'CHECKINOUT') {
        if (c.name === 'USERID') d += ' NOT NULL';
        if (c.name === 'CHECKTIME') d += ' NOT NULL DEFAULT CURRENT_TIMESTAMP';
        if (c.name === 'CHECKTYPE') d += " DEFAULT 'I'";
        if (c.name === 'VERIFYCODE' || c.name === 'UserExtFmt') d += ' DEFAULT 0';
        if (c.name === 'WorkCode') d += c.type === 'text' ? " DEFAULT '0'" : ' DEFAULT 0';
      }
      if (t === 'USERINFO') {
        if (USERINFO_ONE.includes(c.name)) d += ' NOT NULL DEFAULT 1';
        if (c.name === 'DEFAULTDEPTID') d += ' DEFAULT 1';
        // Jet compares text, and checks unique indexes, without regard to case: NOCASE models that.
        if (c.name === 'Badgenumber') d += v.badgeUnique === false ? ' COLLATE NOCASE' : ' COLLATE NOCASE UNIQUE';
      }
      if (t === 'Machines') {
        if (c.name === 'MachineAlias' || c.name === 'ConnectType') d += ' NOT NULL';
        if (c.name === 'MachineNumber') d += ' NOT NULL DEFAULT 1';
      }
      return d;
    });
    if (t === 'CHECKINOUT') defs.push('PRIMARY KEY ([USERID], [CHECKTIME])');
    ddl.push(`CREATE TABLE [${t}] (${defs.join(', ')})`);
  }
  return ddl;
}

/** Test-only literal (the fixture's own data); production literals come from lib/sinks/access-sql.ts. */
function lit(v: unknown): string {
  if (v === null || v === undefined || Buffer.isBuffer(v)) return 'NULL';
  if (typeof v === 'number') return String(v);
  if (typeof v === 'boolean') return v ? '1' : '0';
  if (v instanceof Date) return `'${v.toISOString().slice(0, 19).replace('T', ' ')}'`; // UTC fields hold the wall clock
  return `'${String(v).replace(/'/g, "''")}'`;
}

export function fixtureInserts(fx: Record<string, MdbTable>, v: MirrorVariant = {}): string[] {
  const out: string[] = [];
  for (const t of TABLES) {
    for (const row of fx[t].rows) {
      const names = Object.keys(row).filter(
        (k) => !(t === 'CHECKINOUT' && k === 'Memoinfo' && v.memoinfo === false) && !Buffer.isBuffer(row[k]),
      );
      const vals = names.map((k) =>
        t === 'CHECKINOUT' && k === 'WorkCode' && v.workCode === 'long' ? String(Number(row[k]) || 0) : lit(row[k]),
      );
      out.push(`INSERT INTO [${t}] (${names.map((n) => `[${n}]`).join(', ')}) VALUES (${vals.join(', ')})`);
    }
  }
  return out;
}

/** The SQLite3 ODBC driver by path, so no odbcinst.ini entry is needed; DRIVER env or the name 'SQLite3' otherwise. */
export function sqliteDriver(): string | null {
  if (process.env.PUNCHFLOW_SQLITE_ODBC_DRIVER) return process.env.PUNCHFLOW_SQLITE_ODBC_DRIVER;
  const dirs = ['/usr/lib/x86_64-linux-gnu/odbc', '/usr/lib/aarch64-linux-gnu/odbc', '/usr/lib/odbc', '/usr/local/lib'];
  for (const d of dirs) {
    const f = path.join(d, 'libsqlite3odbc.so');
    if (fs.existsSync(f)) return f;
  }
  return null;
}

export function loadOdbcForTests(): OdbcModule | null {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require('odbc') as OdbcModule;
  } catch {
    return null;
  }
}

export interface Mirror {
  dir: string;
  file: string;
  connectionString: string;
  conn: OdbcConnection;
  cleanup(): Promise<void>;
}

export async function createMirror(
  odbc: OdbcModule,
  fx: Record<string, MdbTable>,
  v: MirrorVariant = {},
  withData = true,
): Promise<Mirror> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pf-att2000-'));
  const file = path.join(dir, 'att2000.db');
  const connectionString = `Driver=${sqliteDriver()};Database=${file}`;
  const conn = await odbc.connect(connectionString);
  for (const s of mirrorDdl(fx, v)) await conn.query(s);
  if (withData) {
    await conn.beginTransaction(); // one commit instead of ~80 (SQLite fsyncs per commit)
    for (const s of fixtureInserts(fx, v)) await conn.query(s);
    await conn.commit();
  }
  return {
    dir,
    file,
    connectionString,
    conn,
    async cleanup() {
      await conn.close().catch(() => undefined);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
