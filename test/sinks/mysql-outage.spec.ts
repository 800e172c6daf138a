/**
 * Nothing lost, nothing doubled: MariaDB goes away in the middle of a 50,000-record
 * stream flowing through the outbox, the delivery loop and the MySQL sink, and comes back. Every record must
 * then be in the table exactly once.
 *
 * The outage lasts PUNCHFLOW_MYSQL_OUTAGE_MS (default 5000 ms so CI stays quick; a figure worth a manual run is
 * 30000: `PUNCHFLOW_MYSQL_OUTAGE_MS=30000 npm run -s test:some -- test/sinks/mysql-outage.spec.ts`).
 */
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type { Pool, RowDataPacket } from 'mysql2/promise';
import type { AttendanceRecord } from '../../lib/record';
import { DeliveryLoop, DeliveryReport } from '../../lib/sinks/delivery';
import { createMysqlSink } from '../../lib/sinks/mysql';
import { Outbox } from '../../lib/sinks/outbox';
import { MariaDbServer, sharedMariaDb, stopSharedMariaDb, testPool } from '../../support/mariadb';
import { syntheticRecords } from '../../support/sink-records';
import { sleep, until } from '../../support/wait';

after(stopSharedMariaDb);

const OUTAGE_MS = Number(process.env.PUNCHFLOW_MYSQL_OUTAGE_MS ?? 5000);
describe('mysql sink: database outage in the middle of a stream', function () {
  this.timeout(120000 + 2 * OUTAGE_MS);
  let db: MariaDbServer;
  let pool: Pool;
  let dir: string;

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
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'punchflow-outbox-'));
    await pool.query('DROP TABLE IF EXISTS attendance_log');
  });
  afterEach(async () => {
    if (db && !db.running) await db.start();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const cases = [
    { total: 50000, signal: 'SIGTERM' as const, what: 'stopped cleanly', outageMs: OUTAGE_MS },
    // The crash case is shorter: what it adds is the lost COMMIT answer, not the duration.
    {
      total: 20000,
      signal: 'SIGKILL' as const,
      what: 'killed (SIGKILL, answers to COMMITs lost)',
      outageMs: Math.min(OUTAGE_MS, 2000),
    },
  ];
  for (const { total, signal, what, outageMs } of cases) {
    it(`${total.toLocaleString('en')} records, MariaDB ${what} for ${outageMs} ms mid-stream: every record exactly once`, async () => {
      const records = syntheticRecords(total);
      const outbox = await Outbox.open<AttendanceRecord>(dir);
      const sink = createMysqlSink({
        host: db.host,
        port: db.port,
        user: db.user,
        password: db.password,
        database: db.database,
        createTable: true,
        connectTimeoutMs: 1000,
      });
      const reports: DeliveryReport[] = [];
      let transientErrors = 0;
      const loop = new DeliveryLoop({
        sink,
        outbox,
        batchSize: 1000,
        flushIntervalMs: 50,
        backoff: { baseMs: 100, factor: 2, maxMs: 1000 },
        // Low on purpose: the outage's errors, whatever mysql2 calls them, must never set a record aside.
        isolateAfter: 2,
        onCommit: (r) => reports.push(r),
        onRejected: (r) => assert.fail(`rejected: ${r[0]?.reason}`),
        onTransientError: () => transientErrors++,
      });
      loop.start();
      try {
        // A steady producer (~25,000 records/s) so the loop is busy writing when the server goes.
        const outageAt = Math.floor(total * 0.4);
        let outage: Promise<void> | null = null;
        let committedAtStop = 0;
        for (let i = 0; i < total; i += 250) {
          await outbox.append(records.slice(i, i + 250));
          if (!outage && i + 250 >= outageAt) {
            committedAtStop = reports.reduce((n, r) => n + r.batch, 0);
            outage = (async () => {
              await db.stop(signal);
              await sleep(outageMs);
              await db.start();
            })();
          }
          await sleep(10);
        }
        await outage;
        await until(() => outbox.pending === 0, 60000, 'the outbox to drain after the server came back', 50);
        assert.ok(
          committedAtStop > 0 && committedAtStop < total,
          `the stream was under way when the server went (${committedAtStop} committed)`,
        );
        assert.ok(transientErrors > 0, 'the outage was noticed');
      } finally {
        await loop.stop();
        await sink.close();
        await outbox.close();
      }

      const [[stats]] = await pool.query<RowDataPacket[]>(
        'SELECT COUNT(*) AS n, COUNT(DISTINCT device_sn, user_id, local_time) AS keys_ FROM attendance_log',
      );
      assert.equal(Number(stats.n), total, 'rows');
      assert.equal(Number(stats.keys_), total, 'distinct keys');
      const [keys] = await pool.query<RowDataPacket[]>(
        "SELECT CONCAT(device_sn, '|', user_id, '|', REPLACE(local_time, ' ', 'T')) AS k FROM attendance_log",
      );
      const stored = new Set(keys.map((r) => String(r.k)));
      const absent = records.filter((r) => !stored.has(r.id));
      assert.equal(absent.length, 0, `missing ${absent.length}, e.g. ${absent[0]?.id}`);
      const sum = reports.reduce(
        (a, r) => ({
          inserted: a.inserted + r.inserted,
          duplicates: a.duplicates + r.duplicates,
          batch: a.batch + r.batch,
          rejected: a.rejected + r.rejected,
        }),
        { inserted: 0, duplicates: 0, batch: 0, rejected: 0 },
      );
      assert.equal(sum.batch, total);
      assert.equal(sum.rejected, 0);
      // A batch whose COMMIT answer was lost is counted again as duplicates on the retry, never as new rows twice.
      assert.equal(sum.inserted + sum.duplicates, total);
      assert.ok(sum.inserted <= total);
    });
  }
});
