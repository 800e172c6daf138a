/**
 * The SQL Server sink over the wire against the in-process fake TDS server (test/sinks/fake-tds.ts): connection,
 * pooling, the transaction per batch, the statements and typed parameters actually sent, and error handling.
 * The fake's table simulation models NOT EXISTS on the unique key; real T-SQL semantics are the real suite's job.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startFakeTds, FakeTdsServer, TdsRequest } from './fake-tds';
import { attachTable, FakeTable, FakeTableOptions } from './fake-mssql-table';
import { createMssqlSink, MssqlSink } from '../../lib/sinks/mssql';
import { defaultTableSpec } from '../../lib/sinks/mssql-sql';
import { RejectedRecord, SinkError } from '../../lib/sinks/types';
import { Outbox } from '../../lib/sinks/outbox';
import { DeliveryLoop, DeliveryReport } from '../../lib/sinks/delivery';
import type { AttendanceRecord } from '../../lib/record';
import { until } from '../../support/wait';
import { makeRecord, makeRecords, NASTY_STRINGS } from '../support/records';

const isInsert = (req: TdsRequest): boolean => /\bINSERT INTO\b/.test(req.sql);

describe('mssql sink against the fake TDS server', function () {
  this.timeout(20000);
  let server: FakeTdsServer;
  let table: FakeTable;
  let sink: MssqlSink;
  const spec = defaultTableSpec('dbo', 'attendance_log');

  const make = (extra: Record<string, unknown> = {}): MssqlSink =>
    createMssqlSink({
      server: '127.0.0.1',
      port: server.port,
      database: 'zk',
      user: 'pf',
      password: 'secret',
      encrypt: false,
      connectTimeoutMs: 3000,
      requestTimeoutMs: 3000,
      ...extra,
    });

  beforeEach(async () => {
    server = await startFakeTds();
    table = attachTable(server, spec);
    sink = make();
  });
  afterEach(async () => {
    await sink.close();
    await server.close();
  });

  it('opens, discovers the columns, writes a batch in one transaction and reports inserted', async () => {
    await sink.open();
    assert.equal(sink.spec?.columns.length, 16);
    const recs = makeRecords(300);
    const res = await sink.write(recs);
    assert.deepEqual(res, { inserted: 300, duplicates: 0, rejected: [] });
    assert.equal(table.rows.size, 300);
    // 300 rows × 16 columns = 3 statements (131 + 131 + 38), all inside one begin/commit on one connection.
    assert.equal(table.inserts.length, 3);
    assert.deepEqual(
      table.inserts.map((r) => r.params.length / 16),
      [131, 131, 38],
    );
    for (const r of table.inserts) assert.ok(r.params.length <= 2098);
    const ops = server.transactions.map((t) => t.op);
    assert.deepEqual(ops, ['begin', 'commit']);
    assert.ok(table.inserts.every((r) => r.connectionId === server.transactions[0].connectionId));
    // Declared types travel on the wire: NVARCHAR(24) user_id (48 bytes), VARCHAR(19) local_time, TINYINT state.
    const first = table.inserts[0];
    assert.match(
      first.declarations,
      /^@p0 nvarchar\(64\), @p1 nvarchar\(128\), @p2 nvarchar\(128\), @p3 nvarchar\(300\), @p4 nvarchar\(24\), @p5 int, @p6 varchar\(19\), @p7 varchar\(19\), @p8 nvarchar\(64\), @p9 tinyint,/,
    );
    assert.deepEqual(first.params[4], { name: '@p4', wireType: 'nvarchar', maxLength: 48, value: '1' });
    assert.deepEqual(first.params[6], {
      name: '@p6',
      wireType: 'varchar',
      maxLength: 19,
      value: '2024-03-01 08:00:00',
    });
    assert.ok(server.requests.some((r) => r.sql === 'SET XACT_ABORT OFF; SET NOCOUNT OFF;'));
  });

  it('is idempotent: the same records twice give one row each (second write: all duplicates)', async () => {
    const recs = makeRecords(150);
    assert.equal((await sink.write(recs)).inserted, 150);
    const again = await sink.write([...recs, ...recs.slice(0, 10)]);
    assert.deepEqual(again, { inserted: 0, duplicates: 160, rejected: [] });
    assert.equal(table.rows.size, 150);
    const mixed = await sink.write([...recs.slice(0, 5), ...makeRecords(5, { over: { deviceSn: 'OTHER' } })]);
    assert.deepEqual(mixed, { inserted: 5, duplicates: 5, rejected: [] });
  });

  it('times are sent as the device wall clock whatever the Node zone is', async () => {
    const old = process.env.TZ;
    process.env.TZ = 'Pacific/Kiritimati';
    try {
      await sink.write([makeRecord(0, { localTime: '2024-03-31T02:30:00' })]);
    } finally {
      if (old === undefined) delete process.env.TZ;
      else process.env.TZ = old;
    }
    const row = [...table.rows.values()][0];
    assert.equal(row.local_time, '2024-03-31 02:30:00');
    assert.equal(row.ts_utc, '2024-03-01 07:00:00');
  });

  it('SQL metacharacters in every text field land verbatim as parameter values', async () => {
    const recs = NASTY_STRINGS.map((s, i) =>
      makeRecord(0, {
        deviceSn: s,
        userId: s.slice(0, 24),
        deviceName: s,
        site: s,
        deviceHost: s,
        tz: s,
        localTime: `2024-03-01T09:00:${String(i).padStart(2, '0')}`,
      }),
    );
    const res = await sink.write(recs);
    assert.equal(res.inserted, recs.length);
    const stored = [...table.rows.values()];
    for (const s of NASTY_STRINGS) {
      const row = stored.find((r) => r.device_name === s);
      assert.ok(row, `row for ${s}`);
      assert.equal(row.device_sn, s);
      assert.equal(row.user_id, s.slice(0, 24));
      assert.equal(row.site, s);
      assert.equal(row.tz, s);
    }
    for (const r of table.inserts) for (const s of NASTY_STRINGS.slice(0, 6)) assert.ok(!r.sql.includes(s));
  });

  it('creates the table when configured and missing', async () => {
    await server.close();
    server = await startFakeTds();
    table = attachTable(server, spec, undefined, false);
    await sink.close();
    sink = make();
    await assert.rejects(
      sink.open(),
      (e: unknown) =>
        e instanceof SinkError && !e.permanent && /table dbo\.attendance_log not found.*create table/.test(e.message),
    );
    await sink.close();
    sink = make({ createTable: true });
    await sink.open();
    const ddl = server.requests.find((r) => r.sql.startsWith('IF OBJECT_ID'));
    assert.ok(ddl && ddl.kind === 'batch');
    assert.equal((await sink.write(makeRecords(3))).inserted, 3);
  });

  it('a duplicate-key error (2627) is retried once, then row by row, counting duplicates', async () => {
    await sink.write(makeRecords(2));
    let failures = 0;
    table.inject = (req) => {
      // A concurrent writer: the first two attempts of the 3-row chunk hit the unique key.
      if (isInsert(req) && req.params.length === 3 * 16 && failures < 2) {
        failures++;
        return { error: { number: 2627, message: "Violation of UNIQUE KEY constraint 'UQ_attendance_log_punch'." } };
      }
      if (isInsert(req) && req.params.length === 16 && req.params[4].value === '2') {
        return { error: { number: 2601, message: 'Cannot insert duplicate key row' } };
      }
      return undefined;
    };
    const res = await sink.write(makeRecords(3));
    assert.equal(failures, 2);
    assert.deepEqual(res, { inserted: 1, duplicates: 2, rejected: [] });
    assert.deepEqual(server.transactions.slice(-1)[0].op, 'commit');
  });

  it('a data error isolates the bad record by halving; the rest commits', async () => {
    table.inject = (req) =>
      isInsert(req) && req.params.some((p) => p.value === '13')
        ? { error: { number: 8152, message: 'String or binary data would be truncated.' } }
        : undefined;
    const res = await sink.write(makeRecords(40));
    assert.equal(res.inserted, 39);
    assert.equal(res.duplicates, 0);
    assert.equal(res.rejected.length, 1);
    assert.equal(res.rejected[0].record.userId, '13');
    assert.match(res.rejected[0].reason, /truncated.*8152/);
    assert.equal(table.rows.size, 39);
  });

  it('a deadlock (1205) rolls the batch back and throws a transient SinkError; the retry commits', async () => {
    let once = true;
    table.inject = (req) => {
      if (once && isInsert(req) && table.inserts.length >= 1) {
        once = false;
        return { error: { number: 1205, message: 'Transaction was deadlocked', class: 13 } };
      }
      return undefined;
    };
    const recs = makeRecords(200);
    await assert.rejects(
      sink.write(recs),
      (e: unknown) =>
        e instanceof SinkError && !e.permanent && e.target === 'mssql' && /deadlocked.*1205/.test(e.message),
    );
    assert.equal(server.transactions.slice(-1)[0].op, 'rollback');
    assert.equal(table.rows.size, 0, 'the first chunk was rolled back');
    assert.deepEqual(await sink.write(recs), { inserted: 200, duplicates: 0, rejected: [] });
  });

  it('a connection dropped mid-request is transient; the next write reconnects', async () => {
    await sink.open();
    table.inject = (req) => (isInsert(req) ? { destroy: true } : undefined);
    await assert.rejects(sink.write(makeRecords(5)), (e: unknown) => e instanceof SinkError && !e.permanent);
    table.inject = null;
    assert.equal((await sink.write(makeRecords(5))).inserted, 5);
    assert.ok(server.connections >= 2);
  });

  it('an unreachable server is a transient error naming the host', async () => {
    const port = server.port;
    await sink.close();
    await server.close();
    const s = createMssqlSink({
      server: '127.0.0.1',
      port,
      database: 'zk',
      user: 'pf',
      password: 'secret',
      encrypt: false,
      connectTimeoutMs: 1000,
    });
    await assert.rejects(
      s.open(),
      (e: unknown) =>
        e instanceof SinkError && !e.permanent && /127\.0\.0\.1/.test(e.message) && !/secret/.test(e.message),
    );
    await s.close();
    server = await startFakeTds();
    table = attachTable(server, spec);
  });

  it('a custom mapping to an existing table with VARCHAR keys sends VarChar parameters', async () => {
    const custom = defaultTableSpec('hr', 'punch', { id: 'record_id', userId: 'pin' });
    for (const c of custom.columns) if (c.field === 'userId' || c.field === 'deviceSn') c.unicode = false;
    await server.close();
    server = await startFakeTds();
    table = attachTable(server, custom, ['device_sn', 'pin', 'local_time']);
    await sink.close();
    sink = make({ schema: 'hr', table: 'punch', columns: { id: 'record_id', userId: 'pin' } });
    const res = await sink.write([makeRecord(), makeRecord(0, { userId: 'Zoë' })]);
    assert.equal(res.inserted, 1);
    assert.equal(res.rejected.length, 1);
    const ins = table.inserts[0];
    assert.match(
      ins.sql,
      /^DECLARE @inserted TABLE \(n INT NOT NULL\);\nINSERT INTO \[hr\]\.\[punch\] \(\[record_id\], \[device_sn\], \[device_name\], \[site\], \[device_host\], \[pin\]/,
    );
    assert.deepEqual(ins.params[5], { name: '@p5', wireType: 'varchar', maxLength: 24, value: '1' });
    assert.equal([...table.rows.values()][0].record_id, 'OID6110056101900165|1|2024-03-01T08:00:00');
  });
  /** A fresh fake server (optionally with NOCOUNT on server-wide) and table (optionally shaped by `opts`). */
  async function restart(opts: FakeTableOptions = {}, nocount = false): Promise<void> {
    await sink.close();
    await server.close();
    server = await startFakeTds(undefined, { nocount });
    table = attachTable(server, spec, undefined, true, opts);
    sink = make();
  }

  it('an impossible date (241) ends the transaction: the record goes to the error output, the rest commits', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pf-mssql-'));
    const box = await Outbox.open<AttendanceRecord>(dir);
    const reports: DeliveryReport[] = [];
    const rejected: RejectedRecord[] = [];
    const transient: string[] = [];
    const loop = new DeliveryLoop({
      sink,
      outbox: box,
      batchSize: 1000,
      flushIntervalMs: 0,
      backoff: { baseMs: 10, maxMs: 200 },
      onCommit: (r) => reports.push(r),
      onRejected: (r) => rejected.push(...r),
      onTransientError: (e) => transient.push(e.message),
    });
    const recs = makeRecords(40);
    // The door is not asked here: the sink must hold on its own against what the server refuses.
    recs.splice(20, 0, makeRecord(0, { userId: '77', localTime: '2023-02-29T09:00:00' }));
    try {
      await box.append(recs);
      loop.start();
      await until(
        () => reports.reduce((a, r) => a + r.inserted + r.rejected, 0) === 41,
        10000,
        'the batch to be settled',
      );
    } finally {
      await loop.stop();
      await box.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
    assert.deepEqual(
      rejected.map((r) => r.record.localTime),
      ['2023-02-29T09:00:00'],
    );
    assert.match(
      rejected[0].reason,
      /^SQL Server rejected the record: Conversion failed when converting date.*\(error 241\)$/,
    );
    assert.equal(table.rows.size, 40);
    assert.deepEqual(transient, [], 'a record the server refuses is not retried as if the server were down');
    assert.ok(
      server.transactions.some((t) => t.byServer),
      'the fake server ended a transaction',
    );
    // No COMMIT or ROLLBACK was sent for a transaction the server had already ended.
    assert.deepEqual(
      server.transactions.filter((t) => t.noTransaction),
      [],
    );
  });

  it('a date the door accepts but the column type cannot hold (242, DATETIME before 1753) is permanent for that record', async () => {
    await restart({ columnTypes: { local_time: 'datetime' } });
    const old = makeRecord(0, { userId: '9', localTime: '1700-01-01T09:00:00' });
    await assert.rejects(
      sink.write([makeRecord(), old]),
      (e: unknown) => e instanceof SinkError && e.permanent && /out-of-range value.*\(error 242\)/.test(e.message),
    );
    assert.equal(server.transactions.slice(-1)[0].byServer, true);
    await assert.rejects(
      sink.write([old]),
      (e: unknown) => e instanceof SinkError && e.permanent && /^SQL Server rejected the record: .*242/.test(e.message),
    );
    assert.deepEqual(await sink.write([makeRecord()]), { inserted: 1, duplicates: 0, rejected: [] });
    assert.equal(table.rows.size, 1);
  });

  it('an existing table needs a unique index on the key columns; the error says which index to create', async () => {
    await restart({ uniqueKey: null });
    const refused =
      /SQL Server configuration: table dbo\.attendance_log needs a unique index on \(device_sn, user_id, local_time\).*CREATE UNIQUE INDEX \[UX_attendance_log_punch\] ON \[dbo\]\.\[attendance_log\] \(\[device_sn\], \[user_id\], \[local_time\]\)/;
    await assert.rejects(
      sink.open(),
      (e: unknown) => e instanceof SinkError && !e.permanent && e.scope === 'outage' && refused.test(e.message),
    );
    // An index wider than the key does not make equal keys collide.
    await restart({ uniqueKey: ['device_sn', 'user_id', 'local_time', 'site'] });
    await assert.rejects(sink.open(), (e: unknown) => e instanceof SinkError && refused.test(e.message));
    await restart({ uniqueKey: ['local_time', 'device_sn', 'user_id'] });
    await sink.open();
    const q = server.requests.find((r) => /sys\.indexes/.test(r.sql));
    assert.deepEqual(
      q?.params.map((p) => p.value),
      ['[dbo].[attendance_log]'],
    );
  });

  it('a SMALLDATETIME key column is refused (it rounds to the minute); elsewhere it is a warning', async () => {
    await restart({ columnTypes: { local_time: 'smalldatetime' } });
    await assert.rejects(
      sink.open(),
      (e: unknown) =>
        e instanceof SinkError &&
        !e.permanent &&
        /local_time is smalldatetime, which rounds to the minute/.test(e.message),
    );
    await restart({ columnTypes: { received_at: 'smalldatetime' } });
    const warnings: string[] = [];
    await sink.close();
    sink = createMssqlSink(
      { server: '127.0.0.1', port: server.port, database: 'zk', encrypt: false },
      (level, message) => {
        if (level === 'warn') warnings.push(message);
      },
    );
    await sink.open();
    assert.deepEqual(warnings, [
      'SQL Server dbo.attendance_log: column received_at is smalldatetime: receivedAt is stored rounded to the minute',
    ]);
  });

  it('counts stay exact with NOCOUNT on server-wide and with an AFTER INSERT trigger', async () => {
    await restart({}, true);
    const recs = makeRecords(300);
    assert.deepEqual(await sink.write(recs), { inserted: 300, duplicates: 0, rejected: [] });
    assert.deepEqual(await sink.write(recs), { inserted: 0, duplicates: 300, rejected: [] });
    await restart({ trigger: true });
    assert.deepEqual(await sink.write(recs), { inserted: 300, duplicates: 0, rejected: [] });
    assert.deepEqual(await sink.write([...recs.slice(0, 5), ...makeRecords(5, { over: { deviceSn: 'OTHER' } })]), {
      inserted: 5,
      duplicates: 5,
      rejected: [],
    });
  });
  it('a configuration error while writing (the table dropped: 208) only waits: no record is searched for or set aside', async () => {
    await sink.open();
    table.inject = (req) =>
      isInsert(req) ? { error: { number: 208, message: "Invalid object name 'dbo.attendance_log'." } } : undefined;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pf-mssql-'));
    const box = await Outbox.open<AttendanceRecord>(dir);
    const rejected: RejectedRecord[] = [];
    const transient: SinkError[] = [];
    const loop = new DeliveryLoop({
      sink,
      outbox: box,
      batchSize: 1000,
      flushIntervalMs: 0,
      backoff: { baseMs: 1, maxMs: 5 },
      isolateAfter: 2,
      onRejected: (r) => rejected.push(...r),
      onTransientError: (e) => transient.push(e as SinkError),
    });
    try {
      await box.append(makeRecords(10));
      loop.start();
      await until(() => transient.length >= 8, 10000, 'eight failed attempts');
    } finally {
      await loop.stop();
      await box.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
    assert.deepEqual(rejected, []);
    assert.ok(
      transient.every(
        (e) => e.scope === 'outage' && /Invalid object name.*\(error 208\); check the table/.test(e.message),
      ),
    );
    assert.deepEqual(
      [...new Set(server.requests.filter(isInsert).map((r) => r.params.length / 16))],
      [10],
      'every attempt sent the whole batch',
    );
  });
});
