/**
 * The SQL Server sink against a real server: runs only when PUNCHFLOW_MSSQL_URL is set
 * (e.g. mssql://sa:Passw0rd!@127.0.0.1:1433/master?encrypt=false&trustServerCertificate=true).
 * It creates a scratch database at COMPATIBILITY_LEVEL = 100 (SQL Server 2008) so level-gated syntax fails
 * here, writes through the sink, reads back with T-SQL, and drops the database.
 */
import { strict as assert } from 'node:assert';
import { createMssqlSink, parseMssqlUrl, MssqlSink } from '../../lib/sinks/mssql';
import { buildCreateTableSql } from '../../lib/sinks/mssql-sql';
import { SinkError } from '../../lib/sinks/types';
import { makeRecord, makeRecords, NASTY_STRINGS } from '../support/records';

const URL_ENV = process.env.PUNCHFLOW_MSSQL_URL;
const suite = URL_ENV ? describe : describe.skip;

interface Pool {
  connect(): Promise<Pool>;
  close(): Promise<void>;
  request(): {
    query(sql: string): Promise<{ recordset: Record<string, unknown>[] }>;
    batch(sql: string): Promise<unknown>;
  };
}

suite(
  `mssql sink against a real SQL Server${URL_ENV ? '' : ' (skipped: PUNCHFLOW_MSSQL_URL is not set)'}`,
  function () {
    this.timeout(60000);
    const base = URL_ENV ? parseMssqlUrl(URL_ENV) : {};
    const db = `punchflow_test_${process.pid}_${Date.now() % 100000}`;
    let admin: Pool;
    let sink: MssqlSink;

    const connectTo = async (database: string): Promise<Pool> => {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const m = require('mssql') as { ConnectionPool: new (c: Record<string, unknown>) => Pool };
      const p = new m.ConnectionPool({
        server: base.server,
        port: base.port,
        user: base.user,
        password: base.password,
        database,
        options: {
          encrypt: base.encrypt ?? false,
          trustServerCertificate: base.trustServerCertificate ?? true,
          instanceName: base.instanceName,
        },
      });
      return p.connect();
    };
    const run = async (...batches: string[]): Promise<void> => {
      const p = await connectTo(db);
      try {
        for (const b of batches) await p.request().batch(b);
      } finally {
        await p.close();
      }
    };
    const query = async (sql: string): Promise<Record<string, unknown>[]> => {
      const p = await connectTo(db);
      try {
        return (await p.request().query(sql)).recordset;
      } finally {
        await p.close();
      }
    };

    before(async () => {
      admin = await connectTo(base.database ?? 'master');
      await admin.request().batch(`CREATE DATABASE [${db}]`);
      await admin.request().batch(`ALTER DATABASE [${db}] SET COMPATIBILITY_LEVEL = 100`);
    });
    after(async () => {
      await sink?.close();
      if (admin) {
        await admin
          .request()
          .batch(`ALTER DATABASE [${db}] SET SINGLE_USER WITH ROLLBACK IMMEDIATE; DROP DATABASE [${db}]`)
          .catch(() => undefined);
        await admin.close();
      }
    });
    beforeEach(() => {
      sink = createMssqlSink({
        url: URL_ENV,
        database: db,
        createTable: true,
        encrypt: base.encrypt ?? false,
        trustServerCertificate: base.trustServerCertificate ?? true,
      });
    });
    afterEach(async () => sink.close());

    it('creates the table, writes, and a second write of the same records inserts nothing', async () => {
      const recs = makeRecords(1000);
      assert.deepEqual(await sink.write(recs), { inserted: 1000, duplicates: 0, rejected: [] });
      assert.deepEqual(await sink.write(recs), { inserted: 0, duplicates: 1000, rejected: [] });
      const [{ n }] = await query('SELECT COUNT(*) AS n FROM dbo.attendance_log');
      assert.equal(n, 1000);
    });

    it('stores the wall clock unchanged and metacharacters verbatim', async () => {
      const recs = NASTY_STRINGS.map((s, i) =>
        makeRecord(0, {
          userId: s.slice(0, 24),
          deviceName: s,
          site: s,
          localTime: `2030-03-31T02:30:${String(i).padStart(2, '0')}`,
        }),
      );
      assert.equal((await sink.write(recs)).inserted, recs.length);
      const rows = await query(
        "SELECT user_id, device_name, site, CONVERT(varchar(19), local_time, 120) AS lt FROM dbo.attendance_log WHERE local_time >= '2030-01-01' ORDER BY local_time",
      );
      assert.deepEqual(
        rows.map((r) => r.device_name),
        NASTY_STRINGS,
      );
      assert.equal(rows[0].lt, '2030-03-31 02:30:00');
      const [{ n }] = await query("SELECT COUNT(*) AS n FROM sys.tables WHERE name = 'attendance_log'");
      assert.equal(n, 1, 'the table survived');
    });

    it('two sinks writing overlapping batches concurrently store each key once', async () => {
      const other = createMssqlSink({
        url: URL_ENV,
        database: db,
        encrypt: base.encrypt ?? false,
        trustServerCertificate: base.trustServerCertificate ?? true,
      });
      try {
        const recs = makeRecords(600, { over: { deviceSn: 'RACE' } });
        const [a, b] = await Promise.all([sink.write(recs), other.write(recs.slice().reverse())]);
        assert.equal(a.inserted + b.inserted, 600);
        const [{ n }] = await query("SELECT COUNT(*) AS n FROM dbo.attendance_log WHERE device_sn = 'RACE'");
        assert.equal(n, 600);
      } finally {
        await other.close();
      }
    });

    it('PINs that differ only in case are different keys (binary collation)', async () => {
      const res = await sink.write([
        makeRecord(0, { userId: 'ab', deviceSn: 'CASE' }),
        makeRecord(0, { userId: 'AB', deviceSn: 'CASE' }),
      ]);
      assert.equal(res.inserted, 2);
    });
    it('an impossible date ends the transaction (241): the batch fails as permanent, the record alone is rejected', async () => {
      const good = makeRecord(0, { deviceSn: 'BADDATE' });
      const bad = makeRecord(0, { deviceSn: 'BADDATE', userId: '2', localTime: '2023-02-29T09:00:00' });
      await assert.rejects(
        sink.write([good, bad]),
        (e: unknown) => e instanceof SinkError && e.permanent && /241/.test(e.message),
      );
      await assert.rejects(
        sink.write([bad]),
        (e: unknown) =>
          e instanceof SinkError && e.permanent && /^SQL Server rejected the record: .*\(error 241\)/.test(e.message),
      );
      assert.deepEqual(await sink.write([good]), { inserted: 1, duplicates: 0, rejected: [] });
      const [{ n }] = await query("SELECT COUNT(*) AS n FROM dbo.attendance_log WHERE device_sn = 'BADDATE'");
      assert.equal(n, 1);
    });

    it('an existing table without a unique key on the key columns is refused', async () => {
      await run(buildCreateTableSql('dbo', 'nokey'), 'ALTER TABLE dbo.nokey DROP CONSTRAINT UQ_nokey_punch');
      const s = createMssqlSink({
        url: URL_ENV,
        database: db,
        table: 'nokey',
        encrypt: base.encrypt ?? false,
        trustServerCertificate: base.trustServerCertificate ?? true,
      });
      try {
        await assert.rejects(
          s.open(),
          (e: unknown) =>
            e instanceof SinkError &&
            !e.permanent &&
            /needs a unique index on \(device_sn, user_id, local_time\)/.test(e.message),
        );
      } finally {
        await s.close();
      }
    });

    it('an AFTER INSERT trigger does not change the inserted and duplicate counts', async () => {
      await run(
        buildCreateTableSql('dbo', 'trig'),
        'CREATE TABLE dbo.trig_audit (n INT NOT NULL)',
        'CREATE TRIGGER dbo.trig_after_insert ON dbo.trig AFTER INSERT AS INSERT INTO dbo.trig_audit (n) SELECT 1 FROM inserted',
      );
      const s = createMssqlSink({
        url: URL_ENV,
        database: db,
        table: 'trig',
        encrypt: base.encrypt ?? false,
        trustServerCertificate: base.trustServerCertificate ?? true,
      });
      try {
        const recs = makeRecords(300);
        assert.deepEqual(await s.write(recs), { inserted: 300, duplicates: 0, rejected: [] });
        assert.deepEqual(await s.write(recs), { inserted: 0, duplicates: 300, rejected: [] });
        const [{ n }] = await query('SELECT COUNT(*) AS n FROM dbo.trig_audit');
        assert.equal(n, 300);
      } finally {
        await s.close();
      }
    });
  },
);
