/**
 * bench/sink: 100,000 canonical records into a throwaway MariaDB (the Debian server, temp dir, 127.0.0.1),
 * all in one run:
 *  - end to end: appended to the durable outbox (fsynced, 1,000-record messages), drained by the delivery
 *    loop through the MySQL sink (1,000-row statements, one transaction per batch), timed until committed;
 *  - the same 100,000 re-sent the same way (all duplicates);
 *  - the zk-sink node itself in Node-RED (adds validation at the door and message passing), into a new table;
 *  - the sink alone (write() in 1,000-record batches), for reference;
 *  - the baseline the seeds use: per row, SELECT whether it exists, then one awaited INSERT (autocommit).
 * Records are generated per 1,000-record message, as they would arrive, so peak RSS is the pipeline's and
 * not a 100,000-object array's. Last line: one JSON object with the figures. BENCH_RECORDS and
 * BENCH_BASELINE_RECORDS change the sizes; BENCH_BULK_MIN_ROWS=0 measures the multi-row INSERT path alone.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as mysql from 'mysql2/promise';
import type { AttendanceRecord } from '../lib/record';
import { DeliveryLoop } from '../lib/sinks/delivery';
import { createMysqlSink } from '../lib/sinks/mysql';
import { MYSQL_ATTENDANCE_LOG_DDL } from '../lib/sinks/mysql-sql';
import { Outbox } from '../lib/sinks/outbox';
import { MariaDbServer } from '../support/mariadb';
import { syntheticRecords } from '../support/sink-records';
import { sleep } from '../support/wait';
import helper = require('node-red-node-test-helper');
import type { Node, NodeMessage } from 'node-red';
import zkSink = require('../nodes/zk-sink/zk-sink');

const RECORDS = Number(process.env.BENCH_RECORDS ?? 100000);
// The baseline runs ~1,500 rows/s here: a 20,000-row sample (into an empty table, which only flatters it)
// keeps the bench near half a minute; BENCH_BASELINE_RECORDS=100000 runs it in full.
const BASELINE_RECORDS = Math.min(RECORDS, Number(process.env.BENCH_BASELINE_RECORDS ?? 20000));
const MESSAGE = 1000;
/** Records per delivery batch (the node's default is 1,000). */
const BATCH = Number(process.env.BENCH_BATCH ?? 1000);
/** The sink's bulkLoadMinRows (0: multi-row INSERTs only); unset: the sink's default. */
const BULK_MIN = process.env.BENCH_BULK_MIN_ROWS === undefined ? undefined : Number(process.env.BENCH_BULK_MIN_ROWS);

let peakRss = process.memoryUsage.rss();
const sampler = setInterval(() => {
  peakRss = Math.max(peakRss, process.memoryUsage.rss());
}, 10);
sampler.unref();

const rate = (n: number, ms: number): number => Math.round((n / ms) * 1000);

const message = (i: number): AttendanceRecord[] => syntheticRecords(Math.min(MESSAGE, RECORDS - i), { from: i });

async function endToEnd(db: MariaDbServer, dir: string): Promise<{ ms: number; inserted: number; duplicates: number }> {
  const outbox = await Outbox.open<AttendanceRecord>(dir);
  const sink = createMysqlSink({
    host: db.host,
    port: db.port,
    user: db.user,
    password: db.password,
    database: db.database,
    createTable: true,
    bulkLoadMinRows: BULK_MIN,
  });
  let inserted = 0;
  let duplicates = 0;
  let committed = 0;
  const loop = new DeliveryLoop({
    sink,
    outbox,
    batchSize: BATCH,
    onCommit: (r) => {
      inserted += r.inserted;
      duplicates += r.duplicates;
      committed += r.batch;
    },
    onRejected: (r) => {
      throw new Error(`unexpected rejection: ${r[0]?.reason}`);
    },
  });
  await sink.open(); // connecting and creating the table are not part of the stream
  const t0 = performance.now();
  loop.start();
  for (let i = 0; i < RECORDS; i += MESSAGE) await outbox.append(message(i));
  while (committed < RECORDS) await sleep(2);
  const ms = performance.now() - t0;
  await loop.stop();
  await sink.close();
  await outbox.close();
  return { ms, inserted, duplicates };
}

/**
 * The zk-sink node itself in a Node-RED runtime (node-red-node-test-helper): validation at the door, the
 * outbox, the delivery loop and the MySQL target, 1,000-record messages sent in as fast as the node takes
 * them, timed until output 1 reported every record committed.
 */
async function nodeEndToEnd(db: MariaDbServer, userDir: string): Promise<{ ms: number; inserted: number }> {
  helper.init(require.resolve('node-red'));
  helper.settings({ userDir });
  await helper.startServer();
  try {
    const flow = [
      { id: 'f1', type: 'tab' },
      {
        id: 's1',
        z: 'f1',
        type: 'zk-sink',
        target: 'mysql',
        host: db.host,
        port: db.port,
        user: db.user,
        database: db.database,
        table: 'node_log',
        createTable: true,
        batchSize: BATCH,
        flushInterval: 200,
        wires: [['ok'], ['err']],
      },
      { id: 'ok', z: 'f1', type: 'helper' },
      { id: 'err', z: 'f1', type: 'helper' },
    ];
    await helper.load(zkSink, flow, { s1: { password: db.password } });
    let committed = 0;
    let inserted = 0;
    let errors = 0;
    (helper.getNode('ok') as Node).on('input', (m: NodeMessage) => {
      const r = m.payload as { batch: number; inserted: number };
      committed += r.batch;
      inserted += r.inserted;
    });
    (helper.getNode('err') as Node).on('input', () => errors++);
    const sink = helper.getNode('s1');
    // Warm-up: the node connects and creates its table before the clock starts, as the library run does.
    sink.receive({ payload: syntheticRecords(1, { from: RECORDS + 1, devices: 1 }) } as NodeMessage);
    while (committed < 1) await sleep(2);
    committed = 0;
    inserted = 0;
    const t0 = performance.now();
    for (let i = 0; i < RECORDS; i += MESSAGE) {
      sink.receive({ payload: message(i) } as NodeMessage);
      // Let the node's input handler run between messages, as separate upstream sends would.
      await new Promise((r) => setImmediate(r));
    }
    while (committed < RECORDS) await sleep(2);
    const ms = performance.now() - t0;
    if (errors > 0) throw new Error(`${errors} messages on the node's error output`);
    return { ms, inserted };
  } finally {
    await helper.unload();
    await helper.stopServer();
    helper.settings({});
  }
}

async function sinkOnly(db: MariaDbServer): Promise<number> {
  const sink = createMysqlSink({
    host: db.host,
    port: db.port,
    user: db.user,
    password: db.password,
    database: db.database,
    createTable: true,
    bulkLoadMinRows: BULK_MIN,
  });
  await sink.open();
  const t0 = performance.now();
  for (let i = 0; i < RECORDS; i += MESSAGE) await sink.write(message(i));
  const ms = performance.now() - t0;
  await sink.close();
  return ms;
}

/** What the studied seeds do: SELECT first, INSERT if absent, one awaited round trip each, autocommit. */
async function baseline(db: MariaDbServer, records: AttendanceRecord[]): Promise<number> {
  const conn = await mysql.createConnection({ ...db.connectionOptions(), dateStrings: true, timezone: 'Z' });
  await conn.query('DROP TABLE IF EXISTS baseline_log');
  await conn.query(MYSQL_ATTENDANCE_LOG_DDL.replace('`attendance_log`', '`baseline_log`'));
  const t0 = performance.now();
  for (const r of records) {
    const localTime = r.localTime.replace('T', ' ');
    const [found] = await conn.execute<mysql.RowDataPacket[]>(
      'SELECT 1 FROM baseline_log WHERE device_sn = ? AND user_id = ? AND local_time = ?',
      [r.deviceSn, r.userId, localTime],
    );
    if (found.length > 0) continue;
    await conn.execute(
      'INSERT INTO baseline_log (device_sn, device_name, site, device_host, user_id, uid, local_time, ts_utc, tz, state, direction, verify, verify_method, work_code, source, received_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)',
      [
        r.deviceSn,
        r.deviceName,
        r.site,
        r.deviceHost,
        r.userId,
        r.uid,
        localTime,
        r.timestamp.slice(0, 19).replace('T', ' '),
        r.tz,
        r.state,
        r.direction,
        r.verify,
        r.verifyMethod,
        r.workCode,
        r.source,
        r.receivedAt.slice(0, 23).replace('T', ' '),
      ],
    );
  }
  const ms = performance.now() - t0;
  await conn.end();
  return ms;
}

async function count(db: MariaDbServer, table: string): Promise<number> {
  const conn = await mysql.createConnection(db.connectionOptions());
  try {
    const [rows] = await conn.query<mysql.RowDataPacket[]>(`SELECT COUNT(*) AS n FROM \`${table}\``);
    return Number(rows[0].n);
  } finally {
    await conn.end();
  }
}

async function main(): Promise<void> {
  const db = await MariaDbServer.create();
  const tmp = fs.mkdtempSync(path.join(process.env.BENCH_OUTBOX_DIR ?? os.tmpdir(), 'punchflow-bench-sink-'));
  try {
    const version = ((await db.rootQuery(['SELECT VERSION() AS v']))[0] as { v: string }[])[0].v;
    console.log(
      `bench/sink: ${RECORDS} records, MariaDB ${version} on 127.0.0.1:${db.port}, Node ${process.version}, ${os.cpus().length} CPUs`,
    );

    const fresh = await endToEnd(db, path.join(tmp, 'outbox-1'));
    const rssAfterFresh = process.memoryUsage.rss();
    console.log(
      `end to end (outbox + delivery loop + sink), fresh:   ${rate(RECORDS, fresh.ms)} rows/s (${fresh.ms.toFixed(0)} ms; inserted ${fresh.inserted}, duplicates ${fresh.duplicates})`,
    );
    const resend = await endToEnd(db, path.join(tmp, 'outbox-2'));
    console.log(
      `end to end, the same records re-sent:                ${rate(RECORDS, resend.ms)} rows/s (${resend.ms.toFixed(0)} ms; inserted ${resend.inserted}, duplicates ${resend.duplicates})`,
    );
    const rows = await count(db, 'attendance_log');
    if (fresh.inserted !== RECORDS || resend.inserted !== 0 || rows !== RECORDS)
      throw new Error(`wrong counts: ${fresh.inserted} / ${resend.inserted} / ${rows} rows`);

    const viaNode = await nodeEndToEnd(db, path.join(tmp, 'node-red'));
    console.log(
      `zk-sink node in Node-RED (validation + outbox + loop + sink): ${rate(RECORDS, viaNode.ms)} rows/s (${viaNode.ms.toFixed(0)} ms; inserted ${viaNode.inserted})`,
    );
    if (viaNode.inserted !== RECORDS) throw new Error(`the node inserted ${viaNode.inserted} of ${RECORDS}`);

    await db.rootQuery([`DROP TABLE \`${db.database}\`.attendance_log`]);
    const only = await sinkOnly(db);
    console.log(
      `sink alone (write() of 1,000-record batches), fresh: ${rate(RECORDS, only)} rows/s (${only.toFixed(0)} ms)`,
    );

    const base = await baseline(db, syntheticRecords(BASELINE_RECORDS));
    if ((await count(db, 'baseline_log')) !== BASELINE_RECORDS)
      throw new Error('baseline wrote the wrong number of rows');
    console.log(
      `baseline (SELECT exists, then INSERT, per row):      ${rate(BASELINE_RECORDS, base)} rows/s (${base.toFixed(0)} ms for ${BASELINE_RECORDS})`,
    );

    const rowsPerSec = rate(RECORDS, fresh.ms);
    const baselineRowsPerSec = rate(BASELINE_RECORDS, base);
    peakRss = Math.max(peakRss, process.memoryUsage.rss());
    console.log(
      `peak RSS ${(peakRss / 1048576).toFixed(0)} MiB (after the fresh end-to-end run: ${(rssAfterFresh / 1048576).toFixed(0)} MiB)`,
    );
    console.log(
      JSON.stringify({
        bench: 'sink',
        records: RECORDS,
        batch: BATCH,
        bulkLoadMinRows: BULK_MIN ?? 'default',
        baselineRecords: BASELINE_RECORDS,
        rowsPerSec,
        baselineRowsPerSec,
        ratio: Math.round((rowsPerSec / baselineRowsPerSec) * 10) / 10,
        resendRowsPerSec: rate(RECORDS, resend.ms),
        nodeRowsPerSec: rate(RECORDS, viaNode.ms),
        sinkOnlyRowsPerSec: rate(RECORDS, only),
        peakRssMiB: Math.round(peakRss / 1048576),
      }),
    );
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
    await db.destroy();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
