/**
 * ZKTime's att2000.mdb as a target (docs/targets.md §2–§3): punches go into CHECKINOUT the way ZKTime writes them,
 * through ODBC with literal SQL (access-sql.ts says why). `odbc` is an optional dependency, loaded only when
 * an Access target is opened. Production runs on Windows with the Microsoft Access driver; the tests run the
 * same writer through unixODBC + the SQLite ODBC driver on an att2000-shaped schema (dialect 'sqlite').
 */
import type { AttendanceRecord } from '../record';
import { RejectedRecord, Sink, SinkError, SinkLogger, SinkWriteResult } from './types';
import { ParkingLot } from './access-park';
import {
  BadgeMap, BadgeMatch, CheckinoutLayout, DEFAULT_CHECKTYPE_MAP, LiteralError, MachinesLayout, UserinfoLayout,
  buildBadgeQuery, buildCheckinoutInsert, buildExistingKeysQueries, buildMachinesQuery, buildUserInsert, checkTypeFor,
  checkinoutLayout, foldBadge, machinesLayout, readTime, sqlText, toDiscovered, userinfoLayout, wallClock,
} from './access-sql';

// ---- the part of node-odbc we use (declared here: the package is optional, its types may be absent) ----

export interface OdbcResult extends Array<Record<string, unknown>> {
  count?: number;
}
export interface OdbcConnection {
  query(sql: string): Promise<OdbcResult>;
  columns(catalog: string | null, schema: string | null, table: string, column: string | null): Promise<Record<string, unknown>[]>;
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
  /** Clock for parking (tests). */
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
  return /locked|already in use|could not lock|busy|timeout|communication link/i.test(errText(err)) || odbcErrors(err).some((e) => e.state === 'HYT00' || e.state === '08S01');
}

export function classifyOdbcError(err: unknown): AccessErrorClass {
  const errs = odbcErrors(err);
  const text = errText(err);
  if (/duplicate values|UNIQUE constraint failed|duplicate key|PRIMARY KEY must be unique/i.test(text)) return 'duplicate';
  if (errs.some((e) => e.state === '23000') && !/null|required|related record/i.test(text)) return 'duplicate';
  if (isLockOrLink(err)) return 'transient';
  if (/Can't open lib|Data source name not found|IM00\d|could not find file|not a valid path|no such table|disk or network error/i.test(text) || errs.some((e) => /^IM/.test(e.state ?? ''))) return 'config';
  if (errs.some((e) => /^22/.test(e.state ?? '')) || /constraint failed|cannot contain a Null|data type mismatch|too (long|large)/i.test(text)) return 'data';
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

interface Prepared {
  record: AttendanceRecord;
  userId: number;
  badge: string;
  checkTime: string;
  checkType: string;
  sensorId: string;
}

export function createAccessSink(options: AccessSinkOptions, logger?: SinkLogger): AccessSink {
  const connectionString = buildConnectionString(options);
  const dialect = options.dialect ?? (/sqlite/i.test(connectionString) ? 'sqlite' : 'access');
  const identitySql = dialect === 'sqlite' ? 'SELECT last_insert_rowid() AS id' : 'SELECT @@IDENTITY AS id';
  const checkTypes: Record<number, string> = { ...DEFAULT_CHECKTYPE_MAP, ...(options.checkTypeMap ?? {}) };
  const fallbackType = options.unknownStateCheckType ?? 'I';
  const maxBatch = options.maxBatch ?? 500;
  // Bounded: every record of a chunk is one statement in one Jet transaction, and the existing-keys query lists its users.
  if (!Number.isInteger(maxBatch) || maxBatch < 1 || maxBatch > 1000) {
    throw new SinkError(`Access: maxBatch must be a whole number from 1 to 1000 (got ${JSON.stringify(maxBatch)})`, false, 'access', 'outage');
  }
  const stats: AccessSinkStats = { unknownStates: 0, defaultMachineNumbers: 0, keyCollisions: 0, usersCreated: 0, parked: 0 };
  const parking = options.unknownBadge === 'park';
  if (parking && !options.parkFile) throw new SinkError('Access: unknown badge policy "park" needs a file for the parked punches (parkFile)', false, 'access');
  const parkMaxAgeMs = Math.max(0, options.parkDays ?? 7) * 86_400_000;
  const parkRetryMs = Math.max(0, options.parkRetryMs ?? 60_000);
  const now = options.now ?? Date.now;
  let lot: ParkingLot | null = null;
  let badgesLoadedAt = 0;
  /** Duplicate-badge warnings already given (the map is re-read often while punches are parked). */
  const warnedDupes = new Set<string>();

  let conn: OdbcConnection | null = null;
  let checkinout: CheckinoutLayout | null = null;
  let userinfo: UserinfoLayout | null = null;
  let machines: MachinesLayout | null = null;
  let badges = new BadgeMap(options.badgeMatch ?? 'exact', options.badgePadWidth ?? 9);
  /** serial → MachineNumber from the Machines table (null: ambiguous). */
  let bySn = new Map<string, number | null>();
  let byIp = new Map<string, number | null>();
  let machinesLoadedAt = 0;
  let chain: Promise<unknown> = Promise.resolve();

  const fail = (err: unknown, where: string): SinkError => {
    if (err instanceof SinkError) return err;
    const cls = err instanceof LiteralError ? 'config' : classifyOdbcError(err);
    let hint = '';
    if (cls === 'config') hint = '; check the ODBC driver, the file path and that the file is an att2000.mdb';
    // Driver, file and lock problems hold the records; only single records are ever rejected.
    return new SinkError(`Access ${where}: ${errText(err)}${hint}`, false, 'access', accessFailureScope(err));
  };

  async function loadBadges(c: OdbcConnection): Promise<void> {
    const next = new BadgeMap(badges.mode, badges.width);
    for (const r of await c.query(buildBadgeQuery(userinfo!))) {
      if (r.badge === null || r.badge === undefined) continue;
      next.add(String(r.badge), Number(r.uid));
    }
    badges = next;
    badgesLoadedAt = now();
    for (const d of next.duplicates()) {
      const text = `badge ${JSON.stringify(d.badge)} is on ${d.userIds.length} USERINFO rows (USERID ${d.userIds.join(', ')}): punches go to USERID ${d.chosen}`;
      if (warnedDupes.has(text)) continue;
      warnedDupes.add(text);
      logger?.('warn', `Access: ${text}; Jet compares badges without regard to case, so fix the duplicates in ZKTime`);
    }
  }

  async function loadMachines(c: OdbcConnection): Promise<void> {
    const sn = new Map<string, number | null>();
    const ip = new Map<string, number | null>();
    const put = (m: Map<string, number | null>, k: unknown, n: number): void => {
      if (typeof k !== 'string' || k === '') return;
      const prev = m.get(k);
      m.set(k, prev === undefined || prev === n ? n : null); // two machines, two numbers: do not guess
    };
    if (machines) {
      for (const r of await c.query(buildMachinesQuery(machines))) {
        const n = Number(r.m_num);
        if (!Number.isSafeInteger(n)) continue;
        put(sn, r.m_sn, n);
        put(ip, r.m_ip, n);
      }
    }
    bySn = sn;
    byIp = ip;
    machinesLoadedAt = Date.now();
  }

  async function open(): Promise<void> {
    if (conn) return;
    if (/Microsoft Access Driver/i.test(connectionString) && process.platform !== 'win32') {
      throw new SinkError('Access target needs Windows ODBC: the Microsoft Access driver exists only on Windows', false, 'access');
    }
    const odbc = options.odbc ?? loadOdbc();
    let c: OdbcConnection;
    try {
      c = await odbc.connect(connectionString);
    } catch (err) {
      throw fail(err, 'connect');
    }
    try {
      checkinout = checkinoutLayout('CHECKINOUT', toDiscovered(await c.columns(null, null, 'CHECKINOUT', null)));
      userinfo = userinfoLayout('USERINFO', toDiscovered(await c.columns(null, null, 'USERINFO', null)));
      const mcols = toDiscovered(await c.columns(null, null, 'Machines', null));
      machines = mcols.length ? machinesLayout('Machines', mcols) : null;
      await loadBadges(c);
      await loadMachines(c);
      if (parking && !lot) {
        lot = await ParkingLot.open(options.parkFile!, (message) => logger?.('warn', `Access: ${message}`));
        stats.parked = lot.size;
        if (lot.size > 0) logger?.('info', `Access: ${lot.size} parked punches wait for their users`);
      }
    } catch (err) {
      await c.close().catch(() => undefined);
      throw fail(err, 'open');
    }
    conn = c;
    logger?.('info', `Access: ${badges.size} badges, CHECKINOUT columns ${describeLayout(checkinout)}`);
  }

  function machineNumber(r: AttendanceRecord): { num: number; fromDefault: boolean } | null {
    const mapped = options.machineNumbers?.[r.deviceSn];
    if (mapped !== undefined) return { num: mapped, fromDefault: false };
    const s = bySn.get(r.deviceSn);
    if (typeof s === 'number') return { num: s, fromDefault: false };
    const host = r.deviceHost ? r.deviceHost.replace(/:\d+$/, '').replace(/^\[|\]$/g, '') : null;
    const i = host ? byIp.get(host) : undefined;
    if (typeof i === 'number') return { num: i, fromDefault: false };
    return null;
  }

  async function writeChunk(c: OdbcConnection, incoming: AttendanceRecord[], retryParked: boolean): Promise<SinkWriteResult> {
    const l = checkinout!;
    const u = userinfo!;
    const result: SinkWriteResult = { inserted: 0, duplicates: 0, rejected: [] };
    const reject = (record: AttendanceRecord, reason: string): void => {
      result.rejected.push({ record, reason });
    };

    // Refresh the badge map (ZKTime may have enrolled someone) and Machines at most once per batch; with
    // punches parked, also when the map is older than parkRetryMs.
    const parkedWaiting = retryParked && lot !== null && lot.size > 0;
    const needsUsers = incoming.some((r) => !badges.lookup(r.userId)) || (parkedWaiting && now() - badgesLoadedAt >= parkRetryMs);
    // A serial missing from Machines.sn re-reads Machines (ZKTime may have added the device), at most once per machinesRefreshMs.
    const needsMachines =
      Date.now() - machinesLoadedAt >= (options.machinesRefreshMs ?? 60_000) && incoming.some((r) => options.machineNumbers?.[r.deviceSn] === undefined && typeof bySn.get(r.deviceSn) !== 'number');
    try {
      if (needsUsers) await loadBadges(c);
      if (needsMachines) await loadMachines(c);
    } catch (err) {
      throw fail(err, 'refresh USERINFO/Machines');
    }

    // Parked punches whose user exists now join this batch; the ones that waited too long give up.
    let batch = incoming;
    const unparked: string[] = [];
    if (parkedWaiting && needsUsers) {
      const { ready, expired } = lot!.sort((r) => badges.lookup(r.userId) !== null, now(), parkMaxAgeMs);
      for (const e of expired) {
        reject(e.record, `unknown badge ${JSON.stringify(e.record.userId)} from device ${e.record.deviceSn}: still no USERINFO row after ${options.parkDays ?? 7} days parked (since ${e.parkedAt})`);
        unparked.push(e.record.id);
      }
      if (ready.length > 0) {
        batch = [...ready.map((e) => e.record), ...incoming];
        for (const e of ready) unparked.push(e.record.id);
        logger?.('info', `Access: ${ready.length} parked punches have their users now; writing them`);
      }
    }
    const toPark: AttendanceRecord[] = [];

    // Values that do not depend on USERID; anything a column cannot hold is rejected here, before the transaction.
    interface Pending {
      record: AttendanceRecord;
      checkTime: string;
      checkType: string;
      sensorId: string;
    }
    const pending: Pending[] = [];
    for (const r of batch) {
      try {
        const checkTime = wallClock(r.localTime, 'localTime');
        const ct = checkTypeFor(r.state, checkTypes, fallbackType);
        if (!ct.known) {
          stats.unknownStates++;
          logger?.('warn', `Access: state ${r.state} has no CHECKTYPE letter; wrote ${JSON.stringify(ct.letter)}`, { deviceSn: r.deviceSn });
        }
        let m = machineNumber(r);
        if (!m) {
          m = { num: options.defaultMachineNumber ?? 1, fromDefault: true };
          stats.defaultMachineNumbers++;
          logger?.('warn', `Access: device ${r.deviceSn} is not in Machines nor in the machine number map; SENSORID ${m.num} written`);
        }
        const sensorId = String(m.num);
        // Validate every literal now (lengths, characters, statement size) with a placeholder USERID.
        buildCheckinoutInsert(l, u, { userId: 0, checkTime, checkType: ct.letter, verifyCode: r.verify, sensorId, sn: r.deviceSn, workCode: r.workCode, userExtFmt: options.userExtFmt ?? null });
        sqlText(r.userId, u.badge.size, 'userId');
        pending.push({ record: r, checkTime, checkType: ct.letter, sensorId });
      } catch (err) {
        if (err instanceof LiteralError) reject(r, `${err.message} (device ${r.deviceSn}, user ${JSON.stringify(r.userId)})`);
        else throw err;
      }
    }
    if (pending.length === 0) {
      await settleParking([], unparked);
      return result;
    }

    try {
      await c.beginTransaction();
    } catch (err) {
      throw fail(err, 'begin transaction');
    }
    const created = new Map<string, number>();
    try {
      // 1. USERIDs, creating users when configured.
      const prepared: Prepared[] = [];
      for (const p of pending) {
        const made = created.get(foldBadge(p.record.userId));
        let hit = badges.lookup(p.record.userId) ?? (made !== undefined ? { userId: made, badge: p.record.userId } : null);
        if (!hit) {
          if (parking) {
            toPark.push(p.record);
            continue;
          }
          if (options.unknownBadge !== 'create') {
            reject(p.record, `unknown badge ${JSON.stringify(p.record.userId)} from device ${p.record.deviceSn}: no USERINFO row with this Badgenumber`);
            continue;
          }
          await c.query(buildUserInsert(u, p.record.userId, p.record.userId));
          const idRows = await c.query(identitySql);
          const id = Number(idRows[0]?.id);
          if (!Number.isSafeInteger(id) || id <= 0) throw new Error(`could not read the new USERID (${identitySql})`);
          created.set(foldBadge(p.record.userId), id);
          hit = { userId: id, badge: p.record.userId };
          logger?.('info', `Access: created USERINFO ${id} for badge ${JSON.stringify(p.record.userId)}`);
        }
        prepared.push({ record: p.record, userId: hit.userId, badge: hit.badge, checkTime: p.checkTime, checkType: p.checkType, sensorId: p.sensorId });
      }

      // 2. Dedupe in JS on the real key (USERID, CHECKTIME); the device is not part of it.
      const firstByKey = new Map<string, Prepared>();
      const todo: Prepared[] = [];
      for (const p of prepared) {
        const key = `${p.userId}\u0000${p.checkTime}`;
        const first = firstByKey.get(key);
        if (first) {
          result.duplicates++;
          if (first.record.deviceSn !== p.record.deviceSn) {
            stats.keyCollisions++;
            logger?.('warn', `Access: user ${p.record.userId} punched at ${p.checkTime} on ${first.record.deviceSn} and ${p.record.deviceSn}; ZKTime's key keeps only the first`);
          }
          continue;
        }
        firstByKey.set(key, p);
        todo.push(p);
      }

      // 3. Pre-select existing keys in the window: re-sends then cost one query, not one failed insert per row.
      const existing = new Set<string>();
      if (todo.length) {
        const times = todo.map((p) => p.checkTime).sort();
        for (const sql of buildExistingKeysQueries(l, todo.map((p) => p.userId), times[0], times[times.length - 1])) {
          for (const r of await c.query(sql)) existing.add(`${Number(r.uid)}\u0000${readTime(r.ct)}`);
        }
      }

      // 4. One lookup + NOT EXISTS + insert statement per new record.
      for (const p of todo) {
        if (existing.has(`${p.userId}\u0000${p.checkTime}`)) {
          result.duplicates++;
          continue;
        }
        const sql = buildCheckinoutInsert(l, u, {
          userId: p.userId, checkTime: p.checkTime, checkType: p.checkType, verifyCode: p.record.verify, sensorId: p.sensorId,
          sn: p.record.deviceSn, workCode: p.record.workCode, userExtFmt: options.userExtFmt ?? null,
        });
        try {
          const res = await c.query(sql);
          if ((res.count ?? 0) > 0) result.inserted++;
          else result.duplicates++; // ZKTime wrote the same key meanwhile (or the user vanished)
        } catch (err) {
          const cls = classifyOdbcError(err);
          if (cls === 'duplicate') result.duplicates++;
          else if (cls === 'data') result.rejected.push({ record: p.record, reason: `Access rejected the record: ${errText(err)}` });
          else throw err;
        }
      }
      await c.commit();
    } catch (err) {
      await c.rollback().catch(() => undefined);
      throw fail(err, 'write CHECKINOUT');
    }
    for (const [b, id] of created) badges.add(b, id);
    stats.usersCreated += created.size;
    await settleParking(toPark, unparked);
    if (toPark.length > 0) {
      result.parked = toPark.length;
      logger?.('warn', `Access: parked ${toPark.length} punches with unknown badges (${[...new Set(toPark.map((r) => JSON.stringify(r.userId)))].slice(0, 5).join(', ')}) until ZKTime has the users`);
    }
    return result;
  }

  /**
   * After the commit: the parking lot gains this batch's unknown badges and loses what was written or given
   * up. If that fails the batch is retried whole (the rows already written come back as duplicates).
   */
  async function settleParking(add: AttendanceRecord[], remove: string[]): Promise<void> {
    if (!lot || (add.length === 0 && remove.length === 0)) return;
    try {
      await lot.update(add, remove, now());
    } catch (err) {
      throw new SinkError(`Access: cannot save parked punches to ${lot.file}: ${(err as Error).message}`, false, 'access', 'outage');
    }
    stats.parked = lot.size;
  }

  async function write(batch: AttendanceRecord[]): Promise<SinkWriteResult> {
    await open();
    const c = conn!;
    const total: SinkWriteResult = { inserted: 0, duplicates: 0, rejected: [] as RejectedRecord[] };
    try {
      for (let i = 0; i < batch.length; i += maxBatch) {
        const r = await writeChunk(c, batch.slice(i, i + maxBatch), i === 0);
        total.inserted += r.inserted;
        total.duplicates += r.duplicates;
        total.rejected.push(...r.rejected);
        if (r.parked) total.parked = (total.parked ?? 0) + r.parked;
      }
    } catch (err) {
      // A broken connection is reopened on the next batch; locks and the rest retry on the same one.
      if (err instanceof SinkError && /08S01|communication link|connection/i.test(err.message)) await drop();
      throw err;
    }
    return total;
  }

  async function drop(): Promise<void> {
    const c = conn;
    conn = null;
    if (c) await c.close().catch(() => undefined);
  }

  return {
    target: 'access',
    stats,
    open: () => open(),
    held: () => stats.parked,
    write(batch: AttendanceRecord[]): Promise<SinkWriteResult> {
      const run = chain.then(() => write(batch));
      chain = run.catch(() => undefined);
      return run;
    },
    async close(): Promise<void> {
      await chain.catch(() => undefined);
      await drop();
    },
  };
}

function describeLayout(l: CheckinoutLayout): string {
  const cols = [l.userId, l.checkTime, l.checkType, l.verifyCode, l.sensorId, l.sn, l.workCode, l.userExtFmt].filter((c) => c).map((c) => c!.name);
  return cols.join(', ') + (l.workCode ? ` (WorkCode ${l.workCode.kind})` : '');
}

/** The Access driver connection string for a file; characters that would end the attribute are refused. */
export function buildConnectionString(o: AccessSinkOptions): string {
  let cs: string;
  if (o.connectionString) cs = o.connectionString;
  else if (o.file) {
    if (/[;{}]/.test(o.file)) throw new SinkError(`Access: the file path ${JSON.stringify(o.file)} contains ; { or }, which ODBC cannot take`, false, 'access');
    cs = `Driver={Microsoft Access Driver (*.mdb, *.accdb)};DBQ=${o.file};`;
  } else throw new SinkError('Access: configure the att2000.mdb file or an ODBC connection string', false, 'access');
  if (o.password) {
    const sep = cs.endsWith(';') ? '' : ';';
    // Braces quote a value holding ; { } (a } inside is doubled).
    cs += /[;{}]/.test(o.password) ? `${sep}PWD={${o.password.replace(/}/g, '}}')}};` : `${sep}PWD=${o.password};`;
  }
  return cs;
}
