/**
 * The MySQL sink against a real, throwaway MariaDB (support/mariadb.ts): idempotency, capture-path
 * shapes, SQL metacharacters, zone safety, column mapping, create-if-missing, data errors.
 */
import { strict as assert } from 'assert';
import { spawn } from 'child_process';
import * as path from 'path';
import type { Pool, RowDataPacket } from 'mysql2/promise';
import { toCanonicalRecord, AttendanceRecord } from '../../lib/record';
import { createMysqlSink, MysqlSinkError, MysqlSinkOptions } from '../../lib/sinks/mysql';
import { MYSQL_ATTENDANCE_LOG_DDL } from '../../lib/sinks/mysql-sql';
import type { Sink } from '../../lib/sinks/types';
import { MariaDbServer, sharedMariaDb, stopSharedMariaDb, testPool } from '../../support/mariadb';
import { syntheticRecord, syntheticRecords } from '../../support/sink-records';

after(stopSharedMariaDb);

// Every test runs on both write paths: the multi-row INSERT, and LOAD DATA LOCAL INFILE forced for any batch size.
for (const mode of [
  { name: 'multi-row INSERT', extra: { bulkLoadMinRows: 0 } },
  { name: 'LOAD DATA bulk path', extra: { bulkLoadMinRows: 1 } },
] as const)
  describe(`mysql sink against MariaDB (${mode.name})`, function () {
    this.timeout(60000);
    let db: MariaDbServer;
    let pool: Pool;
    const sinks: Sink[] = [];

    before(async function () {
      const s = await sharedMariaDb();
      if (!s) return this.skip();
      db = s;
      pool = testPool(db);
    });
    after(async () => {
      await pool?.end();
    });
    beforeEach(async () => {
      if (pool) await pool.query('DROP TABLE IF EXISTS attendance_log');
    });
    afterEach(async () => {
      await Promise.all(sinks.splice(0).map((s) => s.close()));
    });

    function sink(extra: Partial<MysqlSinkOptions> = {}): Sink {
      const s = createMysqlSink({
        host: db.host,
        port: db.port,
        user: db.user,
        password: db.password,
        database: db.database,
        createTable: true,
        ...mode.extra,
        ...extra,
      });
      sinks.push(s);
      return s;
    }
    async function rows<T = RowDataPacket>(sql: string, params: unknown[] = []): Promise<T[]> {
      const [r] = await pool.query<RowDataPacket[]>(sql, params);
      return r as unknown as T[];
    }
    async function count(table = 'attendance_log'): Promise<number> {
      return Number((await rows<{ n: number }>(`SELECT COUNT(*) AS n FROM \`${table}\``))[0].n);
    }

    it('creates the table if missing with the documented DDL, and refuses to start on a missing table otherwise', async () => {
      const noCreate = sink({ createTable: false });
      await assert.rejects(noCreate.open(), (err: unknown) => {
        assert.ok(err instanceof MysqlSinkError);
        assert.equal(err.kind, 'config');
        assert.equal(err.permanent, false); // held in the outbox, not sent to the error output
        assert.match(err.message, /table `attendance_log` not found/);
        return true;
      });
      await sink().open();
      const created = (await rows<{ 'Create Table': string }>('SHOW CREATE TABLE attendance_log'))[0]['Create Table'];
      assert.match(created, /UNIQUE KEY `uk_punch` \(`device_sn`,`user_id`,`local_time`\)/);
      assert.match(created, /`user_id` varchar\(24\) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL/);
      // The cited constant is accepted by the server as it is.
      await pool.query('DROP TABLE attendance_log');
      await pool.query(MYSQL_ATTENDANCE_LOG_DDL);
      await sink({ createTable: false }).open();
    });

    it('writes 2,500 records in chunks, and the same records again change nothing (counts from the server)', async () => {
      const s = sink({ rowsPerStatement: 1000 });
      const recs = syntheticRecords(2500);
      assert.deepEqual(await s.write(recs), { inserted: 2500, duplicates: 0, rejected: [] });
      assert.deepEqual(await s.write(recs), { inserted: 0, duplicates: 2500, rejected: [] });
      // Half old, half new, plus the same key twice inside the batch.
      const mixed = [...syntheticRecords(500, { from: 2000 }), syntheticRecord(2600), syntheticRecord(2600)];
      assert.deepEqual(await s.write(mixed), { inserted: 1, duplicates: 501, rejected: [] });
      assert.equal(await count(), 2501);
      const [one] = await rows('SELECT * FROM attendance_log WHERE device_sn = ? AND user_id = ? AND local_time = ?', [
        'SIM1000000000',
        '100',
        '2025-03-01 08:00:00',
      ]);
      assert.deepEqual(
        { ...one, id: undefined },
        {
          id: undefined,
          device_sn: 'SIM1000000000',
          device_name: 'Gate 1',
          site: 'HQ',
          device_host: '127.0.0.1:4370',
          user_id: '100',
          uid: 1,
          local_time: '2025-03-01 08:00:00',
          ts_utc: '2025-03-01 08:00:00',
          tz: 'UTC',
          state: 0,
          direction: 'in',
          verify: 1,
          verify_method: 'fingerprint',
          work_code: 0,
          source: 'poll',
          received_at: '2025-03-01 09:00:00.123',
        },
      );
    });

    it('stores the same punch from poll, live and push once', async () => {
      const time = { year: 2025, month: 6, day: 2, hour: 8, minute: 59, second: 58 };
      const ctx = { deviceSn: 'CQZ7232360161', deviceName: 'Front door', site: 'Pune', tz: 'Asia/Kolkata' };
      const poll = toCanonicalRecord(
        { uid: 7, userId: '1007', verify: 1, state: 0, time, rawTime: 0, workCode: 0 },
        { ...ctx, deviceHost: '10.0.0.5:4370', source: 'poll' },
      );
      const live = toCanonicalRecord(
        {
          kind: 'attendance',
          code: 1,
          userId: '1007',
          userNumber: null,
          userResolved: true,
          verify: 1,
          state: 0,
          stateByte: 0,
          time,
          timeValid: true,
          bodyLength: 36,
          extra: Buffer.alloc(0),
        } as never,
        { ...ctx, deviceHost: '10.0.0.5:4370', source: 'live' },
      );
      assert.ok(poll.ok && live.ok);
      const push: AttendanceRecord = {
        ...poll.record,
        deviceHost: null,
        uid: null,
        source: 'push',
        deviceName: null,
        receivedAt: '2025-06-02T03:30:01.500Z',
      };
      assert.equal(poll.record.id, live.record.id);
      assert.equal(poll.record.id, push.id);
      const s = sink();
      assert.deepEqual(await s.write([live.record]), { inserted: 1, duplicates: 0, rejected: [] });
      assert.deepEqual(await s.write([poll.record, push]), { inserted: 0, duplicates: 2, rejected: [] });
      const all = await rows<{ source: string; local_time: string; ts_utc: string }>(
        'SELECT source, local_time, ts_utc FROM attendance_log',
      );
      assert.deepEqual(
        all.map((r) => ({ ...r })),
        [{ source: 'live', local_time: '2025-06-02 08:59:58', ts_utc: '2025-06-02 03:29:58' }],
      );
    });

    it('keeps keys byte-exact: case and trailing spaces make different users', async () => {
      const base = syntheticRecord(0);
      const ids = ['A12', 'a12', 'A12 ', ' A12'];
      const recs = ids.map((userId) => ({ ...base, userId, id: `${base.deviceSn}|${userId}|${base.localTime}` }));
      assert.deepEqual(await sink().write(recs), { inserted: 4, duplicates: 0, rejected: [] });
      assert.deepEqual(
        (await rows<{ user_id: string }>('SELECT user_id FROM attendance_log ORDER BY user_id'))
          .map((r) => r.user_id)
          .sort(),
        [...ids].sort(),
      );
    });

    it('lands SQL metacharacters verbatim in every text field and the tables survive', async () => {
      await pool.query('CREATE TABLE IF NOT EXISTS sentinel (x INT)');
      const evil = "'; DROP TABLE attendance_log; --";
      const texts = [
        evil,
        "x';DROP TABLE sentinel;#",
        `\\'; SELECT 1; -- \\\\`,
        '"`)\u0000\n\r\t\x1a%_',
        "Robert'); DROP TABLE Students;--",
        'ñ漢字😀\'"',
      ];
      const recs: AttendanceRecord[] = texts.map((t, i) => {
        const userId = t.slice(0, 24);
        const deviceSn = `${t}#${i}`;
        const localTime = '2025-01-01T00:00:0' + i;
        return {
          ...syntheticRecord(i),
          id: `${deviceSn}|${userId}|${localTime}`,
          deviceSn,
          userId,
          localTime,
          deviceName: t,
          site: t,
          deviceHost: t,
          tz: t.slice(0, 64),
          direction: "'--" as never,
          verifyMethod: "';#" as never,
          source: "'\\" as never,
        };
      });
      const s = sink();
      assert.deepEqual(await s.write(recs), { inserted: recs.length, duplicates: 0, rejected: [] });
      assert.deepEqual(await s.write(recs), { inserted: 0, duplicates: recs.length, rejected: [] });
      const back = await rows<Record<string, string>>(
        'SELECT device_sn, user_id, device_name, site, device_host, tz, direction, verify_method, source FROM attendance_log ORDER BY local_time',
      );
      assert.deepEqual(
        back.map((r) => ({ ...r })),
        recs.map((r) => ({
          device_sn: r.deviceSn,
          user_id: r.userId,
          device_name: r.deviceName,
          site: r.site,
          device_host: r.deviceHost,
          tz: r.tz,
          direction: r.direction,
          verify_method: r.verifyMethod,
          source: r.source,
        })),
      );
      assert.equal(await count('sentinel'), 0);
      await pool.query('DROP TABLE sentinel');
    });

    it('rejects, never truncates, a too-long value, naming the field; the rest of the batch is written', async () => {
      const good = syntheticRecords(3);
      const long = { ...syntheticRecord(10), userId: '1234567890123456789012345' };
      long.id = `${long.deviceSn}|${long.userId}|${long.localTime}`;
      const badTime = { ...syntheticRecord(11), localTime: '2025-02-30T08:00:00' };
      const res = await sink().write([good[0], long, good[1], badTime, good[2]]);
      assert.equal(res.inserted, 3);
      assert.deepEqual(
        res.rejected.map((r) => [r.record, r.reason.split(':')[0]]),
        [
          [long, 'userId'],
          [badTime, 'localTime'],
        ],
      );
      assert.match(res.rejected[0].reason, /25 characters exceed column user_id's 24/);
      assert.equal(await count(), 3);
    });

    it('a batch converted ahead by prepare() writes exactly what a cold write() does', async () => {
      const good = syntheticRecords(30);
      const long = { ...syntheticRecord(40), userId: 'x'.repeat(25) };
      const badTime = { ...syntheticRecord(41), localTime: '2025-13-01T08:00:00' };
      const batch = () => [good[0], long, ...good.slice(1, 20), good[3], badTime, ...good.slice(20)];
      const table = async () =>
        rows(
          'SELECT device_sn, user_id, local_time, ts_utc, received_at, state FROM attendance_log ORDER BY device_sn, user_id, local_time',
        );

      const cold = sink();
      await cold.write(good.slice(25)); // some rows already there: duplicates on the second write
      const coldResult = await cold.write(batch());
      const coldRows = await table();
      await cold.close();
      await pool.query('DROP TABLE attendance_log');

      const warm = sink();
      const early = batch();
      warm.prepare?.(early); // before open(): nothing known yet, a no-op
      await warm.open();
      await warm.write(good.slice(25));
      const b = batch();
      warm.prepare?.(b);
      const warmResult = await warm.write(b);
      assert.deepEqual(warmResult, coldResult);
      assert.deepEqual(await table(), coldRows);
      assert.equal(warmResult.inserted, 25);
      assert.equal(warmResult.duplicates, 6); // one repeated inside the batch, five already in the table
      assert.deepEqual(
        warmResult.rejected.map((r) => r.reason.split(':')[0]),
        ['userId', 'localTime'],
      );
      // The same array written again is converted again (prepare()'s work is used once), all duplicates now.
      assert.deepEqual(await warm.write(b), { inserted: 0, duplicates: 31, rejected: warmResult.rejected });
      await warm.close();
      assert.doesNotThrow(() => warm.prepare?.(batch()));
    });

    it('isolates records the server refuses (a CHECK constraint) by splitting the statement, in one transaction', async () => {
      await sink().open();
      await pool.query('ALTER TABLE attendance_log ADD CONSTRAINT state_small CHECK (state < 100)');
      const recs = syntheticRecords(40);
      recs[5] = { ...recs[5], state: 200 };
      recs[31] = { ...recs[31], state: 201 };
      const res = await sink({ createTable: false }).write(recs);
      assert.equal(res.inserted, 38);
      assert.deepEqual(
        res.rejected.map((r) => r.record.state),
        [200, 201],
      );
      assert.match(res.rejected[0].reason, /state_small/);
      assert.equal(await count(), 38);
    });

    it('maps fields onto a customer table with its own names, types and unique key', async () => {
      await pool.query('DROP TABLE IF EXISTS punches');
      await pool.query(`CREATE TABLE punches (
      pk INT AUTO_INCREMENT PRIMARY KEY, emp_code VARCHAR(10) NOT NULL, terminal VARCHAR(64) NOT NULL,
      punch_at DATETIME NOT NULL, kind VARCHAR(16), record_id VARCHAR(200), imported TINYINT NOT NULL DEFAULT 1,
      UNIQUE KEY (terminal, emp_code, punch_at))`);
      const columns = {
        userId: 'emp_code',
        deviceSn: 'terminal',
        localTime: 'punch_at',
        direction: 'kind',
        id: 'record_id',
        deviceName: null,
        site: null,
        deviceHost: null,
        uid: null,
        timestamp: null,
        tz: null,
        state: null,
        verify: null,
        verifyMethod: null,
        workCode: null,
        source: null,
        receivedAt: null,
      };
      const s = sink({ table: 'punches', createTable: false, columns });
      const recs = syntheticRecords(5);
      assert.deepEqual(await s.write(recs), { inserted: 5, duplicates: 0, rejected: [] });
      assert.deepEqual(await s.write(recs), { inserted: 0, duplicates: 5, rejected: [] });
      const back = await rows<Record<string, unknown>>(
        'SELECT emp_code, terminal, punch_at, kind, record_id, imported FROM punches ORDER BY pk LIMIT 1',
      );
      assert.deepEqual(
        { ...back[0] },
        {
          emp_code: '100',
          terminal: 'SIM1000000000',
          punch_at: '2025-03-01 08:00:00',
          kind: 'in',
          record_id: recs[0].id,
          imported: 1,
        },
      );
      // The introspected length (10) applies to the mapped column.
      const long = { ...recs[0], userId: '12345678901' };
      assert.match((await s.write([long])).rejected[0].reason, /userId: 11 characters exceed column emp_code's 10/);

      const missing = sink({ table: 'punches', createTable: false, columns: { ...columns, site: 'branch' } });
      await assert.rejects(missing.open(), /table `punches` has no column branch \(site\)/);
      await pool.query('ALTER TABLE punches DROP INDEX terminal');
      const noKey = sink({ table: 'punches', createTable: false, columns });
      await assert.rejects(
        noKey.open(),
        (err: unknown) =>
          err instanceof MysqlSinkError &&
          err.kind === 'config' &&
          /needs a UNIQUE KEY on \(terminal, emp_code, punch_at\)/.test(err.message),
      );
      await pool.query('DROP TABLE punches');
    });

    it('writes the device wall clock unchanged when the Node process runs in Asia/Kolkata', async () => {
      await sink().open();
      const recs = [
        syntheticRecord(0, { start: '2025-03-30T02:30:00', offsetMin: 330, tz: 'Asia/Kolkata' }), // a Europe DST gap: irrelevant, verbatim
        syntheticRecord(1, { start: '2024-12-31T23:59:59', offsetMin: 330, tz: 'Asia/Kolkata' }),
      ];
      const script = `
      const { createMysqlSink } = require(${JSON.stringify(path.resolve(__dirname, '../../lib/sinks/mysql'))});
      (async () => {
        const s = createMysqlSink(JSON.parse(process.env.SINK_OPTIONS));
        const res = await s.write(JSON.parse(process.env.RECORDS));
        await s.close();
        process.stdout.write(JSON.stringify({ offset: new Date(2025, 0, 1).getTimezoneOffset(), res }));
      })().catch((e) => { console.error(e); process.exit(1); });`;
      const out = await new Promise<string>((resolve, reject) => {
        const child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', '-e', script], {
          cwd: path.resolve(__dirname, '../..'),
          env: {
            ...process.env,
            TZ: 'Asia/Kolkata',
            RECORDS: JSON.stringify(recs),
            SINK_OPTIONS: JSON.stringify({
              host: db.host,
              port: db.port,
              user: db.user,
              password: db.password,
              database: db.database,
              ...mode.extra,
            }),
          },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
        child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        child.on('error', reject);
        child.on('close', (code) =>
          code === 0 ? resolve(stdout) : reject(new Error(`child exited ${code}: ${stderr}`)),
        );
      });
      const result = JSON.parse(out) as { offset: number; res: { inserted: number } };
      assert.equal(result.offset, -330, 'the child really ran in Asia/Kolkata');
      assert.equal(result.res.inserted, 2);
      const back = await rows<{ local_time: string; ts_utc: string }>(
        'SELECT local_time, ts_utc FROM attendance_log ORDER BY ts_utc',
      );
      assert.deepEqual(
        back.map((r) => [r.local_time, r.ts_utc]),
        [
          ['2024-12-31 23:59:59', '2024-12-31 18:29:59'],
          ['2025-03-30 02:30:00', '2025-03-29 21:00:00'],
        ],
      );
      // And the key still matches from a process in UTC: a re-send is a duplicate, not a second row.
      assert.deepEqual(await sink().write(recs), { inserted: 0, duplicates: 2, rejected: [] });
    });

    it('fails transiently while the server is down and writes once it is back', async () => {
      const s = sink({ connectTimeoutMs: 2000 });
      await s.open();
      await db.stop();
      try {
        await assert.rejects(
          s.write(syntheticRecords(10)),
          (err: unknown) => err instanceof MysqlSinkError && err.kind === 'transient' && !err.permanent,
        );
      } finally {
        await db.start();
      }
      assert.deepEqual(await s.write(syntheticRecords(10)), { inserted: 10, duplicates: 0, rejected: [] });
    });
  });

describe('mysql sink bulk path (LOAD DATA LOCAL INFILE) safety', function () {
  this.timeout(60000);

  it('falls back to multi-row INSERTs, logging once, when the server has local_infile off', async function () {
    if (!(await sharedMariaDb())) return this.skip();
    const db = await MariaDbServer.create({ serverArgs: ['--local-infile=0'] });
    const logs: string[] = [];
    const s = createMysqlSink(
      {
        host: db.host,
        port: db.port,
        user: db.user,
        password: db.password,
        database: db.database,
        createTable: true,
        bulkLoadMinRows: 1,
      },
      (level, message) => {
        if (level === 'info' && message.includes('LOAD DATA')) logs.push(message);
      },
    );
    try {
      assert.deepEqual(await s.write(syntheticRecords(300)), { inserted: 300, duplicates: 0, rejected: [] });
      assert.deepEqual(await s.write(syntheticRecords(600)), { inserted: 300, duplicates: 300, rejected: [] });
      assert.equal(logs.length, 1, logs.join('\n'));
      const [[{ n }]] = (await db.rootQuery([`SELECT COUNT(*) AS n FROM \`${db.database}\`.attendance_log`])) as [
        { n: number }[],
      ];
      assert.equal(Number(n), 600);
    } finally {
      await s.close();
      await db.destroy();
    }
  });

  it('never commits what LOAD DATA … IGNORE would skip or alter: a server-side refusal rolls the load back, the multi-row path rejects the record', async function () {
    const db = await sharedMariaDb();
    if (!db) return this.skip();
    const pool = testPool(db);
    try {
      await pool.query('DROP TABLE IF EXISTS attendance_log');
      await pool.query(MYSQL_ATTENDANCE_LOG_DDL);
      // A CHECK constraint makes the server (not our own checks) refuse a row; LOAD DATA … IGNORE would turn
      // that into a skipped row plus a warning, which must not be counted as a duplicate or committed.
      await pool.query("ALTER TABLE attendance_log ADD CONSTRAINT no_x CHECK (user_id <> 'x-refused')");
      const s = createMysqlSink({
        host: db.host,
        port: db.port,
        user: db.user,
        password: db.password,
        database: db.database,
        bulkLoadMinRows: 1,
      });
      try {
        const recs = syntheticRecords(50);
        const bad = { ...recs[10], userId: 'x-refused', id: 'bad' };
        const res = await s.write([...recs, bad]);
        assert.equal(res.inserted, 50);
        assert.equal(res.duplicates, 0);
        assert.deepEqual(
          res.rejected.map((r) => r.record),
          [bad],
        );
        const [rows] = await pool.query<RowDataPacket[]>('SELECT COUNT(*) AS n FROM attendance_log');
        assert.equal(Number(rows[0].n), 50);
      } finally {
        await s.close();
      }
      await pool.query('DROP TABLE attendance_log');
    } finally {
      await pool.end();
    }
  });
});
