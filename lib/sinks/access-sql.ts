/**
 * Literal Jet SQL for ZKTime's att2000.mdb (docs/targets.md §2, §3). The Access ODBC driver cannot describe `?`
 * parameters (node-odbc needs SQLDescribeParam, a Level 2 function the desktop drivers lack) and rejects the
 * BIGINT binding node-odbc uses for JS numbers, so every value is written as a strictly checked literal:
 * integers must be safe integers, text has its `'` doubled (Jet has no backslash escapes) and may not hold control
 * characters or exceed the column, times are validated calendar values in `{ts '…'}`, and identifiers come only
 * from the columns the database reported. Everything here is pure, so it is tested without a database.
 *
 * The driver's documented string limits hold too: no `|` in a text value (it cannot be used in a string,
 * quoted or not) and no statement longer than 65,000 characters. Either would fail on every retry, so they
 * are refused here, before anything is sent.
 */
import { chunk, dateTimeParts, hasLoneSurrogate, isCalendarTime, isSqlIdentifier, sqlDateTimeText } from './sql';

export class LiteralError extends Error {}

/** Jet identifiers: the same plain-name rule as the other targets (sql.ts); brackets are then safe. */
export function quoteIdent(name: string): string {
  if (!isSqlIdentifier(name, 'access'))
    throw new LiteralError(`identifier ${JSON.stringify(name)} is not a plain name`);
  return `[${name}]`;
}

export function sqlInt(n: unknown, what: string, min = -2147483648, max = 2147483647): string {
  if (typeof n !== 'number' || !Number.isSafeInteger(n))
    throw new LiteralError(`${what}: ${JSON.stringify(n)} is not an integer`);
  if (n < min || n > max) throw new LiteralError(`${what}: ${n} is outside ${min}..${max}`);
  return String(n);
}

// eslint-disable-next-line no-control-regex -- the control characters a literal may not carry
const CONTROL = /[\u0000-\u001f\u007f]/;
/** The Microsoft Access driver's statement limit (characters). */
export const MAX_STATEMENT_CHARS = 65_000;

function checkLength(sql: string, what: string): string {
  if (sql.length > MAX_STATEMENT_CHARS)
    throw new LiteralError(
      `${what}: statement of ${sql.length} characters, the Access driver takes ${MAX_STATEMENT_CHARS}`,
    );
  return sql;
}

/** A text literal, or a LiteralError: rejected rather than truncated or silently changed. */
export function sqlText(s: unknown, maxLength: number | null, what: string): string {
  if (typeof s !== 'string') throw new LiteralError(`${what}: not text`);
  if (CONTROL.test(s)) throw new LiteralError(`${what}: contains a control character`);
  if (s.includes('|'))
    throw new LiteralError(`${what}: contains | (the Access ODBC driver cannot take a | in a text value)`);
  if (hasLoneSurrogate(s)) throw new LiteralError(`${what}: contains an unpaired surrogate`);
  if (maxLength !== null && s.length > maxLength)
    throw new LiteralError(`${what}: ${s.length} characters, the column holds ${maxLength}`);
  return `'${s.replace(/'/g, "''")}'`;
}

/** 'YYYY-MM-DD[T ]HH:MM:SS' that is a real calendar time → 'YYYY-MM-DD HH:MM:SS'. */
export function wallClock(s: unknown, what: string): string {
  const p = typeof s === 'string' && s.length === 19 ? dateTimeParts(s, true) : null;
  if (!p) throw new LiteralError(`${what}: ${JSON.stringify(s)} is not YYYY-MM-DD HH:MM:SS`);
  if (!isCalendarTime(p, 1900)) throw new LiteralError(`${what}: ${s as string} is not a real date and time`);
  return sqlDateTimeText(s as string);
}

export function sqlTimestamp(s: unknown, what: string): string {
  return `{ts '${wallClock(s, what)}'}`;
}

/** Normalises a time read back through ODBC ('2024-01-02 03:04:05[.000]', or a Date whose UTC fields hold it). */
export function readTime(v: unknown): string | null {
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? null : v.toISOString().slice(0, 19).replace('T', ' ');
  if (typeof v !== 'string') return null;
  const m = /^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}:\d{2})/.exec(v);
  return m ? `${m[1]} ${m[2]}` : null;
}

// ---- columns as discovered through SQLColumns ----

export type ColumnKind = 'text' | 'int' | 'time' | 'other';

export interface DiscoveredColumn {
  name: string;
  kind: ColumnKind;
  /** Characters for text columns, else null. */
  size: number | null;
}

/** ODBC SQL data type codes → the kinds the writer distinguishes. */
export function kindOf(dataType: number): ColumnKind {
  switch (dataType) {
    case 1:
    case 12:
    case -1:
    case -8:
    case -9:
    case -10: // CHAR VARCHAR LONGVARCHAR WCHAR WVARCHAR WLONGVARCHAR
      return 'text';
    case 4:
    case 5:
    case -6:
    case -5: // INTEGER SMALLINT TINYINT BIGINT
      return 'int';
    case 9:
    case 11:
    case 93: // DATE TIMESTAMP (ODBC 2 and 3)
      return 'time';
    default:
      return 'other';
  }
}

export function toDiscovered(rows: Record<string, unknown>[]): DiscoveredColumn[] {
  return rows
    .slice()
    .sort((a, b) => Number(a.ORDINAL_POSITION ?? 0) - Number(b.ORDINAL_POSITION ?? 0))
    .map((r) => {
      const kind = kindOf(Number(r.DATA_TYPE));
      const size = Number(r.COLUMN_SIZE);
      // Memo/LONGVARCHAR report huge or 0 sizes: treat as unlimited text.
      return { name: String(r.COLUMN_NAME), kind, size: kind === 'text' && size > 0 && size < 65536 ? size : null };
    });
}

export interface CheckinoutLayout {
  table: string;
  userId: DiscoveredColumn;
  checkTime: DiscoveredColumn;
  checkType?: DiscoveredColumn;
  verifyCode?: DiscoveredColumn;
  sensorId?: DiscoveredColumn;
  sn?: DiscoveredColumn;
  workCode?: DiscoveredColumn;
  userExtFmt?: DiscoveredColumn;
  memoinfo?: DiscoveredColumn;
}

export interface UserinfoLayout {
  table: string;
  userId: DiscoveredColumn;
  badge: DiscoveredColumn;
  name?: DiscoveredColumn;
}

export interface MachinesLayout {
  table: string;
  machineNumber: DiscoveredColumn;
  sn?: DiscoveredColumn;
  ip?: DiscoveredColumn;
}

function finder(table: string, cols: DiscoveredColumn[]) {
  const by = new Map(cols.map((c) => [c.name.toLowerCase(), c]));
  return {
    opt: (name: string): DiscoveredColumn | undefined => by.get(name.toLowerCase()),
    req: (name: string, kind: ColumnKind[]): DiscoveredColumn => {
      const c = by.get(name.toLowerCase());
      if (!c) throw new LiteralError(`${table} has no column ${name}: is this a ZKTime att2000 database?`);
      if (!kind.includes(c.kind)) throw new LiteralError(`${table}.${c.name} has an unexpected type (${c.kind})`);
      return c;
    },
  };
}

export function checkinoutLayout(table: string, cols: DiscoveredColumn[]): CheckinoutLayout {
  const f = finder(table, cols);
  const l: CheckinoutLayout = {
    table,
    userId: f.req('USERID', ['int']),
    checkTime: f.req('CHECKTIME', ['time', 'text']),
  };
  const opt = (name: string, kinds: ColumnKind[]): DiscoveredColumn | undefined => {
    const c = f.opt(name);
    return c && kinds.includes(c.kind) ? c : undefined;
  };
  l.checkType = opt('CHECKTYPE', ['text']);
  l.verifyCode = opt('VERIFYCODE', ['int']);
  l.sensorId = opt('SENSORID', ['text', 'int']);
  l.sn = opt('sn', ['text']);
  l.workCode = opt('WorkCode', ['text', 'int']); // Text(24) or Long Integer by ZKTime version
  l.userExtFmt = opt('UserExtFmt', ['int']);
  l.memoinfo = opt('Memoinfo', ['text']);
  return l;
}

export function userinfoLayout(table: string, cols: DiscoveredColumn[]): UserinfoLayout {
  const f = finder(table, cols);
  return { table, userId: f.req('USERID', ['int']), badge: f.req('Badgenumber', ['text']), name: f.opt('Name') };
}

export function machinesLayout(table: string, cols: DiscoveredColumn[]): MachinesLayout {
  const f = finder(table, cols);
  const sn = f.opt('sn');
  const ip = f.opt('IP');
  return {
    table,
    machineNumber: f.req('MachineNumber', ['int']),
    sn: sn?.kind === 'text' ? sn : undefined,
    ip: ip?.kind === 'text' ? ip : undefined,
  };
}

// ---- CHECKTYPE ----

/** ZKTime's usual letters (docs/targets.md §2.5): 0→I, 1→O, 2→0, 3→1, 4→i, 5→o. */
export const DEFAULT_CHECKTYPE_MAP: Readonly<Record<number, string>> = Object.freeze({
  0: 'I',
  1: 'O',
  2: '0',
  3: '1',
  4: 'i',
  5: 'o',
});

export function checkTypeFor(
  state: number,
  map: Readonly<Record<number, string>>,
  fallback: string,
): { letter: string; known: boolean } {
  const letter = map[state];
  return letter === undefined ? { letter: fallback, known: false } : { letter, known: true };
}

// ---- badges ----

export type BadgeMatch = 'exact' | 'strip-zeros' | 'zero-pad';

export function normaliseBadge(badge: string, mode: BadgeMatch, width: number): string {
  if (mode === 'strip-zeros') return badge.replace(/^0+(?=.)/, '');
  if (mode === 'zero-pad') return /^\d+$/.test(badge) ? badge.padStart(width, '0') : badge;
  return badge;
}

/** Jet compares text, and checks unique indexes, without regard to case: `a12b` is the badge `A12B`. */
export const foldBadge = (badge: string): string => badge.toLowerCase();

/**
 * Badgenumber → USERID with an exact index and a normalised one, both by Jet's case rule; ambiguous normal
 * forms resolve to nothing. One badge on several rows (att2000 files without a unique index on it) resolves
 * to the lowest USERID, the first enrolled, and is listed by duplicates().
 */
export class BadgeMap {
  private exact = new Map<string, { userId: number; badge: string }>();
  private normal = new Map<string, { userId: number; badge: string } | null>();
  private dupes = new Map<string, Set<number>>();
  constructor(
    readonly mode: BadgeMatch = 'exact',
    readonly width = 0,
  ) {}
  get size(): number {
    return this.exact.size;
  }
  add(badge: string, userId: number): void {
    const k = foldBadge(badge);
    const prev = this.exact.get(k);
    if (prev && prev.userId !== userId) {
      const all = this.dupes.get(k) ?? new Set([prev.userId]);
      all.add(userId);
      this.dupes.set(k, all);
      if (prev.userId < userId) return;
    }
    const e = { userId, badge };
    this.exact.set(k, e);
    if (this.mode === 'exact') return;
    const n = foldBadge(normaliseBadge(badge, this.mode, this.width));
    const before = this.normal.get(n);
    this.normal.set(
      n,
      before === undefined || before?.userId === userId || (prev && before?.userId === prev.userId) ? e : null,
    );
  }
  /** The user and the database's own spelling of the badge, or null (unknown or ambiguous). */
  lookup(pin: string): { userId: number; badge: string } | null {
    const e = this.exact.get(foldBadge(pin));
    if (e) return e;
    if (this.mode === 'exact') return null;
    return this.normal.get(foldBadge(normaliseBadge(pin, this.mode, this.width))) ?? null;
  }
  /** Badges found on more than one USERINFO row: the spelling used, every USERID, and the one punches go to. */
  duplicates(): { badge: string; userIds: number[]; chosen: number }[] {
    return [...this.dupes].map(([k, ids]) => ({
      badge: this.exact.get(k)!.badge,
      userIds: [...ids].sort((a, b) => a - b),
      chosen: this.exact.get(k)!.userId,
    }));
  }
}

// ---- statements ----

export interface CheckinoutValues {
  /** The USERID the badge resolved to (the insert never looks the badge up again). */
  userId: number;
  checkTime: string;
  checkType: string;
  verifyCode: number;
  sensorId: string;
  sn: string;
  workCode: number;
  /** null: leave the column to its default. */
  userExtFmt: number | null;
}

/**
 * Dedupe + insert in one statement (docs/targets.md §3.5): valid Jet SQL (an append from SELECT needs a real FROM
 * table; USERINFO's row of the resolved USERID is it, exactly one row), and the same text runs on SQLite in the
 * tests. It filters on the USERID already resolved, never on the badge again: a badge on two rows, or spelled in
 * another case, would otherwise insert one row per match. Columns the database does not have are left out;
 * Memoinfo is never written.
 */
export function buildCheckinoutInsert(l: CheckinoutLayout, u: UserinfoLayout, v: CheckinoutValues): string {
  const ts = sqlTimestamp(v.checkTime, 'CHECKTIME');
  const cols: string[] = [quoteIdent(l.userId.name), quoteIdent(l.checkTime.name)];
  const vals: string[] = [`u.${quoteIdent(u.userId.name)}`, ts];
  const add = (c: DiscoveredColumn | undefined, literal: () => string): void => {
    if (!c) return;
    cols.push(quoteIdent(c.name));
    vals.push(literal());
  };
  add(l.checkType, () => sqlText(v.checkType, l.checkType!.size, 'CHECKTYPE'));
  add(l.verifyCode, () => sqlInt(v.verifyCode, 'VERIFYCODE'));
  add(l.sensorId, () =>
    l.sensorId!.kind === 'int'
      ? sqlInt(Number(v.sensorId), 'SENSORID')
      : sqlText(v.sensorId, l.sensorId!.size, 'SENSORID'),
  );
  add(l.sn, () => sqlText(v.sn, l.sn!.size, 'sn'));
  add(l.workCode, () =>
    l.workCode!.kind === 'int'
      ? sqlInt(v.workCode, 'WorkCode')
      : sqlText(String(v.workCode), l.workCode!.size, 'WorkCode'),
  );
  if (v.userExtFmt !== null) add(l.userExtFmt, () => sqlInt(v.userExtFmt, 'UserExtFmt', -32768, 32767));
  const t = quoteIdent(l.table);
  const sql =
    `INSERT INTO ${t} (${cols.join(', ')}) ` +
    `SELECT ${vals.join(', ')} FROM ${quoteIdent(u.table)} u ` +
    `WHERE u.${quoteIdent(u.userId.name)} = ${sqlInt(v.userId, 'USERID')} ` +
    `AND NOT EXISTS (SELECT 1 FROM ${t} c WHERE c.${quoteIdent(l.userId.name)} = u.${quoteIdent(u.userId.name)} AND c.${quoteIdent(l.checkTime.name)} = ${ts})`;
  return checkLength(sql, 'CHECKINOUT insert');
}

/** Existing keys of the batch's users in its time window (never whole tables: node-odbc/#385 memory error). */
export function buildExistingKeysQuery(l: CheckinoutLayout, userIds: number[], from: string, to: string): string {
  const ids = [...new Set(userIds)].map((n) => sqlInt(n, 'USERID')).join(', ');
  return checkLength(
    `SELECT ${quoteIdent(l.userId.name)} AS uid, ${quoteIdent(l.checkTime.name)} AS ct FROM ${quoteIdent(l.table)} ` +
      `WHERE ${quoteIdent(l.checkTime.name)} BETWEEN ${sqlTimestamp(from, 'from')} AND ${sqlTimestamp(to, 'to')} ` +
      `AND ${quoteIdent(l.userId.name)} IN (${ids})`,
    'existing keys query',
  );
}

/** The same, split so no statement passes the driver's limit (an IN list of 2,000 USERIDs is under 25,000 characters). */
export function buildExistingKeysQueries(
  l: CheckinoutLayout,
  userIds: number[],
  from: string,
  to: string,
  perQuery = 2000,
): string[] {
  return chunk([...new Set(userIds)], perQuery).map((ids) => buildExistingKeysQuery(l, ids, from, to));
}

export function buildUserInsert(u: UserinfoLayout, badge: string, name: string): string {
  const cols = [quoteIdent(u.badge.name)];
  const vals = [sqlText(badge, u.badge.size, 'Badgenumber')];
  if (u.name) {
    cols.push(quoteIdent(u.name.name));
    vals.push(sqlText(name, u.name.size, 'Name'));
  }
  return checkLength(
    `INSERT INTO ${quoteIdent(u.table)} (${cols.join(', ')}) VALUES (${vals.join(', ')})`,
    'USERINFO insert',
  );
}

export function buildBadgeQuery(u: UserinfoLayout): string {
  return `SELECT ${quoteIdent(u.userId.name)} AS uid, ${quoteIdent(u.badge.name)} AS badge FROM ${quoteIdent(u.table)}`;
}

/** Aliases that are no column name of Machines: Jet reports "circular reference caused by alias" for some forms of an alias equal to a name. */
export function buildMachinesQuery(m: MachinesLayout): string {
  const cols = [`${quoteIdent(m.machineNumber.name)} AS m_num`];
  if (m.sn) cols.push(`${quoteIdent(m.sn.name)} AS m_sn`);
  if (m.ip) cols.push(`${quoteIdent(m.ip.name)} AS m_ip`);
  return `SELECT ${cols.join(', ')} FROM ${quoteIdent(m.table)}`;
}
