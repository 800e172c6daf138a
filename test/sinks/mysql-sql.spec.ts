import { strict as assert } from 'assert';
import {
  buildLoadDataSql,
  parseLoadInfo,
  toTsv,
  tsvField,
  DEFAULT_MYSQL_COLUMNS,
  MYSQL_ATTENDANCE_LOG_DDL,
  MYSQL_MAX_PLACEHOLDERS,
  MysqlValueError,
  buildCreateTableSql,
  buildInsertSql,
  classifyMysqlError,
  mysqlFailureScope,
  flavorFromVersion,
  mysqlLocalTime,
  mysqlUtcTime,
  planChunks,
  quoteIdentifier,
  resolveColumns,
  toMysqlRow,
} from '../../lib/sinks/mysql-sql';
import { createMysqlSink } from '../../lib/sinks/mysql';
import { syntheticRecord } from '../../support/sink-records';

describe('mysql-sql: SQL generation without a server', () => {
  it('quotes safe identifiers and refuses everything else', () => {
    assert.equal(quoteIdentifier('attendance_log'), '`attendance_log`');
    assert.equal(quoteIdentifier('select'), '`select`'); // keywords are fine once quoted
    for (const bad of ['', '1abc', 'a-b', 'a`b', 'a b', "x'; DROP TABLE t; --", 'a'.repeat(65), 'tbl.col', 'ä']) {
      assert.throws(() => quoteIdentifier(bad), /invalid MySQL identifier/, bad);
    }
  });

  it('maps canonical fields to snake_case columns by default, keeping the canonical order', () => {
    const cols = resolveColumns();
    assert.deepEqual(
      cols.map((c) => c.column),
      [
        'device_sn',
        'device_name',
        'site',
        'device_host',
        'user_id',
        'uid',
        'local_time',
        'ts_utc',
        'tz',
        'state',
        'direction',
        'verify',
        'verify_method',
        'work_code',
        'source',
        'received_at',
      ],
    );
    assert.equal(DEFAULT_MYSQL_COLUMNS.id, null);
  });

  it('applies a custom mapping and rejects unknown fields, bad names, clashes and unmapped key fields', () => {
    const cols = resolveColumns({
      userId: 'badge',
      localTime: 'punch_time',
      id: 'record_id',
      site: null,
      deviceHost: null,
    });
    const byField = new Map(cols.map((c) => [c.field, c.column]));
    assert.equal(byField.get('userId'), 'badge');
    assert.equal(byField.get('id'), 'record_id');
    assert.equal(byField.has('site'), false);
    assert.throws(() => resolveColumns({ nope: 'x' } as never), /unknown field "nope"/);
    assert.throws(() => resolveColumns({ userId: 'user id' }), /invalid MySQL identifier/);
    assert.throws(() => resolveColumns({ site: 'DEVICE_SN' }), /both map to column/);
    assert.throws(() => resolveColumns({ localTime: null }), /key field "localTime"/);
  });

  it('builds one multi-row INSERT with placeholders only and a no-op ON DUPLICATE KEY UPDATE', () => {
    const cols = resolveColumns({ tz: null });
    const sql = buildInsertSql('attendance_log', cols, 3);
    const tuple = '(' + new Array(cols.length).fill('?').join(',') + ')';
    assert.equal(
      sql,
      'INSERT INTO `attendance_log` (`device_sn`,`device_name`,`site`,`device_host`,`user_id`,`uid`,`local_time`,`ts_utc`,' +
        '`state`,`direction`,`verify`,`verify_method`,`work_code`,`source`,`received_at`) VALUES ' +
        [tuple, tuple, tuple].join(',') +
        ' ON DUPLICATE KEY UPDATE `device_sn` = `device_sn`',
    );
    assert.equal((sql.match(/\?/g) ?? []).length, 3 * cols.length);
    assert.throws(() => buildInsertSql('attendance_log', cols, 0), /positive integer/);
    assert.throws(
      () => buildInsertSql('attendance_log', cols, Math.floor(MYSQL_MAX_PLACEHOLDERS / cols.length) + 1),
      /placeholders/,
    );
    assert.throws(() => buildInsertSql('bad name', cols, 1), /invalid MySQL identifier/);
  });

  it('the cited DDL constant is what the sink creates for the default table on MariaDB', () => {
    assert.equal(buildCreateTableSql('attendance_log', resolveColumns(), 'mariadb'), MYSQL_ATTENDANCE_LOG_DDL);
    assert.match(MYSQL_ATTENDANCE_LOG_DDL, /UNIQUE KEY `uk_punch` \(`device_sn`, `user_id`, `local_time`\)/);
    assert.doesNotMatch(MYSQL_ATTENDANCE_LOG_DDL, /\bTIMESTAMP\b/);
    assert.match(buildCreateTableSql('t', resolveColumns(), 'mysql8'), /utf8mb4_0900_bin/);
    assert.match(buildCreateTableSql('t', resolveColumns(), 'mysql57'), /COLLATE utf8mb4_bin/);
    const custom = buildCreateTableSql('punches', resolveColumns({ userId: 'badge', id: 'record_id' }));
    assert.match(custom, /UNIQUE KEY `uk_punch` \(`device_sn`, `badge`, `local_time`\)/);
    assert.match(custom, /`record_id` VARCHAR\(200\) NOT NULL/);
    assert.throws(() => buildCreateTableSql('t', resolveColumns({ id: 'ID' })), /surrogate key/);
  });

  it('tells MariaDB, MySQL 8.0.17+ and older MySQL apart', () => {
    assert.equal(flavorFromVersion('10.11.19-MariaDB-0+deb12u1'), 'mariadb');
    assert.equal(flavorFromVersion('8.0.36'), 'mysql8');
    assert.equal(flavorFromVersion('8.0.16'), 'mysql57');
    assert.equal(flavorFromVersion('8.4.2'), 'mysql8');
    assert.equal(flavorFromVersion('5.7.44-log'), 'mysql57');
  });

  it('writes times by string surgery, never through a Date', () => {
    assert.equal(mysqlLocalTime('2024-03-31T02:30:00'), '2024-03-31 02:30:00'); // a DST gap in Europe: still verbatim
    assert.equal(mysqlUtcTime('2024-01-02T03:04:05.000Z', 'timestamp', false), '2024-01-02 03:04:05');
    assert.equal(mysqlUtcTime('2024-01-02T03:04:05.7Z', 'receivedAt', true), '2024-01-02 03:04:05.700');
    assert.equal(mysqlUtcTime('2024-01-02T03:04:05Z', 'receivedAt', true), '2024-01-02 03:04:05.000');
    for (const bad of [
      '2024-02-30T00:00:00',
      '2023-02-29T00:00:00',
      '2024-01-01 00:00:00',
      '2024-01-01T24:00:00',
      '0999-01-01T00:00:00',
      '2024-1-1T00:00:00',
    ]) {
      assert.throws(() => mysqlLocalTime(bad), MysqlValueError, bad);
    }
    assert.equal(mysqlLocalTime('2024-02-29T23:59:59'), '2024-02-29 23:59:59');
    assert.throws(() => mysqlUtcTime('2024-01-02T03:04:05+01:00', 'timestamp', false), /ending in Z/);
  });

  it('parses times by hand with the same grammar as the anchored pattern it replaced', () => {
    // Digits are ASCII only, separators exact, nothing before or after, 1–3 fraction digits.
    for (const bad of [
      '２０２４-01-01T00:00:00',
      '2024-01-01t00:00:00',
      ' 2024-01-01T00:00:00',
      '2024-01-01T00:00:00 ',
      '2024-01-01T00:00:0a',
      '2024/01/01T00:00:00',
      '',
    ]) {
      assert.throws(() => mysqlLocalTime(bad), /must be YYYY-MM-DDTHH:mm:ss/, JSON.stringify(bad));
    }
    for (const bad of [
      '2024-01-02T03:04:05.1234Z',
      '2024-01-02T03:04:05.Z',
      '2024-01-02T03:04:05',
      '2024-01-02T03:04:05z',
      '2024-01-02T03:04:05.1a3Z',
      '2024-01-02T03:04:05,123Z',
      '2024-01-02X03:04:05Z',
    ]) {
      assert.throws(() => mysqlUtcTime(bad, 'timestamp', false), /ending in Z/, bad);
    }
    assert.throws(
      () => mysqlUtcTime('2023-02-29T03:04:05Z', 'timestamp', false),
      /not a valid date-time: "2023-02-29T03:04:05"/,
    );
    assert.equal(mysqlUtcTime('2024-01-02T03:04:05.12Z', 'receivedAt', true), '2024-01-02 03:04:05.120');
    assert.equal(mysqlUtcTime('2024-01-02T03:04:05.123Z', 'receivedAt', true), '2024-01-02 03:04:05.123');
  });

  it('converts a record into values and names the field of anything the table would cut or refuse', () => {
    const cols = resolveColumns();
    const r = syntheticRecord(0);
    const row = toMysqlRow(r, cols, new Map([['user_id', 24]]));
    assert.deepEqual(row, [
      r.deviceSn,
      'Gate 1',
      'HQ',
      '127.0.0.1:4370',
      '100',
      1,
      '2025-03-01 08:00:00',
      '2025-03-01 08:00:00',
      'UTC',
      0,
      'in',
      1,
      'fingerprint',
      0,
      'poll',
      '2025-03-01 09:00:00.123',
    ]);
    const limits = new Map([['user_id', 24]]);
    assert.throws(
      () => toMysqlRow({ ...r, userId: 'x'.repeat(25) }, cols, limits),
      /userId: 25 characters exceed column user_id's 24/,
    );
    assert.doesNotThrow(() => toMysqlRow({ ...r, userId: '😀'.repeat(24) }, cols, limits)); // 24 code points, 48 UTF-16 units
    assert.throws(() => toMysqlRow({ ...r, userId: 'a\ud800b' }, cols), /lone UTF-16 surrogate/);
    assert.throws(() => toMysqlRow({ ...r, state: 1.5 }, cols), /state: must be a non-negative integer/);
    assert.throws(() => toMysqlRow({ ...r, deviceSn: null as unknown as string }, cols), /deviceSn: is required/);
    assert.deepEqual(toMysqlRow({ ...r, uid: null, site: null }, cols)[2], null);
    assert.throws(() => toMysqlRow({ ...r, userId: 12 as unknown as string }, cols), /userId: must be a string/);
  });

  it('chunks by rows, by placeholders and by bytes', () => {
    const row = (bytes: number): string[] => ['x'.repeat(bytes)];
    const rows = Array.from({ length: 2500 }, () => row(10));
    assert.deepEqual(planChunks(rows, { maxRows: 1000, maxBytes: 1 << 30 }), [
      [0, 1000],
      [1000, 2000],
      [2000, 2500],
    ]);
    const wide = Array.from({ length: 10 }, () => new Array<string>(20000).fill('a'));
    assert.deepEqual(planChunks(wide, { maxRows: 1000, maxBytes: 1 << 30 }), [
      [0, 3],
      [3, 6],
      [6, 9],
      [9, 10],
    ]);
    const big = [row(100), row(100), row(5000), row(100)];
    assert.deepEqual(planChunks(big, { maxRows: 1000, maxBytes: 700 }), [
      [0, 2],
      [2, 3],
      [3, 4],
    ]);
    assert.deepEqual(planChunks([], { maxRows: 10, maxBytes: 10 }), []);
  });

  it('classifies driver errors: transient, data, config', () => {
    const cases: [unknown, string][] = [
      [{ code: 'ECONNREFUSED' }, 'transient'],
      [{ code: 'PROTOCOL_CONNECTION_LOST', fatal: true }, 'transient'],
      [{ code: 'ER_LOCK_DEADLOCK', errno: 1213, sqlState: '40001' }, 'transient'],
      [{ code: 'ER_LOCK_WAIT_TIMEOUT', errno: 1205, sqlState: 'HY000' }, 'transient'],
      [{ code: 'ER_SERVER_SHUTDOWN', errno: 1053, sqlState: '08S01' }, 'transient'],
      [{ code: 'ER_DATA_TOO_LONG', errno: 1406, sqlState: '22001' }, 'data'],
      [{ code: 'ER_TRUNCATED_WRONG_VALUE', errno: 1292, sqlState: '22007' }, 'data'],
      [{ code: 'ER_BAD_NULL_ERROR', errno: 1048, sqlState: '23000' }, 'data'],
      [{ errno: 9999, sqlState: '22999' }, 'data'],
      [{ code: 'ER_NO_SUCH_TABLE', errno: 1146, sqlState: '42S02' }, 'config'],
      [{ code: 'ER_BAD_FIELD_ERROR', errno: 1054, sqlState: '42S22' }, 'config'],
      [{ code: 'ER_ACCESS_DENIED_ERROR', errno: 1045, sqlState: '28000' }, 'config'],
      [{ code: 'ER_NO_DEFAULT_FOR_FIELD', errno: 1364, sqlState: 'HY000' }, 'config'],
      [new Error('something new'), 'transient'],
      [null, 'transient'],
    ];
    for (const [err, want] of cases) assert.equal(classifyMysqlError(err), want, JSON.stringify(err));
    // For the delivery loop: only a server answer we do not know may be about a record.
    const scopes: [unknown, string][] = [
      [{ code: 'ECONNREFUSED' }, 'outage'],
      [{ code: 'ER_LOCK_WAIT_TIMEOUT', errno: 1205, sqlState: 'HY000' }, 'outage'],
      [{ code: 'ER_ACCESS_DENIED_ERROR', errno: 1045, sqlState: '28000' }, 'outage'],
      [{ errno: 1999, sqlState: 'HY000', fatal: true }, 'outage'],
      [new Error('something new'), 'outage'],
      [{ code: 'ER_SOMETHING_NEW', errno: 1999, sqlState: 'HY000' }, 'records'],
    ];
    for (const [err, want] of scopes) assert.equal(mysqlFailureScope(err), want, JSON.stringify(err));
  });

  it('escapes LOAD DATA fields so every byte reads back verbatim (FIELDS ESCAPED BY backslash)', () => {
    assert.equal(tsvField(null), '\\N');
    assert.equal(tsvField(42), '42');
    // A literal backslash-N string must not read back as NULL.
    assert.equal(tsvField('\\N'), '\\\\N');
    assert.equal(tsvField('a\tb\nc\rd\u0000e\\f'), 'a\\tb\\nc\\rd\\0e\\\\f');
    // Escaping is stateless across calls (a global regex's lastIndex must not skip the next value).
    assert.equal(tsvField('x\ty'), 'x\\ty');
    assert.equal(tsvField('x\ty'), 'x\\ty');
    assert.equal(tsvField('\'; DROP TABLE t; --\u001a"`%_'), '\'; DROP TABLE t; --\u001a"`%_');
    assert.equal(
      toTsv([
        ['a', 1, null],
        ['b\n', 2, 'c'],
      ]),
      'a\t1\t\\N\nb\\n\t2\tc\n',
    );
    const sql = buildLoadDataSql('attendance_log', resolveColumns(undefined));
    assert.match(
      sql,
      /^LOAD DATA LOCAL INFILE 'punchflow-batch\.tsv' IGNORE INTO TABLE `attendance_log` CHARACTER SET utf8mb4 /,
    );
    assert.ok(
      sql.includes(
        "FIELDS TERMINATED BY '\\t' ENCLOSED BY '' ESCAPED BY '\\\\' LINES STARTING BY '' TERMINATED BY '\\n'",
      ),
    );
    assert.deepEqual(parseLoadInfo('Records: 1000  Deleted: 0  Skipped: 3  Warnings: 3'), {
      records: 1000,
      skipped: 3,
      warnings: 3,
    });
    assert.equal(parseLoadInfo(''), null);
  });

  it('createMysqlSink validates the table name and the mapping before connecting', () => {
    assert.throws(
      () => createMysqlSink({ user: 'u', database: 'd', table: 'x; DROP TABLE y' }),
      /invalid MySQL identifier/,
    );
    assert.throws(() => createMysqlSink({ user: 'u', database: 'd', columns: { userId: null } }), /key field "userId"/);
    assert.throws(
      () => createMysqlSink({ user: 'u', database: 'd', createTable: true, columns: { site: 'id' } }),
      /surrogate key/,
    );
    assert.equal(createMysqlSink({ user: 'u', database: 'd' }).target, 'mysql');
  });
});
