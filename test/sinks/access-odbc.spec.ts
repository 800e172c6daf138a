/**
 * The Access (att2000) writer end to end through node-odbc + unixODBC + the SQLite3 ODBC driver, on a schema
 * mirrored from the real fixture (att2000-mirror.ts). Only the dialect's identity query differs from production.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { createAccessSink, AccessSink, AccessSinkOptions, OdbcConnection, OdbcModule } from '../../lib/sinks/access';
import { RejectedRecord, SinkError } from '../../lib/sinks/types';
import { DeliveryLoop } from '../../lib/sinks/delivery';
import { Outbox } from '../../lib/sinks/outbox';
import type { AttendanceRecord } from '../../lib/record';
import { until } from '../../support/wait';
import { checkinoutLayout, toDiscovered, userinfoLayout } from '../../lib/sinks/access-sql';
import {
  createMirror,
  loadOdbcForTests,
  Mirror,
  MdbTable,
  readFixture,
  sqliteDriver,
  TABLES,
  MirrorVariant,
} from './att2000-mirror';
import { makeRecord, makeRecords, NASTY_STRINGS } from '../support/records';

const odbc = loadOdbcForTests();
const driver = sqliteDriver();
const missing = !odbc
  ? 'the odbc package is not installed'
  : !driver
    ? 'libsqliteodbc (libsqlite3odbc.so) is not installed'
    : null;
if (missing && process.env.CI === 'true')
  throw new Error(`Access ODBC tests cannot run under CI: ${missing} (apt-get install unixodbc libsqliteodbc)`);
const suite = missing ? describe.skip : describe;

suite(`access sink through unixODBC + SQLite3 ODBC${missing ? ` (skipped: ${missing})` : ''}`, function () {
  this.timeout(30000);
  let fx: Record<string, MdbTable>;
  let mirror: Mirror;
  let sink: AccessSink | null = null;

  const open = async (opts: Partial<AccessSinkOptions> = {}, variant: MirrorVariant = {}): Promise<AccessSink> => {
    if (variant && Object.keys(variant).length) {
      await mirror.cleanup();
      mirror = await createMirror(odbc!, fx, variant);
    }
    sink = createAccessSink({ connectionString: mirror.connectionString, odbc: odbc!, ...opts });
    await sink.open();
    return sink;
  };
  const q = (sql: string): Promise<Record<string, unknown>[]> => mirror.conn.query(sql);
  const count = async (where = ''): Promise<number> =>
    Number((await q(`SELECT COUNT(*) AS n FROM CHECKINOUT ${where}`))[0].n);

  before(async () => {
    fx = await readFixture();
  });
  beforeEach(async () => {
    mirror = await createMirror(odbc!, fx);
  });
  afterEach(async () => {
    await sink?.close();
    sink = null;
    await mirror.cleanup();
  });

  it('the mirror matches the fixture .mdb: same tables, column names, order, type classes and text sizes', async () => {
    assert.equal(fx.CHECKINOUT.rows.length, 74);
    const kindOfMdb = (t: string): string =>
      ['long', 'integer', 'byte'].includes(t) ? 'int' : t === 'text' ? 'text' : t === 'datetime' ? 'time' : 'other';
    for (const t of TABLES) {
      const odbcCols = toDiscovered(await mirror.conn.columns(null, null, t, null));
      const mdbCols = fx[t].columns;
      assert.deepEqual(
        odbcCols.map((c) => c.name),
        mdbCols.map((c) => c.name),
        t,
      );
      mdbCols.forEach((m, i) => {
        const kind = odbcCols[i].kind === 'other' && kindOfMdb(m.type) === 'other' ? 'other' : odbcCols[i].kind;
        assert.equal(kind, kindOfMdb(m.type), `${t}.${m.name}`);
        if (m.type === 'text') assert.equal(odbcCols[i].size, m.size / 2, `${t}.${m.name} size`);
      });
    }
    // What the writer will rely on, as docs/targets.md §2.2 documents it.
    const l = checkinoutLayout('CHECKINOUT', toDiscovered(await mirror.conn.columns(null, null, 'CHECKINOUT', null)));
    assert.deepEqual(
      [l.checkType?.size, l.sensorId?.size, l.sn?.size, l.workCode?.kind, l.workCode?.size, l.memoinfo?.size],
      [1, 5, 20, 'text', 24, 30],
    );
    const u = userinfoLayout('USERINFO', toDiscovered(await mirror.conn.columns(null, null, 'USERINFO', null)));
    assert.deepEqual([u.badge.size, u.name?.size], [24, 40]);
    assert.equal(await count(), 74);
  });

  it('writes CHECKINOUT the ZKTime way: USERID from Badgenumber, wall-clock CHECKTIME, letters, SENSORID, sn, WorkCode', async () => {
    const s = await open();
    const old = process.env.TZ;
    process.env.TZ = 'Asia/Dhaka'; // the Node zone must not move CHECKTIME
    let res;
    try {
      res = await s.write([
        makeRecord(0, { userId: '2', localTime: '2024-03-01T08:00:00', state: 0, verify: 15, workCode: 0 }),
        makeRecord(0, { userId: '1', localTime: '2024-03-01T17:30:05', state: 1, verify: 1 }),
      ]);
    } finally {
      if (old === undefined) delete process.env.TZ;
      else process.env.TZ = old;
    }
    assert.deepEqual(res, { inserted: 2, duplicates: 0, rejected: [] });
    const rows = await q(
      "SELECT USERID, CHECKTIME, CHECKTYPE, VERIFYCODE, SENSORID, sn, WorkCode, UserExtFmt, Memoinfo FROM CHECKINOUT WHERE CHECKTIME >= '2024-01-01' ORDER BY CHECKTIME",
    );
    assert.deepEqual(
      rows.map((r) => ({ ...r })),
      [
        // Badgenumber '2' is USERID 1 in the fixture: the PIN itself is never written.
        {
          USERID: 1,
          CHECKTIME: '2024-03-01 08:00:00',
          CHECKTYPE: 'I',
          VERIFYCODE: 15,
          SENSORID: '1',
          sn: 'OID6110056101900165',
          WorkCode: '0',
          UserExtFmt: 0,
          Memoinfo: null,
        },
        {
          USERID: 2,
          CHECKTIME: '2024-03-01 17:30:05',
          CHECKTYPE: 'O',
          VERIFYCODE: 1,
          SENSORID: '1',
          sn: 'OID6110056101900165',
          WorkCode: '0',
          UserExtFmt: 0,
          Memoinfo: null,
        },
      ],
    );
  });

  it("is idempotent: the same records twice (and ZKTime's own punches) give one row each", async () => {
    const s = await open();
    const recs = makeRecords(120, { users: 3 }); // users 1..3, 40 minutes
    assert.deepEqual(await s.write(recs), { inserted: 120, duplicates: 0, rejected: [] });
    assert.deepEqual(await s.write([...recs, ...recs.slice(0, 7)]), { inserted: 0, duplicates: 127, rejected: [] });
    assert.equal(await count(), 74 + 120);
    // A punch ZKTime already downloaded (USERID 1 = badge '2' at 2017-10-12 13:06:51) is a duplicate.
    assert.deepEqual(await s.write([makeRecord(0, { userId: '2', localTime: '2017-10-12T13:06:51' })]), {
      inserted: 0,
      duplicates: 1,
      rejected: [],
    });
    // A fresh sink (restart) agrees.
    await s.close();
    const s2 = await open();
    assert.deepEqual(await s2.write(recs.slice(0, 10)), { inserted: 0, duplicates: 10, rejected: [] });
  });

  it('unknown badge, policy error (default): to the error output naming badge and device; nothing written', async () => {
    const s = await open();
    const res = await s.write([
      makeRecord(0, { userId: '999' }),
      makeRecord(0, { userId: '1', localTime: '2024-03-02T08:00:00' }),
    ]);
    assert.equal(res.inserted, 1);
    assert.equal(res.rejected.length, 1);
    assert.match(res.rejected[0].reason, /unknown badge "999" from device OID6110056101900165/);
    assert.equal(Number((await q("SELECT COUNT(*) AS n FROM USERINFO WHERE Badgenumber = '999'"))[0].n), 0);
    // Enrolled in ZKTime meanwhile: the next batch refreshes the map and writes it.
    await q("INSERT INTO USERINFO (Badgenumber, Name) VALUES ('999', 'New')");
    assert.deepEqual(await s.write([makeRecord(0, { userId: '999' })]), { inserted: 1, duplicates: 0, rejected: [] });
  });

  it('unknown badge, policy create: inserts USERINFO (Badgenumber, Name) once and uses the new USERID', async () => {
    const s = await open({ unknownBadge: 'create' });
    const res = await s.write([
      makeRecord(0, { userId: '4711' }),
      makeRecord(0, { userId: '4711', localTime: '2024-03-01T12:00:00' }),
    ]);
    assert.deepEqual(res, { inserted: 2, duplicates: 0, rejected: [] });
    const users = await q(
      "SELECT USERID, Badgenumber, Name, ATT, DEFAULTDEPTID FROM USERINFO WHERE Badgenumber = '4711'",
    );
    assert.equal(users.length, 1);
    assert.deepEqual({ ...users[0] }, { USERID: 4, Badgenumber: '4711', Name: '4711', ATT: 1, DEFAULTDEPTID: 1 });
    assert.equal(await count('WHERE USERID = 4'), 2);
    assert.equal(s.stats.usersCreated, 1);
    assert.deepEqual(await s.write([makeRecord(0, { userId: '4711', localTime: '2024-03-01T13:00:00' })]), {
      inserted: 1,
      duplicates: 0,
      rejected: [],
    });
    assert.equal(s.stats.usersCreated, 1);
  });

  it('unknown badge, policy park: kept on disk across a restart, written once ZKTime has the user, given up after parkDays', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pf-park-'));
    const parkFile = path.join(dir, 'parked.json');
    let clock = Date.parse('2024-03-05T00:00:00Z');
    const opts: Partial<AccessSinkOptions> = {
      unknownBadge: 'park',
      parkFile,
      parkDays: 2,
      parkRetryMs: 60_000,
      now: () => clock,
    };
    try {
      const s = await open(opts);
      const early = [
        makeRecord(0, { userId: '777', localTime: '2024-03-04T08:00:00' }),
        makeRecord(0, { userId: '777', localTime: '2024-03-04T17:00:00', state: 1 }),
      ];
      const res = await s.write([...early, makeRecord(0, { userId: '1', localTime: '2024-03-04T08:01:00' })]);
      assert.deepEqual(res, { inserted: 1, duplicates: 0, rejected: [], parked: 2 });
      assert.equal(s.stats.parked, 2);
      assert.equal(s.held?.(), 2, 'the node status shows what is parked');
      assert.deepEqual(
        JSON.parse(fs.readFileSync(parkFile, 'utf8')).map((e: { record: { id: string } }) => e.record.id),
        early.map((r) => r.id),
      );
      // The same batch replayed parks nothing twice.
      assert.deepEqual(await s.write(early), { inserted: 0, duplicates: 0, rejected: [], parked: 2 });
      assert.equal(s.stats.parked, 2);

      // Restart: the lot comes back from disk. HR adds the user in ZKTime; the map is re-read once the retry
      // interval passed, on the next batch, which carries the parked punches along.
      await s.close();
      const s2 = await open(opts);
      assert.equal(s2.stats.parked, 2);
      await q("INSERT INTO USERINFO (Badgenumber, Name) VALUES ('777', 'Late Enrolment')");
      const other = makeRecord(0, { userId: '2', localTime: '2024-03-04T09:00:00' });
      assert.deepEqual(
        await s2.write([other]),
        { inserted: 1, duplicates: 0, rejected: [] },
        'map still fresh: nothing retried yet',
      );
      clock += 61_000;
      const later = makeRecord(0, { userId: '2', localTime: '2024-03-04T10:00:00' });
      assert.deepEqual(await s2.write([later]), { inserted: 3, duplicates: 0, rejected: [] });
      const uid = Number((await q("SELECT USERID FROM USERINFO WHERE Badgenumber = '777'"))[0].USERID);
      assert.equal(await count(`WHERE USERID = ${uid}`), 2);
      assert.equal(s2.stats.parked, 0);
      assert.deepEqual(JSON.parse(fs.readFileSync(parkFile, 'utf8')), []);

      // A badge nobody ever adds: after parkDays it goes to the error output, naming badge, device and age.
      const never = makeRecord(0, { userId: '888', localTime: '2024-03-04T11:00:00' });
      assert.deepEqual(await s2.write([never]), { inserted: 0, duplicates: 0, rejected: [], parked: 1 });
      clock += 2 * 86_400_000 + 61_000;
      const res3 = await s2.write([makeRecord(0, { userId: '1', localTime: '2024-03-04T12:00:00' })]);
      assert.equal(res3.inserted, 1);
      assert.deepEqual(
        res3.rejected.map((r) => r.record.id),
        [never.id],
      );
      assert.match(
        res3.rejected[0].reason,
        /unknown badge "888" from device \S+: still no USERINFO row after 2 days parked/,
      );
      assert.equal(s2.stats.parked, 0);
      assert.equal(Number((await q("SELECT COUNT(*) AS n FROM USERINFO WHERE Badgenumber = '888'"))[0].n), 0);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('policy park without a file is a configuration error; an unwritable park file holds the batch (transient)', async () => {
    assert.throws(
      () => createAccessSink({ connectionString: mirror.connectionString, odbc: odbc!, unknownBadge: 'park' }),
      /needs a file for the parked punches/,
    );
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pf-park-'));
    try {
      // A directory where the file should be: opening cannot read the lot, so the sink does not start (held).
      const parkFile = path.join(dir, 'parked.json');
      fs.mkdirSync(parkFile);
      await assert.rejects(
        open({ unknownBadge: 'park', parkFile }),
        (e: unknown) => e instanceof SinkError && !e.permanent && /EISDIR/.test(e.message),
      );
      assert.ok(fs.statSync(parkFile).isDirectory(), 'nothing was moved aside or overwritten');
      fs.rmdirSync(parkFile);
      const s = await open({ unknownBadge: 'park', parkFile });
      // Now the directory appears after open: saving the lot fails, the batch is held and retried.
      fs.mkdirSync(parkFile);
      await assert.rejects(
        s.write([makeRecord(0, { userId: '777' })]),
        (e: unknown) => e instanceof SinkError && !e.permanent && /cannot save parked punches/.test(e.message),
      );
      assert.equal(s.stats.parked, 0);
      fs.rmdirSync(parkFile);
      assert.deepEqual(await s.write([makeRecord(0, { userId: '777' })]), {
        inserted: 0,
        duplicates: 0,
        rejected: [],
        parked: 1,
      });
      assert.equal(JSON.parse(fs.readFileSync(parkFile, 'utf8')).length, 1);
      // A lot file that is not JSON (not one of ours) is kept aside with a warning, and parking starts afresh.
      await s.close();
      fs.writeFileSync(parkFile, '{not json');
      const warnings: string[] = [];
      sink = createAccessSink(
        { connectionString: mirror.connectionString, odbc: odbc!, unknownBadge: 'park', parkFile },
        (_l, m) => warnings.push(m),
      );
      await sink.open();
      assert.equal(sink.stats.parked, 0);
      assert.ok(
        warnings.some((w) => /parked punches file .* was unreadable; moved to .*corrupt-/.test(w)),
        warnings.join('\n'),
      );
      assert.ok(fs.readdirSync(dir).some((f) => f.startsWith('parked.json.corrupt-')));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('SQL metacharacters in every text field land verbatim or are rejected cleanly', async () => {
    const s = await open({ unknownBadge: 'create' });
    const fits = NASTY_STRINGS.filter((x) => x.length <= 20);
    const recs = fits.map((x, i) =>
      makeRecord(0, {
        userId: x,
        deviceSn: x,
        deviceName: x,
        site: x,
        localTime: `2024-04-01T08:00:${String(i).padStart(2, '0')}`,
      }),
    );
    const bad = [
      makeRecord(0, { userId: "x'\n; DROP TABLE CHECKINOUT", localTime: '2024-04-01T09:00:00' }), // control character
      makeRecord(0, { deviceSn: "'; DROP TABLE CHECKINOUT;--", localTime: '2024-04-01T09:00:01' }), // 27 > sn's 20
      makeRecord(0, { userId: 'x'.repeat(24) + 'y', localTime: '2024-04-01T09:00:02' }), // > Badgenumber's 24
    ];
    const res = await s.write([...recs, ...bad]);
    assert.equal(res.inserted, fits.length);
    assert.deepEqual(
      res.rejected.map((r) => r.record),
      bad,
    );
    assert.match(res.rejected[0].reason, /userId: contains a control character/);
    assert.match(res.rejected[1].reason, /sn: 27 characters, the column holds 20/);
    for (const x of fits) {
      const rows = await q(
        `SELECT u.Badgenumber AS b, u.Name AS n, c.sn AS sn FROM CHECKINOUT c JOIN USERINFO u ON u.USERID = c.USERID WHERE c.sn = '${x.replace(/'/g, "''")}'`,
      );
      assert.deepEqual(
        rows.map((r) => ({ ...r })),
        [{ b: x, n: x, sn: x }],
        x,
      );
    }
    const tables = await q(
      "SELECT name FROM sqlite_master WHERE type = 'table' AND name IN ('CHECKINOUT', 'USERINFO', 'Machines')",
    );
    assert.equal(tables.length, 3, 'no table was dropped');
    assert.equal(await count(), 74 + fits.length);
  });

  it('SENSORID: serial map, then Machines.sn, then Machines.IP, then the default', async () => {
    await q(
      "INSERT INTO Machines (MachineAlias, ConnectType, IP, MachineNumber, sn) VALUES ('Gate', 1, '10.0.0.5', 101, 'SNGATE0001')",
    );
    await q(
      "INSERT INTO Machines (MachineAlias, ConnectType, IP, MachineNumber, sn) VALUES ('Dock', 1, '10.0.0.6', 102, NULL)",
    );
    const s = await open({ machineNumbers: { MAPPED01: 7, SNGATE0001: 55 }, defaultMachineNumber: 9 });
    const at = (i: number) => `2024-05-01T08:00:0${i}`;
    await s.write([
      makeRecord(0, { deviceSn: 'MAPPED01', localTime: at(0) }),
      makeRecord(0, { deviceSn: 'SNGATE0001', localTime: at(1) }), // the map wins over Machines
      makeRecord(0, { deviceSn: 'OID6110056101900165', localTime: at(2) }), // Machines.sn → 1
      makeRecord(0, { deviceSn: 'DOCKSERIAL', deviceHost: '10.0.0.6:4370', localTime: at(3) }), // Machines.IP → 102
      makeRecord(0, { deviceSn: 'NOWHERE', deviceHost: '10.9.9.9:4370', localTime: at(4) }), // default
    ]);
    const rows = await q("SELECT sn, SENSORID FROM CHECKINOUT WHERE CHECKTIME >= '2024-05-01' ORDER BY CHECKTIME");
    assert.deepEqual(
      rows.map((r) => [r.sn, r.SENSORID]),
      [
        ['MAPPED01', '7'],
        ['SNGATE0001', '55'],
        ['OID6110056101900165', '1'],
        ['DOCKSERIAL', '102'],
        ['NOWHERE', '9'],
      ],
    );
    assert.equal(s.stats.defaultMachineNumbers, 1);
    // Machines.sn without the map; a machine added later is picked up at the next batch.
    await s.close();
    const s2 = await open({ machinesRefreshMs: 0 });
    await q(
      "INSERT INTO Machines (MachineAlias, ConnectType, IP, MachineNumber, sn) VALUES ('New', 1, '10.0.0.7', 103, 'SNNEW')",
    );
    await s2.write([
      makeRecord(0, { deviceSn: 'SNGATE0001', localTime: at(5) }),
      makeRecord(0, { deviceSn: 'SNNEW', localTime: at(6) }),
    ]);
    const r2 = await q("SELECT SENSORID FROM CHECKINOUT WHERE CHECKTIME >= '2024-05-01 08:00:05' ORDER BY CHECKTIME");
    assert.deepEqual(
      r2.map((r) => r.SENSORID),
      ['101', '103'],
    );
  });

  it('the Machines re-read follows the injected clock, like the badge re-read', async () => {
    let t = Date.parse('2024-05-02T00:00:00Z');
    const s = await open({ now: () => t, machinesRefreshMs: 60_000, defaultMachineNumber: 9 });
    const at = (i: number) => `2024-05-02T08:00:0${i}`;
    await s.write([makeRecord(0, { deviceSn: 'LATER01', deviceHost: '10.9.9.9:4370', localTime: at(0) })]);
    await q(
      "INSERT INTO Machines (MachineAlias, ConnectType, IP, MachineNumber, sn) VALUES ('Later', 1, '10.0.0.8', 104, 'LATER01')",
    );
    t += 59_999; // inside the refresh interval: Machines is not read again
    await s.write([makeRecord(0, { deviceSn: 'LATER01', deviceHost: '10.9.9.9:4370', localTime: at(1) })]);
    t += 1; // the interval has passed on the sink's clock, whatever the wall clock says
    await s.write([makeRecord(0, { deviceSn: 'LATER01', deviceHost: '10.9.9.9:4370', localTime: at(2) })]);
    const rows = await q("SELECT SENSORID FROM CHECKINOUT WHERE CHECKTIME >= '2024-05-02' ORDER BY CHECKTIME");
    assert.deepEqual(
      rows.map((r) => r.SENSORID),
      ['9', '9', '104'],
    );
    assert.equal(s.stats.defaultMachineNumbers, 2);
  });

  it('CHECKTYPE from the state map: defaults, overrides and the fallback for unknown states', async () => {
    const s = await open();
    const recs = [0, 1, 2, 3, 4, 5, 255].map((state, i) =>
      makeRecord(0, { state, localTime: `2024-06-01T08:00:0${i}` }),
    );
    await s.write(recs);
    const rows = await q("SELECT CHECKTYPE FROM CHECKINOUT WHERE CHECKTIME >= '2024-06-01' ORDER BY CHECKTIME");
    assert.deepEqual(
      rows.map((r) => r.CHECKTYPE),
      ['I', 'O', '0', '1', 'i', 'o', 'I'],
    );
    assert.equal(s.stats.unknownStates, 1);
    await s.close();
    const s2 = await open({ checkTypeMap: { 2: 'O', 255: 'X' }, unknownStateCheckType: 'O' });
    await s2.write([
      makeRecord(0, { state: 2, localTime: '2024-06-02T08:00:00' }),
      makeRecord(0, { state: 255, localTime: '2024-06-02T08:00:01' }),
      makeRecord(0, { state: 9, localTime: '2024-06-02T08:00:02' }),
    ]);
    const r2 = await q("SELECT CHECKTYPE FROM CHECKINOUT WHERE CHECKTIME >= '2024-06-02' ORDER BY CHECKTIME");
    assert.deepEqual(
      r2.map((r) => r.CHECKTYPE),
      ['O', 'X', 'O'],
    );
    // A letter the column cannot hold is a clean rejection.
    await s2.close();
    const s3 = await open({ checkTypeMap: { 0: 'IN' } });
    const res = await s3.write([makeRecord(0, { state: 0, localTime: '2024-06-03T08:00:00' })]);
    assert.match(res.rejected[0].reason, /CHECKTYPE: 2 characters, the column holds 1/);
  });

  it('other ZKTime versions: WorkCode as Long Integer, no Memoinfo, WorkCode before sn; UserExtFmt configurable', async () => {
    const s = await open({ userExtFmt: 1 }, { workCode: 'long', memoinfo: false, workCodeFirst: true });
    assert.deepEqual(await s.write([makeRecord(0, { workCode: 12, localTime: '2024-07-01T08:00:00' })]), {
      inserted: 1,
      duplicates: 0,
      rejected: [],
    });
    const rows = await q(
      "SELECT WorkCode, typeof(WorkCode) AS t, UserExtFmt FROM CHECKINOUT WHERE CHECKTIME >= '2024-07-01'",
    );
    assert.deepEqual({ ...rows[0] }, { WorkCode: 12, t: 'integer', UserExtFmt: 1 });
  });

  it('the key has no device: the same user and second on two devices is stored once, with a warning', async () => {
    const warnings: string[] = [];
    sink = createAccessSink(
      { connectionString: mirror.connectionString, odbc: odbc! },
      (level, msg) => level === 'warn' && warnings.push(msg),
    );
    const res = await sink.write([makeRecord(0, { deviceSn: 'DEV_A' }), makeRecord(0, { deviceSn: 'DEV_B' })]);
    assert.deepEqual(res, { inserted: 1, duplicates: 1, rejected: [] });
    assert.equal(sink.stats.keyCollisions, 1);
    assert.ok(warnings.some((w) => /DEV_A and DEV_B/.test(w)));
    assert.deepEqual(
      (await q("SELECT sn FROM CHECKINOUT WHERE CHECKTIME = '2024-03-01 08:00:00'")).map((r) => r.sn),
      ['DEV_A'],
    );
  });

  it('a lock error mid-batch rolls the whole batch back (transient); the retry writes everything once', async () => {
    let inserts = 0;
    let failAt = 5;
    const wrap: OdbcModule = {
      connect: async (cs: string) => {
        const c = await odbc!.connect(cs);
        const proxy: OdbcConnection = {
          query: async (sql: string) => {
            if (sql.startsWith('INSERT INTO [CHECKINOUT]') && ++inserts === failAt) {
              throw Object.assign(new Error('[odbc] Error executing the sql statement'), {
                odbcErrors: [{ state: 'HY000', code: 3218, message: 'Could not update; currently locked.' }],
              });
            }
            return c.query(sql);
          },
          columns: (...a) => c.columns(...a),
          beginTransaction: () => c.beginTransaction(),
          commit: () => c.commit(),
          rollback: () => c.rollback(),
          close: () => c.close(),
        };
        return proxy;
      },
    };
    sink = createAccessSink({ connectionString: mirror.connectionString, odbc: wrap, unknownBadge: 'create' });
    const recs = makeRecords(10, { users: 3 }).map((r, i) =>
      i === 9 ? { ...r, userId: 'NEW9', id: `${r.deviceSn}|NEW9|${r.localTime}` } : r,
    );
    await assert.rejects(
      sink.write(recs),
      (e: unknown) =>
        e instanceof SinkError && !e.permanent && e.target === 'access' && /currently locked/.test(e.message),
    );
    assert.equal(await count(), 74, 'rolled back');
    failAt = -1;
    assert.deepEqual(await sink.write(recs), { inserted: 10, duplicates: 0, rejected: [] });
    assert.equal(Number((await q("SELECT COUNT(*) AS n FROM USERINFO WHERE Badgenumber = 'NEW9'"))[0].n), 1);
    assert.equal(await count(), 84);
  });

  it('a missing database file or driver is a transient (held) error that says what to check', async () => {
    const s = createAccessSink({
      connectionString: 'Driver=/nonexistent/libnothing.so;Database=/tmp/x.db',
      odbc: odbc!,
    });
    await assert.rejects(
      s.open(),
      (e: unknown) => e instanceof SinkError && !e.permanent && /check the ODBC driver/.test(e.message),
    );
    const win = createAccessSink({ file: 'C:\\ZKTime\\att2000.mdb', odbc: odbc! });
    if (process.platform !== 'win32') await assert.rejects(win.open(), /needs Windows ODBC/);
  });

  it("badges follow Jet's case rule: a12b is the user A12B (policy create adds nobody; policy error rejects nothing)", async () => {
    await q("INSERT INTO USERINFO (Badgenumber, Name) VALUES ('A12B', 'Mixed Case')");
    const uid = Number((await q("SELECT USERID FROM USERINFO WHERE Badgenumber = 'A12B'"))[0].USERID);
    for (const policy of ['create', 'error'] as const) {
      const s = await open({ unknownBadge: policy });
      const t = policy === 'create' ? '2024-08-01T08:00:00' : '2024-08-01T09:00:00';
      assert.deepEqual(
        await s.write([makeRecord(0, { userId: 'a12b', localTime: t })]),
        { inserted: 1, duplicates: 0, rejected: [] },
        policy,
      );
      assert.deepEqual(
        await s.write([makeRecord(0, { userId: 'A12b', localTime: t })]),
        { inserted: 0, duplicates: 1, rejected: [] },
        policy,
      );
      await s.close();
      sink = null;
    }
    assert.equal(
      Number((await q('SELECT COUNT(*) AS n FROM USERINFO'))[0].n),
      fx.USERINFO.rows.length + 1,
      'no second user',
    );
    assert.equal(await count(`WHERE USERID = ${uid}`), 2);
    assert.equal(await count(), 74 + 2);
  });

  it('one badge on two USERINFO rows: one punch is one CHECKINOUT row, for the lowest USERID, with a warning', async () => {
    await mirror.cleanup();
    mirror = await createMirror(odbc!, fx, { badgeUnique: false });
    await q("INSERT INTO USERINFO (Badgenumber, Name) VALUES ('55', 'First')");
    await q("INSERT INTO USERINFO (Badgenumber, Name) VALUES ('55', 'Second')");
    await q("INSERT INTO USERINFO (Badgenumber, Name) VALUES ('x9', 'Third')");
    await q("INSERT INTO USERINFO (Badgenumber, Name) VALUES ('X9', 'Fourth')");
    // 55: First, Second; x9/X9: Third, Fourth (NOCASE matches both spellings).
    const ids = (await q("SELECT USERID FROM USERINFO WHERE Badgenumber IN ('55', 'x9') ORDER BY USERID")).map((r) =>
      Number(r.USERID),
    );
    assert.equal(ids.length, 4);
    const warnings: string[] = [];
    sink = createAccessSink(
      { connectionString: mirror.connectionString, odbc: odbc! },
      (level, m) => level === 'warn' && warnings.push(m),
    );
    const res = await sink.write([
      makeRecord(0, { userId: '55', localTime: '2024-08-02T08:00:00' }),
      makeRecord(0, { userId: 'X9', localTime: '2024-08-02T08:00:00' }),
    ]);
    assert.deepEqual(res, { inserted: 2, duplicates: 0, rejected: [] });
    assert.deepEqual(
      (await q("SELECT USERID FROM CHECKINOUT WHERE CHECKTIME = '2024-08-02 08:00:00' ORDER BY USERID")).map((r) =>
        Number(r.USERID),
      ),
      [ids[0], ids[2]],
    );
    assert.ok(
      warnings.some((w) => /badge "55" is on 2 USERINFO rows \(USERID \d+, \d+\): punches go to USERID \d+/.test(w)),
      warnings.join('\n'),
    );
  });

  it('a | in any text value is refused before anything is sent (the Access driver cannot take it); the rest is written', async () => {
    const sent: string[] = [];
    const wrap: OdbcModule = {
      connect: async (cs: string) => {
        const c = await odbc!.connect(cs);
        return {
          ...c,
          query: (sql: string) => (sent.push(sql), c.query(sql)),
          columns: (...a) => c.columns(...a),
          beginTransaction: () => c.beginTransaction(),
          commit: () => c.commit(),
          rollback: () => c.rollback(),
          close: () => c.close(),
        };
      },
    };
    sink = createAccessSink({ connectionString: mirror.connectionString, odbc: wrap, unknownBadge: 'create' });
    const bad = [
      makeRecord(0, { userId: 'x|y', localTime: '2024-08-03T08:00:00' }),
      makeRecord(0, { deviceSn: 'SN|1', localTime: '2024-08-03T08:00:01' }),
    ];
    const res = await sink.write([...bad, makeRecord(0, { localTime: '2024-08-03T08:00:02' })]);
    assert.equal(res.inserted, 1);
    assert.deepEqual(
      res.rejected.map((r) => r.record),
      bad,
    );
    assert.match(
      res.rejected[0].reason,
      /userId: contains \| \(the Access ODBC driver cannot take a \| in a text value\)/,
    );
    assert.match(res.rejected[1].reason, /sn: contains \|/);
    assert.ok(!sent.some((sql) => sql.includes('|')), 'no statement carried a |');
  });

  it('maxBatch is bounded: a value past 1,000 is a configuration error naming the option', () => {
    for (const maxBatch of [0, 1001, 1.5, 100_000]) {
      assert.throws(
        () => createAccessSink({ connectionString: mirror.connectionString, odbc: odbc!, maxBatch }),
        /Access: maxBatch must be a whole number from 1 to 1000/,
      );
    }
  });

  it('through the delivery loop: a record the database refuses with an error that looks temporary is set aside, the rest written', async () => {
    // The database refuses one value with an error the sink cannot class (as the Access driver does with |):
    // before, it was retried forever and every punch behind it waited.
    await q(
      "CREATE TRIGGER refuse_tilde BEFORE INSERT ON CHECKINOUT WHEN NEW.sn LIKE '%~%' BEGIN SELECT RAISE(ABORT, 'Invalid character in string'); END",
    );
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pf-access-loop-'));
    const box = await Outbox.open<AttendanceRecord>(dir);
    sink = createAccessSink({ connectionString: mirror.connectionString, odbc: odbc! });
    const rejected: RejectedRecord[] = [];
    const loop = new DeliveryLoop({
      sink,
      outbox: box,
      batchSize: 50,
      flushIntervalMs: 20,
      backoff: { baseMs: 10, maxMs: 50 },
      isolateAfter: 3,
      random: () => 0,
      onRejected: (r) => rejected.push(...r),
    });
    try {
      const recs = Array.from({ length: 20 }, (_, i) =>
        makeRecord(0, {
          userId: String(1 + (i % 3)),
          localTime: `2024-08-04T08:${String(i).padStart(2, '0')}:00`,
          deviceSn: i === 7 ? 'SN~BAD' : 'OID6110056101900165',
        }),
      );
      loop.start();
      await box.append(recs);
      await until(() => box.pending === 0);
      assert.deepEqual(
        rejected.map((r) => r.record.id),
        [recs[7].id],
      );
      assert.match(
        rejected[0].reason,
        /Invalid character in string.*\(failed 3 times in a row on its own while the target took the other records/,
      );
      assert.equal(await count("WHERE CHECKTIME >= '2024-08-04'"), 19);
    } finally {
      await loop.stop();
      await box.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
