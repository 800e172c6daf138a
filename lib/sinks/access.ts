/**
 * ZKTime's att2000.mdb as a target (docs/targets.md §2–§3): punches go into CHECKINOUT the way ZKTime writes them,
 * through ODBC with literal SQL (access-sql.ts says why). `odbc` is an optional dependency, loaded only when
 * an Access target is opened. Production runs on Windows with the Microsoft Access driver; the tests run the
 * same writer through unixODBC + the SQLite ODBC driver on an att2000-shaped schema (dialect 'sqlite').
 */
import type { AttendanceRecord } from '../record';
import { RejectedRecord, Sink, SinkError, SinkLogger, SinkWriteResult } from './types';
import { ParkingLot } from './access-park';
import { SerialWrites, chunk, keyOf } from './sql';
import {
  BadgeMap,
  BadgeMatch,
  CheckinoutLayout,
  DEFAULT_CHECKTYPE_MAP,
  LiteralError,
  MachinesLayout,
  UserinfoLayout,
  buildBadgeQuery,
  buildCheckinoutInsert,
  buildExistingKeysQueries,
  buildMachinesQuery,
  buildUserInsert,
  checkTypeFor,
  checkinoutLayout,
  foldBadge,
  machinesLayout,
  readTime,
  sqlText,
  toDiscovered,
  userinfoLayout,
  wallClock,
} from './access-sql';

// ---- the part of node-odbc we use (declared here: the package is optional, its types may be absent) ----

export interface OdbcResult extends Array<Record<string, unknown>> {
  count?: number;
}
export interface OdbcConnection {
  query(sql: string): Promise<OdbcResult>;
  columns(
    catalog: string | null,
    schema: string | null,
    table: string,
    column: string | null,
  ): Promise<Record<string, unknown>[]>;
  beginTransaction(): Promise<void>;
  commit(): Promise<void>;
  rollback(): Promise<void>;
  close(): Promise<void>;
}
export interface OdbcModule {
  connect(connectionString: string): Promise<OdbcConnection>;
}

/**
 * Loads `odbc` on demand. `req` is for tests (a missing module); a missing or unbuildable package becomes an
 * error that says what to install.
 */
export function loadOdbc(req: (id: string) => unknown = require): OdbcModule {
  try {
    return req('odbc') as OdbcModule;
  } catch (err) {
    const why = (err as Error).message.split('\n')[0];
    throw new SinkError(
      'the Access target needs the optional package "odbc": run `npm install odbc` in the Node-RED user directory ' +
        '(Linux builds it from source: install unixodbc-dev, g++, make and python3 first; on Windows also install the ' +
        `64-bit Microsoft Access Database Engine). Loading it failed: ${why}`,
      false,
      'access',
    );
  }
}

// ---- options ----

export interface AccessSinkOptions {
  /** Path to att2000.mdb; builds the Microsoft Access driver connection string. */
  file?: string;
  /** A full ODBC connection string instead of `file` (e.g. `Driver=SQLite3;Database=…` in tests). */
  connectionString?: string;
  /** Database password (Node-RED credential), appended as PWD. */
  password?: string;
  /** 'access' (default; @@IDENTITY) or 'sqlite' (tests; last_insert_rowid()). Guessed from the driver name when unset. */
  dialect?: 'access' | 'sqlite';
  /**
   * Unknown badge: 'error' (default, to the error output), 'create' (insert the USERINFO row), or 'park' (keep
   * the punch in `parkFile` and write it once ZKTime has the user; after `parkDays` to the error output).
   */
  unknownBadge?: 'error' | 'create' | 'park';
  /** Where parked punches are kept (required for 'park'; the node uses its user directory). */
  parkFile?: string;
  /** Days a parked punch waits for its user before going to the error output. Default 7. */
  parkDays?: number;
  /** With punches parked, the badge map is re-read at least this often (on the next batch). Default 60,000 ms. */
  parkRetryMs?: number;
  /** The sink's clock (parking, the USERINFO and Machines re-reads); tests inject one. */
  now?: () => number;
  /** How PINs match Badgenumber after an exact miss. Default 'exact'. */
  badgeMatch?: BadgeMatch;
  /** Width for badgeMatch 'zero-pad'. Default 9. */
  badgePadWidth?: number;
  /** State → CHECKTYPE letter; entries override DEFAULT_CHECKTYPE_MAP. */
  checkTypeMap?: Record<number, string>;
  /** Letter for states the map lacks (counted as warnings). Default 'I'. */
  unknownStateCheckType?: string;
  /** Device serial → ZKTime machine number (SENSORID); first choice before the Machines table. */
  machineNumbers?: Record<string, number>;
  /** How often a serial missing from Machines may trigger a re-read of Machines. Default 60,000 ms. */
  machinesRefreshMs?: number;
  /** Used when neither the map nor the Machines table knows the device (a warning each time). Default 1. */
  defaultMachineNumber?: number;
  /** UserExtFmt to write; null (default) leaves the column default (0). */
  userExtFmt?: number | null;
  /** Records per transaction, 1 to 1,000. Default 500. */
  maxBatch?: number;
  /** Module loader override (tests). */
  odbc?: OdbcModule;
}

export interface AccessSinkStats {
  /** Records whose state had no CHECKTYPE letter (the fallback was written). */
  unknownStates: number;
  /** Records written with the default machine number. */
  defaultMachineNumbers: number;
  /** Same user and second on two devices: ZKTime's key keeps only the first (docs/targets.md §2.6). */
  keyCollisions: number;
  usersCreated: number;
  /** Punches waiting in the parking lot now. */
  parked: number;
}

export interface AccessSink extends Sink {
  readonly stats: AccessSinkStats;
}

// ---- error classification ----

interface OdbcErrorInfo {
  state?: string;
  code?: number;
  message?: string;
}
function odbcErrors(err: unknown): OdbcErrorInfo[] {
  const list = (err as { odbcErrors?: unknown } | null)?.odbcErrors;
  return Array.isArray(list) ? (list as OdbcErrorInfo[]) : [];
}
function errText(err: unknown): string {
  const base = err instanceof Error ? err.message : String(err);
  const details = odbcErrors(err).map((e) => `${e.state ?? ''} ${e.message ?? ''}`.trim());
  return details.length ? `${base}: ${details.join('; ')}` : base;
}

export type AccessErrorClass = 'duplicate' | 'transient' | 'data' | 'config';

/** Jet: "could not update; currently locked", "file already in use", "could not lock"; SQLite: "database is locked". */
function isLockOrLink(err: unknown): boolean {
  return (
    /locked|already in use|could not lock|busy|timeout|communication link/i.test(errText(err)) ||
    odbcErrors(err).some((e) => e.state === 'HYT00' || e.state === '08S01')
  );
}

export function classifyOdbcError(err: unknown): AccessErrorClass {
  const errs = odbcErrors(err);
  const text = errText(err);
  if (/duplicate values|UNIQUE constraint failed|duplicate key|PRIMARY KEY must be unique/i.test(text))
    return 'duplicate';
  if (errs.some((e) => e.state === '23000') && !/null|required|related record/i.test(text)) return 'duplicate';
  if (isLockOrLink(err)) return 'transient';
  if (
    /Can't open lib|Data source name not found|IM00\d|could not find file|not a valid path|no such table|disk or network error/i.test(
      text,
    ) ||
    errs.some((e) => /^IM/.test(e.state ?? ''))
  )
    return 'config';
  if (
    errs.some((e) => /^22/.test(e.state ?? '')) ||
    /constraint failed|cannot contain a Null|data type mismatch|too (long|large)/i.test(text)
  )
    return 'data';
  return 'transient';
}

/**
 * For the delivery loop's isolation rule: driver, file, lock and link problems are outages; any other error
 * (the driver answered, and every message of the Access driver names the driver) may be about a record.
 */
export function accessFailureScope(err: unknown): 'outage' | 'records' {
  if (err instanceof LiteralError) return 'outage'; // an identifier from the database: the file, not a record
  const cls = classifyOdbcError(err);
  return cls === 'config' || (cls === 'transient' && isLockOrLink(err)) ? 'outage' : 'records';
}

// ---- the sink ----

/** A record whose literals (all but USERID) are checked: anything a column cannot hold is rejected before the transaction. */
interface Pending {
  record: AttendanceRecord;
  checkTime: string;
  checkType: string;
  sensorId: string;
}

/** A pending record with the USERID its badge resolved to. */
interface Resolved extends Pending {
  userId: number;
  badge: string;
}

/** CHECKINOUT's real key: (USERID, CHECKTIME); the device is not part of it. */
const checkinoutKey = (userId: number, checkTime: string): string => keyOf(userId, checkTime);

/**
 * The sink in steps: open (connect, discover the tables, read badges and machines, open the parking lot), then
 * per chunk: refresh the lookups, take back parked punches whose user exists now, check the literals, and in one
 * transaction resolve badges (creating users if configured), dedupe on the real key, pre-select the keys that
 * exist, insert the rest; after the commit, settle the parking lot.
 */
class Att2000Sink implements AccessSink {
  readonly target = 'access' as const;
  readonly stats: AccessSinkStats = {
    unknownStates: 0,
    defaultMachineNumbers: 0,
    keyCollisions: 0,
    usersCreated: 0,
    parked: 0,
  };
  private readonly connectionString: string;
  private readonly identitySql: string;
  private readonly checkTypes: Record<number, string>;
  private readonly fallbackType: string;
  private readonly maxBatch: number;
  private readonly parking: boolean;
  private readonly parkMaxAgeMs: number;
  private readonly parkRetryMs: number;
  private readonly now: () => number;
  private readonly writes = new SerialWrites();

  private lot: ParkingLot | null = null;
  private badgesLoadedAt = 0;
  /** Duplicate-badge warnings already given (the map is re-read often while punches are parked). */
  private readonly warnedDupes = new Set<string>();
  private conn: OdbcConnection | null = null;
  private checkinout: CheckinoutLayout | null = null;
  private userinfo: UserinfoLayout | null = null;
  private machines: MachinesLayout | null = null;
  private badges: BadgeMap;
  /** serial → MachineNumber from the Machines table (null: ambiguous). */
  private bySn = new Map<string, number | null>();
  private byIp = new Map<string, number | null>();
  private machinesLoadedAt = 0;

  constructor(
    private readonly options: AccessSinkOptions,
    private readonly logger?: SinkLogger,
  ) {
    this.connectionString = buildConnectionString(options);
    const dialect = options.dialect ?? (/sqlite/i.test(this.connectionString) ? 'sqlite' : 'access');
    this.identitySql = dialect === 'sqlite' ? 'SELECT last_insert_rowid() AS id' : 'SELECT @@IDENTITY AS id';
    this.checkTypes = { ...DEFAULT_CHECKTYPE_MAP, ...(options.checkTypeMap ?? {}) };
    this.fallbackType = options.unknownStateCheckType ?? 'I';
    this.maxBatch = options.maxBatch ?? 500;
    // Bounded: every record of a chunk is one statement in one Jet transaction, and the existing-keys query lists its users.
    if (!Number.isInteger(this.maxBatch) || this.maxBatch < 1 || this.maxBatch > 1000) {
      throw new SinkError(
        `Access: maxBatch must be a whole number from 1 to 1000 (got ${JSON.stringify(this.maxBatch)})`,
        false,
        'access',
        'outage',
      );
    }
    this.parking = options.unknownBadge === 'park';
    if (this.parking && !options.parkFile)
      throw new SinkError(
        'Access: unknown badge policy "park" needs a file for the parked punches (parkFile)',
        false,
        'access',
      );
    this.parkMaxAgeMs = Math.max(0, options.parkDays ?? 7) * 86_400_000;
    this.parkRetryMs = Math.max(0, options.parkRetryMs ?? 60_000);
    this.now = options.now ?? Date.now;
    this.badges = new BadgeMap(options.badgeMatch ?? 'exact', options.badgePadWidth ?? 9);
  }

  held(): number {
    return this.stats.parked;
  }

  write(batch: AttendanceRecord[]): Promise<SinkWriteResult> {
    return this.writes.run(() => this.writeBatch(batch));
  }

  async close(): Promise<void> {
    await this.writes.idle();
    await this.drop();
  }

  private fail(err: unknown, where: string): SinkError {
    if (err instanceof SinkError) return err;
    const cls = err instanceof LiteralError ? 'config' : classifyOdbcError(err);
    let hint = '';
    if (cls === 'config') hint = '; check the ODBC driver, the file path and that the file is an att2000.mdb';
    // Driver, file and lock problems hold the records; only single records are ever rejected.
    return new SinkError(`Access ${where}: ${errText(err)}${hint}`, false, 'access', accessFailureScope(err));
  }

  // ---- open and discover ----

  async open(): Promise<void> {
    if (this.conn) return;
    if (/Microsoft Access Driver/i.test(this.connectionString) && process.platform !== 'win32') {
      throw new SinkError(
        'Access target needs Windows ODBC: the Microsoft Access driver exists only on Windows',
        false,
        'access',
      );
    }
    const odbc = this.options.odbc ?? loadOdbc();
    let c: OdbcConnection;
    try {
      c = await odbc.connect(this.connectionString);
    } catch (err) {
      throw this.fail(err, 'connect');
    }
    let checkinout: CheckinoutLayout;
    try {
      checkinout = await this.discover(c);
    } catch (err) {
      await c.close().catch(() => undefined);
      throw this.fail(err, 'open');
    }
    this.conn = c;
    this.logger?.('info', `Access: ${this.badges.size} badges, CHECKINOUT columns ${describeLayout(checkinout)}`);
  }

  /** The three tables' layouts, the badge and machine lookups, and the parking lot. */
  private async discover(c: OdbcConnection): Promise<CheckinoutLayout> {
    const checkinout = checkinoutLayout('CHECKINOUT', toDiscovered(await c.columns(null, null, 'CHECKINOUT', null)));
    this.checkinout = checkinout;
    this.userinfo = userinfoLayout('USERINFO', toDiscovered(await c.columns(null, null, 'USERINFO', null)));
    const mcols = toDiscovered(await c.columns(null, null, 'Machines', null));
    this.machines = mcols.length ? machinesLayout('Machines', mcols) : null;
    await this.loadBadges(c);
    await this.loadMachines(c);
    if (this.parking && !this.lot) {
      this.lot = await ParkingLot.open(this.options.parkFile!, (message) =>
        this.logger?.('warn', `Access: ${message}`),
      );
      this.stats.parked = this.lot.size;
      if (this.lot.size > 0) this.logger?.('info', `Access: ${this.lot.size} parked punches wait for their users`);
    }
    return checkinout;
  }

  private async loadBadges(c: OdbcConnection): Promise<void> {
    const next = new BadgeMap(this.badges.mode, this.badges.width);
    for (const r of await c.query(buildBadgeQuery(this.userinfo!))) {
      if (r.badge === null || r.badge === undefined) continue;
      next.add(String(r.badge), Number(r.uid));
    }
    this.badges = next;
    this.badgesLoadedAt = this.now();
    for (const d of next.duplicates()) {
      const text = `badge ${JSON.stringify(d.badge)} is on ${d.userIds.length} USERINFO rows (USERID ${d.userIds.join(', ')}): punches go to USERID ${d.chosen}`;
      if (this.warnedDupes.has(text)) continue;
      this.warnedDupes.add(text);
      this.logger?.(
        'warn',
        `Access: ${text}; Jet compares badges without regard to case, so fix the duplicates in ZKTime`,
      );
    }
  }

  private async loadMachines(c: OdbcConnection): Promise<void> {
    const sn = new Map<string, number | null>();
    const ip = new Map<string, number | null>();
    const put = (m: Map<string, number | null>, k: unknown, n: number): void => {
      if (typeof k !== 'string' || k === '') return;
      const prev = m.get(k);
      m.set(k, prev === undefined || prev === n ? n : null); // two machines, two numbers: do not guess
    };
    if (this.machines) {
      for (const r of await c.query(buildMachinesQuery(this.machines))) {
        const n = Number(r.m_num);
        if (!Number.isSafeInteger(n)) continue;
        put(sn, r.m_sn, n);
        put(ip, r.m_ip, n);
      }
    }
    this.bySn = sn;
    this.byIp = ip;
    this.machinesLoadedAt = this.now();
  }

  private machineNumber(r: AttendanceRecord): { num: number; fromDefault: boolean } | null {
    const mapped = this.options.machineNumbers?.[r.deviceSn];
    if (mapped !== undefined) return { num: mapped, fromDefault: false };
    const s = this.bySn.get(r.deviceSn);
    if (typeof s === 'number') return { num: s, fromDefault: false };
    const host = r.deviceHost ? r.deviceHost.replace(/:\d+$/, '').replace(/^\[|\]$/g, '') : null;
    const i = host ? this.byIp.get(host) : undefined;
    if (typeof i === 'number') return { num: i, fromDefault: false };
    return null;
  }

  // ---- write ----

  private async writeBatch(batch: AttendanceRecord[]): Promise<SinkWriteResult> {
    await this.open();
    const c = this.conn!;
    const total: SinkWriteResult = { inserted: 0, duplicates: 0, rejected: [] as RejectedRecord[] };
    try {
      let first = true;
      for (const part of chunk(batch, this.maxBatch)) {
        const r = await this.writeChunk(c, part, first);
        first = false;
        total.inserted += r.inserted;
        total.duplicates += r.duplicates;
        total.rejected.push(...r.rejected);
        if (r.parked) total.parked = (total.parked ?? 0) + r.parked;
      }
    } catch (err) {
      // A broken connection is reopened on the next batch; locks and the rest retry on the same one.
      if (err instanceof SinkError && /08S01|communication link|connection/i.test(err.message)) await this.drop();
      throw err;
    }
    return total;
  }

  private async writeChunk(
    c: OdbcConnection,
    incoming: AttendanceRecord[],
    retryParked: boolean,
  ): Promise<SinkWriteResult> {
    const result: SinkWriteResult = { inserted: 0, duplicates: 0, rejected: [] };
    const parkedWaiting = retryParked && this.lot !== null && this.lot.size > 0;
    const usersRead = await this.refreshLookups(c, incoming, parkedWaiting);
    const { batch, unparked } =
      parkedWaiting && usersRead ? this.unpark(incoming, result) : { batch: incoming, unparked: [] };
    const pending = this.checkLiterals(batch, result);
    if (pending.length === 0) {
      await this.settleParking([], unparked);
      return result;
    }

    try {
      await c.beginTransaction();
    } catch (err) {
      throw this.fail(err, 'begin transaction');
    }
    const toPark: AttendanceRecord[] = [];
    const created = new Map<string, number>();
    try {
      const resolved = await this.resolveBadges(c, pending, result, toPark, created);
      const todo = this.dedupeOnKey(resolved, result);
      const existing = await this.existingKeys(c, todo);
      await this.insertNew(c, todo, existing, result);
      await c.commit();
    } catch (err) {
      await c.rollback().catch(() => undefined);
      throw this.fail(err, 'write CHECKINOUT');
    }
    for (const [b, id] of created) this.badges.add(b, id);
    this.stats.usersCreated += created.size;
    await this.settleParking(toPark, unparked);
    if (toPark.length > 0) {
      result.parked = toPark.length;
      this.logger?.(
        'warn',
        `Access: parked ${toPark.length} punches with unknown badges (${[...new Set(toPark.map((r) => JSON.stringify(r.userId)))].slice(0, 5).join(', ')}) until ZKTime has the users`,
      );
    }
    return result;
  }

  /**
   * Re-reads the badge map (ZKTime may have enrolled someone) and Machines at most once per chunk; with punches
   * parked, the badge map also when it is older than parkRetryMs. Returns whether the badge map was re-read.
   */
  private async refreshLookups(
    c: OdbcConnection,
    incoming: AttendanceRecord[],
    parkedWaiting: boolean,
  ): Promise<boolean> {
    const needsUsers =
      incoming.some((r) => !this.badges.lookup(r.userId)) ||
      (parkedWaiting && this.now() - this.badgesLoadedAt >= this.parkRetryMs);
    // A serial missing from Machines.sn re-reads Machines (ZKTime may have added the device), at most once per machinesRefreshMs.
    const needsMachines =
      this.now() - this.machinesLoadedAt >= (this.options.machinesRefreshMs ?? 60_000) &&
      incoming.some(
        (r) => this.options.machineNumbers?.[r.deviceSn] === undefined && typeof this.bySn.get(r.deviceSn) !== 'number',
      );
    try {
      if (needsUsers) await this.loadBadges(c);
      if (needsMachines) await this.loadMachines(c);
    } catch (err) {
      throw this.fail(err, 'refresh USERINFO/Machines');
    }
    return needsUsers;
  }

  /** Parked punches whose user exists now join the chunk; the ones that waited too long go to the error output. */
  private unpark(
    incoming: AttendanceRecord[],
    result: SinkWriteResult,
  ): { batch: AttendanceRecord[]; unparked: string[] } {
    let batch = incoming;
    const unparked: string[] = [];
    const { ready, expired } = this.lot!.sort(
      (r) => this.badges.lookup(r.userId) !== null,
      this.now(),
      this.parkMaxAgeMs,
    );
    for (const e of expired) {
      result.rejected.push({
        record: e.record,
        reason: `unknown badge ${JSON.stringify(e.record.userId)} from device ${e.record.deviceSn}: still no USERINFO row after ${this.options.parkDays ?? 7} days parked (since ${e.parkedAt})`,
      });
      unparked.push(e.record.id);
    }
    if (ready.length > 0) {
      batch = [...ready.map((e) => e.record), ...incoming];
      for (const e of ready) unparked.push(e.record.id);
      this.logger?.('info', `Access: ${ready.length} parked punches have their users now; writing them`);
    }
    return { batch, unparked };
  }

  /** The values that do not depend on USERID, every literal checked now; a record that fails is rejected. */
  private checkLiterals(batch: AttendanceRecord[], result: SinkWriteResult): Pending[] {
    const l = this.checkinout!;
    const u = this.userinfo!;
    const pending: Pending[] = [];
    for (const r of batch) {
      try {
        const checkTime = wallClock(r.localTime, 'localTime');
        const ct = checkTypeFor(r.state, this.checkTypes, this.fallbackType);
        if (!ct.known) {
          this.stats.unknownStates++;
          this.logger?.(
            'warn',
            `Access: state ${r.state} has no CHECKTYPE letter; wrote ${JSON.stringify(ct.letter)}`,
            { deviceSn: r.deviceSn },
          );
        }
        let m = this.machineNumber(r);
        if (!m) {
          m = { num: this.options.defaultMachineNumber ?? 1, fromDefault: true };
          this.stats.defaultMachineNumbers++;
          this.logger?.(
            'warn',
            `Access: device ${r.deviceSn} is not in Machines nor in the machine number map; SENSORID ${m.num} written`,
          );
        }
        const sensorId = String(m.num);
        // Validate every literal now (lengths, characters, statement size) with a placeholder USERID.
        buildCheckinoutInsert(l, u, {
          userId: 0,
          checkTime,
          checkType: ct.letter,
          verifyCode: r.verify,
          sensorId,
          sn: r.deviceSn,
          workCode: r.workCode,
          userExtFmt: this.options.userExtFmt ?? null,
        });
        sqlText(r.userId, u.badge.size, 'userId');
        pending.push({ record: r, checkTime, checkType: ct.letter, sensorId });
      } catch (err) {
        if (err instanceof LiteralError)
          result.rejected.push({
            record: r,
            reason: `${err.message} (device ${r.deviceSn}, user ${JSON.stringify(r.userId)})`,
          });
        else throw err;
      }
    }
    return pending;
  }

  /**
   * USERIDs for the badges, inside the transaction. An unknown badge is parked, rejected, or (policy 'create')
   * gets a USERINFO row, whose USERID is kept in `created` until the commit.
   */
  private async resolveBadges(
    c: OdbcConnection,
    pending: Pending[],
    result: SinkWriteResult,
    toPark: AttendanceRecord[],
    created: Map<string, number>,
  ): Promise<Resolved[]> {
    const out: Resolved[] = [];
    for (const p of pending) {
      const made = created.get(foldBadge(p.record.userId));
      let hit =
        this.badges.lookup(p.record.userId) ?? (made !== undefined ? { userId: made, badge: p.record.userId } : null);
      if (!hit) {
        if (this.parking) {
          toPark.push(p.record);
          continue;
        }
        if (this.options.unknownBadge !== 'create') {
          result.rejected.push({
            record: p.record,
            reason: `unknown badge ${JSON.stringify(p.record.userId)} from device ${p.record.deviceSn}: no USERINFO row with this Badgenumber`,
          });
          continue;
        }
        const id = await this.createUser(c, p.record.userId);
        created.set(foldBadge(p.record.userId), id);
        hit = { userId: id, badge: p.record.userId };
      }
      out.push({ ...p, userId: hit.userId, badge: hit.badge });
    }
    return out;
  }

  private async createUser(c: OdbcConnection, badge: string): Promise<number> {
    await c.query(buildUserInsert(this.userinfo!, badge, badge));
    const idRows = await c.query(this.identitySql);
    const id = Number(idRows[0]?.id);
    if (!Number.isSafeInteger(id) || id <= 0) throw new Error(`could not read the new USERID (${this.identitySql})`);
    this.logger?.('info', `Access: created USERINFO ${id} for badge ${JSON.stringify(badge)}`);
    return id;
  }

  /** Keeps the first record of each (USERID, CHECKTIME); a second one from another device is a key collision. */
  private dedupeOnKey(resolved: Resolved[], result: SinkWriteResult): Resolved[] {
    const firstByKey = new Map<string, Resolved>();
    const todo: Resolved[] = [];
    for (const p of resolved) {
      const key = checkinoutKey(p.userId, p.checkTime);
      const first = firstByKey.get(key);
      if (first) {
        result.duplicates++;
        if (first.record.deviceSn !== p.record.deviceSn) {
          this.stats.keyCollisions++;
          this.logger?.(
            'warn',
            `Access: user ${p.record.userId} punched at ${p.checkTime} on ${first.record.deviceSn} and ${p.record.deviceSn}; ZKTime's key keeps only the first`,
          );
        }
        continue;
      }
      firstByKey.set(key, p);
      todo.push(p);
    }
    return todo;
  }

  /** The keys CHECKINOUT already has in the chunk's window: re-sends then cost one query, not one failed insert per row. */
  private async existingKeys(c: OdbcConnection, todo: Resolved[]): Promise<Set<string>> {
    const existing = new Set<string>();
    if (todo.length === 0) return existing;
    const times = todo.map((p) => p.checkTime).sort();
    for (const sql of buildExistingKeysQueries(
      this.checkinout!,
      todo.map((p) => p.userId),
      times[0],
      times[times.length - 1],
    )) {
      for (const r of await c.query(sql)) existing.add(checkinoutKey(Number(r.uid), String(readTime(r.ct))));
    }
    return existing;
  }

  /** One lookup + NOT EXISTS + insert statement per new record. */
  private async insertNew(
    c: OdbcConnection,
    todo: Resolved[],
    existing: Set<string>,
    result: SinkWriteResult,
  ): Promise<void> {
    for (const p of todo) {
      if (existing.has(checkinoutKey(p.userId, p.checkTime))) {
        result.duplicates++;
        continue;
      }
      const sql = buildCheckinoutInsert(this.checkinout!, this.userinfo!, {
        userId: p.userId,
        checkTime: p.checkTime,
        checkType: p.checkType,
        verifyCode: p.record.verify,
        sensorId: p.sensorId,
        sn: p.record.deviceSn,
        workCode: p.record.workCode,
        userExtFmt: this.options.userExtFmt ?? null,
      });
      try {
        const res = await c.query(sql);
        if ((res.count ?? 0) > 0) result.inserted++;
        else result.duplicates++; // ZKTime wrote the same key meanwhile (or the user vanished)
      } catch (err) {
        const cls = classifyOdbcError(err);
        if (cls === 'duplicate') result.duplicates++;
        else if (cls === 'data')
          result.rejected.push({ record: p.record, reason: `Access rejected the record: ${errText(err)}` });
        else throw err;
      }
    }
  }

  /**
   * After the commit: the parking lot gains this batch's unknown badges and loses what was written or given
   * up. If that fails the batch is retried whole (the rows already written come back as duplicates).
   */
  private async settleParking(add: AttendanceRecord[], remove: string[]): Promise<void> {
    const lot = this.lot;
    if (!lot || (add.length === 0 && remove.length === 0)) return;
    try {
      await lot.update(add, remove, this.now());
    } catch (err) {
      throw new SinkError(
        `Access: cannot save parked punches to ${lot.file}: ${(err as Error).message}`,
        false,
        'access',
        'outage',
      );
    }
    this.stats.parked = lot.size;
  }

  private async drop(): Promise<void> {
    const c = this.conn;
    this.conn = null;
    if (c) await c.close().catch(() => undefined);
  }
}

export function createAccessSink(options: AccessSinkOptions, logger?: SinkLogger): AccessSink {
  return new Att2000Sink(options, logger);
}

function describeLayout(l: CheckinoutLayout): string {
  const cols = [l.userId, l.checkTime, l.checkType, l.verifyCode, l.sensorId, l.sn, l.workCode, l.userExtFmt]
    .filter((c) => c)
    .map((c) => c!.name);
  return cols.join(', ') + (l.workCode ? ` (WorkCode ${l.workCode.kind})` : '');
}

/** The Access driver connection string for a file; characters that would end the attribute are refused. */
export function buildConnectionString(o: AccessSinkOptions): string {
  let cs: string;
  if (o.connectionString) cs = o.connectionString;
  else if (o.file) {
    if (/[;{}]/.test(o.file))
      throw new SinkError(
        `Access: the file path ${JSON.stringify(o.file)} contains ; { or }, which ODBC cannot take`,
        false,
        'access',
      );
    cs = `Driver={Microsoft Access Driver (*.mdb, *.accdb)};DBQ=${o.file};`;
  } else throw new SinkError('Access: configure the att2000.mdb file or an ODBC connection string', false, 'access');
  if (o.password) {
    const sep = cs.endsWith(';') ? '' : ';';
    // Braces quote a value holding ; { } (a } inside is doubled).
    cs += /[;{}]/.test(o.password) ? `${sep}PWD={${o.password.replace(/}/g, '}}')}};` : `${sep}PWD=${o.password};`;
  }
  return cs;
}
