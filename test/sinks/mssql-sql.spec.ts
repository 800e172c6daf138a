import { strict as assert } from 'node:assert';
import {
  MAX_PARAMS,
  POST_2008_SYNTAX,
  UNIQUE_KEYS_SQL,
  buildCreateTableSql,
  buildInsert,
  buildInsertStatements,
  constraintName,
  defaultTableSpec,
  prepareBatch,
  resolveMapping,
  rowsPerStatement,
  specFromIntrospection,
  sqlTimeString,
  uniqueKeyProblem,
  IntrospectedColumn,
} from '../../lib/sinks/mssql-sql';
import { classifyMssqlError, parseMssqlUrl } from '../../lib/sinks/mssql';
import { makeRecord, makeRecords, NASTY_STRINGS } from '../support/records';

function assert2008(sql: string): void {
  for (const re of POST_2008_SYNTAX) assert.ok(!re.test(sql), `post-2008 syntax ${re} in:\n${sql}`);
}

describe('mssql-sql: T-SQL generation', () => {
  const spec = defaultTableSpec('dbo', 'attendance_log');

  it('default table: canonical fields in snake_case, unique (device_sn, user_id, local_time), 2008-valid DDL', () => {
    const ddl = buildCreateTableSql('dbo', 'attendance_log');
    assert.match(
      ddl,
      /^IF OBJECT_ID\(N'\[dbo\]\.\[attendance_log\]', N'U'\) IS NULL\nBEGIN\nCREATE TABLE \[dbo\]\.\[attendance_log\]/,
    );
    assert.match(
      ddl,
      /CREATE INDEX \[IX_attendance_log_local_time\] ON \[dbo\]\.\[attendance_log\] \(\[local_time\]\);\nEND$/,
    );
    assert.match(ddl, /\[work_code\] BIGINT NOT NULL DEFAULT 0/);
    assert.match(ddl, /\[site\] NVARCHAR\(128\) NULL/);
    assert.match(ddl, /\[device_sn\] NVARCHAR\(64\) COLLATE Latin1_General_BIN2 NOT NULL/);
    assert.match(ddl, /\[user_id\] NVARCHAR\(24\) COLLATE Latin1_General_BIN2 NOT NULL/);
    assert.match(ddl, /\[local_time\] DATETIME2\(0\) NOT NULL/);
    assert.match(
      ddl,
      /CONSTRAINT \[UQ_attendance_log_punch\] UNIQUE CLUSTERED \(\[device_sn\], \[user_id\], \[local_time\]\)/,
    );
    assert.match(ddl, /\[id\] BIGINT IDENTITY\(1,1\) NOT NULL/);
    for (const c of [
      'ts_utc',
      'tz',
      'state',
      'direction',
      'verify',
      'verify_method',
      'work_code',
      'device_name',
      'site',
      'device_host',
      'uid',
      'source',
      'received_at',
    ]) {
      assert.match(ddl, new RegExp(`\\[${c}\\] `), c);
    }
    assert2008(ddl);
  });

  it('one chunk: INSERT … SELECT FROM (VALUES …) WHERE NOT EXISTS with UPDLOCK, HOLDLOCK on the key', () => {
    const prep = prepareBatch(spec, [makeRecord(), makeRecord(0, { userId: '2' })]);
    const st = buildInsert(spec, prep.rows);
    // Same column names and order as the MySQL target's table (canonical field order).
    assert.match(
      st.sql,
      /^DECLARE @inserted TABLE \(n INT NOT NULL\);\nINSERT INTO \[dbo\]\.\[attendance_log\] \(\[device_sn\], \[device_name\], \[site\], \[device_host\], \[user_id\], \[uid\], \[local_time\], \[ts_utc\], \[tz\], \[state\], \[direction\], \[verify\], \[verify_method\], \[work_code\], \[source\], \[received_at\]\)\n/,
    );
    assert.match(
      st.sql,
      /FROM \(VALUES\n {2}\(@p0, @p1, @p2, @p3, @p4, @p5, CONVERT\(DATETIME2\(0\), @p6, 120\), CONVERT\(DATETIME2\(0\), @p7, 120\),/,
    );
    assert.match(st.sql, /\) AS v \(\[device_sn\],/);
    assert.match(
      st.sql,
      /WHERE NOT EXISTS \(SELECT 1 FROM \[dbo\]\.\[attendance_log\] AS t WITH \(UPDLOCK, HOLDLOCK\) WHERE t\.\[device_sn\] = v\.\[device_sn\] AND t\.\[user_id\] = v\.\[user_id\] AND t\.\[local_time\] = v\.\[local_time\]\);\nSELECT COUNT\(\*\) AS punchflow_inserted FROM @inserted;$/,
    );
    assert.match(st.sql, /\)\nOUTPUT 1 INTO @inserted \(n\)\nSELECT v\./);
    assert.equal(st.params.length, 2 * spec.columns.length);
    assert2008(st.sql);
    // Every parameter is declared with the column's type; times travel as fixed strings.
    const byCol = (f: string) => st.params[spec.columns.findIndex((c) => c.field === f)];
    assert.deepEqual(byCol('deviceSn').type, { type: 'NVarChar', length: 64 });
    assert.deepEqual(byCol('userId').type, { type: 'NVarChar', length: 24 });
    assert.deepEqual(byCol('localTime'), {
      name: 'p6',
      type: { type: 'VarChar', length: 19 },
      value: '2024-03-01 08:00:00',
    });
    assert.deepEqual(byCol('timestamp').value, '2024-03-01 07:00:00');
    assert.deepEqual(byCol('uid').type, { type: 'Int' });
    const rcv = spec.columns.findIndex((c) => c.field === 'receivedAt');
    assert.deepEqual(st.params[rcv], {
      name: `p${rcv}`,
      type: { type: 'VarChar', length: 23 },
      value: '2024-03-01 07:00:05.123',
    });
    assert.match(st.sql, new RegExp(`CONVERT\\(DATETIME2\\(3\\), @p${rcv}, 121\\)`));
    const wc = spec.columns.findIndex((c) => c.field === 'workCode');
    assert.deepEqual(st.params[wc].type, { type: 'BigInt' });
  });

  it('chunks stay within the 2,100-parameter limit (≤ 2,098) and ≤ 300 rows, covering every row once', () => {
    for (const n of [1, 124, 125, 126, 1000, 5003]) {
      const prep = prepareBatch(spec, makeRecords(n, { users: 97 }));
      const stmts = buildInsertStatements(spec, prep.rows);
      let rows = 0;
      for (const s of stmts) {
        assert.ok(s.params.length <= MAX_PARAMS, `${s.params.length} params`);
        assert.ok(s.rows.length <= 300);
        assert.equal(s.params.length, s.rows.length * spec.columns.length);
        rows += s.rows.length;
      }
      assert.equal(rows, n);
    }
    assert.equal(rowsPerStatement(16), 131);
    assert.equal(rowsPerStatement(3), 300);
    assert.equal(rowsPerStatement(2098), 1);
    // A narrow mapping (only the key) takes 300 rows per statement.
    const narrow = defaultTableSpec(
      'dbo',
      't',
      Object.fromEntries(
        resolveMapping(undefined)
          .filter((c) => !['deviceSn', 'userId', 'localTime'].includes(c.field))
          .map((c) => [c.field, null]),
      ),
    );
    assert.equal(narrow.columns.length, 3);
    assert.equal(buildInsertStatements(narrow, prepareBatch(narrow, makeRecords(1000)).rows)[0].rows.length, 300);
  });

  it('dedupes inside the batch on the key (NOT EXISTS cannot see sibling VALUES rows)', () => {
    const a = makeRecord();
    const b = makeRecord(0, { localTime: '2024-03-01 08:00:00', id: 'x' }); // same key, other spelling
    const c = makeRecord(0, { userId: '2' });
    const prep = prepareBatch(spec, [a, b, c, a]);
    assert.equal(prep.rows.length, 2);
    assert.equal(prep.inBatchDuplicates.length, 2);
  });

  it('SQL metacharacters only ever travel as parameter values, never in the statement text', () => {
    const recs = NASTY_STRINGS.map((s, i) =>
      makeRecord(0, {
        userId: s.slice(0, 24),
        deviceName: s,
        site: s,
        tz: s,
        deviceHost: s,
        localTime: `2024-03-01T08:00:${String(i).padStart(2, '0')}`,
      }),
    );
    const prep = prepareBatch(spec, recs);
    assert.equal(prep.rejected.length, 0);
    const st = buildInsert(spec, prep.rows);
    for (const s of NASTY_STRINGS) {
      if (s === '@p0' || s === '?') continue; // those spellings exist in the SQL by design
      assert.ok(!st.sql.includes(s), `statement text contains ${s}`);
      assert.ok(
        st.params.some((p) => p.value === s),
        `value ${s} not passed verbatim`,
      );
    }
    // Only parameter markers, identifiers, keywords and the fixed CONVERT styles appear in the text.
    assert.ok(!/'/.test(st.sql), 'no string literal at all in the INSERT');
  });

  it('rejects what a column cannot hold instead of letting the server truncate it', () => {
    const found: IntrospectedColumn[] = [
      { name: 'device_sn', dataType: 'varchar', maxLength: 20, nullable: false },
      { name: 'user_id', dataType: 'varchar', maxLength: 9, nullable: false },
      { name: 'local_time', dataType: 'datetime', maxLength: null, nullable: false },
      { name: 'state', dataType: 'tinyint', maxLength: null, nullable: true },
      { name: 'work_code', dataType: 'smallint', maxLength: null, nullable: true },
      { name: 'device_name', dataType: 'nvarchar', maxLength: 5, nullable: false },
    ];
    const only = {
      timestamp: null,
      tz: null,
      direction: null,
      verify: null,
      verifyMethod: null,
      site: null,
      deviceHost: null,
      uid: null,
      source: null,
      receivedAt: null,
    } as const;
    const s = specFromIntrospection('dbo', 'punches', only, found);
    assert.deepEqual(
      s.columns.map((c) => c.name),
      ['device_sn', 'device_name', 'user_id', 'local_time', 'state', 'work_code'],
    );
    const prep = prepareBatch(s, [
      makeRecord(0, { deviceName: 'ok' }),
      makeRecord(0, { userId: '1234567890', deviceName: 'ok' }),
      makeRecord(0, { userId: 'Zoë', deviceName: 'ok' }),
      makeRecord(0, { userId: '3', workCode: 70000, deviceName: 'ok' }),
      makeRecord(0, { userId: '4', deviceName: null }),
      makeRecord(0, { userId: '5', deviceName: 'toolong' }),
    ]);
    assert.equal(prep.rows.length, 1);
    assert.deepEqual(
      prep.rejected.map((r) => r.reason.split(':')[0]),
      ['userId', 'userId', 'workCode', 'deviceName', 'deviceName'],
    );
    assert.match(prep.rejected[1].reason, /non-ASCII.*VARCHAR/);
    // VARCHAR key columns are sent as VarChar (no implicit conversion that would turn seeks into scans).
    assert.deepEqual(buildInsert(s, prep.rows).params[2].type, { type: 'VarChar', length: 9 });
  });

  it('introspection errors name the missing column or wrong type', () => {
    assert.throws(
      () =>
        specFromIntrospection('dbo', 'x', undefined, [
          { name: 'device_sn', dataType: 'nvarchar', maxLength: 64, nullable: false },
        ]),
      /has no column device_name \(for deviceName\)/,
    );
    assert.throws(
      () =>
        specFromIntrospection(
          'dbo',
          'x',
          {
            timestamp: null,
            tz: null,
            direction: null,
            verify: null,
            verifyMethod: null,
            workCode: null,
            deviceName: null,
            site: null,
            deviceHost: null,
            uid: null,
            source: null,
            receivedAt: null,
            state: null,
          },
          [
            { name: 'device_sn', dataType: 'nvarchar', maxLength: 64, nullable: false },
            { name: 'user_id', dataType: 'int', maxLength: null, nullable: false },
            { name: 'local_time', dataType: 'datetime2', maxLength: null, nullable: false },
          ],
        ),
      /user_id is int; userId needs a text column/,
    );
  });

  it('a local_time column of text type takes the string unchanged (no CONVERT)', () => {
    const s = specFromIntrospection(
      'dbo',
      'x',
      {
        timestamp: null,
        tz: null,
        direction: null,
        verify: null,
        verifyMethod: null,
        workCode: null,
        deviceName: null,
        site: null,
        deviceHost: null,
        uid: null,
        source: null,
        receivedAt: null,
        state: null,
      },
      [
        { name: 'device_sn', dataType: 'nvarchar', maxLength: 64, nullable: false },
        { name: 'user_id', dataType: 'nvarchar', maxLength: 24, nullable: false },
        { name: 'local_time', dataType: 'char', maxLength: 19, nullable: false },
      ],
    );
    const st = buildInsert(s, prepareBatch(s, [makeRecord()]).rows);
    assert.ok(!/CONVERT/.test(st.sql));
    assert.equal(st.params[2].value, '2024-03-01 08:00:00');
  });

  it('identifiers are validated; the key must stay mapped', () => {
    assert.throws(() => defaultTableSpec('dbo', 'att]; DROP TABLE x;--'), /not a plain identifier/);
    assert.throws(() => defaultTableSpec('dbo', 't', { userId: "user'id" }), /not a plain identifier/);
    assert.throws(() => defaultTableSpec('dbo', 't', { localTime: null }), /unique key/);
    assert.throws(() => defaultTableSpec('dbo', 't', { site: 'device_sn' }), /mapped twice/);
    assert.throws(() => resolveMapping({ nope: 'x' } as never), /unknown record field/);
    const custom = buildCreateTableSql('hr', 'punch', { id: 'record_id', userId: 'pin' });
    assert.match(custom, /\[pin\] NVARCHAR\(24\) COLLATE Latin1_General_BIN2 NOT NULL/);
    assert.match(custom, /\[record_id\] NVARCHAR\(200\) NULL/);
  });

  it('times: the string is reshaped, never passed through Date (no zone can shift a key)', () => {
    assert.equal(sqlTimeString('2024-03-31T02:30:00', false), '2024-03-31 02:30:00'); // a DST gap in Europe
    assert.equal(sqlTimeString('2024-03-01T07:00:05Z', true), '2024-03-01 07:00:05.000');
    assert.equal(sqlTimeString('2024-03-01T07:00:05.1Z', true), '2024-03-01 07:00:05.100');
    assert.equal(sqlTimeString('garbage', false), null);
  });

  it('classifies server errors: duplicate, data, config, transient', () => {
    const e = (number: number) => Object.assign(new Error('x'), { number, code: 'EREQUEST' });
    assert.equal(classifyMssqlError(e(2627)), 'duplicate');
    assert.equal(classifyMssqlError(e(2601)), 'duplicate');
    assert.equal(classifyMssqlError(e(8152)), 'data');
    assert.equal(classifyMssqlError(e(2628)), 'data');
    assert.equal(classifyMssqlError(e(242)), 'data');
    assert.equal(classifyMssqlError(e(18456)), 'config');
    assert.equal(classifyMssqlError(e(208)), 'config');
    assert.equal(classifyMssqlError(e(207)), 'config');
    assert.equal(classifyMssqlError(e(1205)), 'transient');
    assert.equal(classifyMssqlError(Object.assign(new Error('t'), { code: 'ETIMEOUT' })), 'transient');
    assert.equal(classifyMssqlError(Object.assign(new Error('c'), { code: 'ESOCKET' })), 'transient');
    assert.equal(classifyMssqlError(Object.assign(new Error('Login failed'), { code: 'ELOGIN' })), 'config');
    assert.equal(
      classifyMssqlError(Object.assign(new Error('self-signed certificate'), { code: 'ESOCKET' })),
      'config',
    );
    assert.equal(classifyMssqlError({ originalError: { number: 2601 } }), 'duplicate');
    // No such schema, and a name taken by another object: fixed by a person, not by waiting.
    assert.equal(classifyMssqlError(e(2760)), 'config');
    assert.equal(classifyMssqlError(e(2714)), 'config');
    assert.equal(classifyMssqlError(e(241)), 'data');
  });

  it('parses mssql:// URLs', () => {
    assert.deepEqual(parseMssqlUrl('mssql://sa:p%40ss@db.local:1444/zk?encrypt=false&trustServerCertificate=true'), {
      server: 'db.local',
      port: 1444,
      user: 'sa',
      password: 'p@ss',
      database: 'zk',
      encrypt: false,
      trustServerCertificate: true,
    });
    assert.throws(() => parseMssqlUrl('mysql://x@y/z'), /not an mssql/);
  });
  it('names the sink creates stay within 128 characters, and long table names up to that limit work', () => {
    const long = `t${'x'.repeat(127)}`;
    assert.equal(long.length, 128);
    const ddl = buildCreateTableSql('dbo', long);
    const names = [...ddl.matchAll(/(?:CONSTRAINT|INDEX) \[([^\]]+)\]/g)].map((m) => m[1]);
    assert.equal(names.length, 3);
    for (const n of names) assert.ok(n.length <= 128, `${n.length} characters: ${n}`);
    assert.equal(new Set(names).size, 3);
    assert.match(names[1], /^UQ_tx+_[0-9a-f]{8}_punch$/);
    // Two long names sharing their start still get different constraint names.
    assert.notEqual(constraintName('UQ', `${long.slice(0, 127)}y`, '_punch'), constraintName('UQ', long, '_punch'));
    assert.equal(constraintName('UQ', 'attendance_log', '_punch'), 'UQ_attendance_log_punch');
    assert.throws(() => defaultTableSpec('dbo', `${long}z`), /not a plain identifier/);
    assert2008(ddl);
  });

  it('a unique index on the key columns (any order, or some of them) is enough; others are not', () => {
    const idx = (name: string, cols: string[]) => cols.map((columnName) => ({ indexName: name, columnName }));
    assert.equal(uniqueKeyProblem(spec, idx('UQ', ['device_sn', 'user_id', 'local_time'])), null);
    assert.equal(
      uniqueKeyProblem(spec, [...idx('PK', ['id']), ...idx('UQ', ['LOCAL_TIME', 'user_id', 'device_sn'])]),
      null,
    );
    assert.match(
      uniqueKeyProblem(spec, idx('PK', ['id'])) ?? '',
      /needs a unique index on \(device_sn, user_id, local_time\)/,
    );
    assert.match(
      uniqueKeyProblem(spec, idx('UQ', ['device_sn', 'user_id', 'local_time', 'state'])) ?? '',
      /CREATE UNIQUE INDEX/,
    );
    assert.match(
      uniqueKeyProblem(spec, []) ?? '',
      /CREATE UNIQUE INDEX \[UX_attendance_log_punch\] ON \[dbo\]\.\[attendance_log\]/,
    );
    assert.match(UNIQUE_KEYS_SQL, /i\.is_unique = 1 AND i\.is_disabled = 0 AND i\.has_filter = 0/);
    assert2008(UNIQUE_KEYS_SQL);
  });

  it('a SMALLDATETIME key column is refused; a SMALLDATETIME elsewhere is accepted with a warning', () => {
    const cols = (lt: string, rcv: string): IntrospectedColumn[] => [
      { name: 'device_sn', dataType: 'nvarchar', maxLength: 64, nullable: false },
      { name: 'user_id', dataType: 'nvarchar', maxLength: 24, nullable: false },
      { name: 'local_time', dataType: lt, maxLength: null, nullable: false },
      { name: 'received_at', dataType: rcv, maxLength: null, nullable: false },
    ];
    const only = {
      timestamp: null,
      tz: null,
      direction: null,
      verify: null,
      verifyMethod: null,
      workCode: null,
      deviceName: null,
      site: null,
      deviceHost: null,
      uid: null,
      source: null,
      state: null,
    } as const;
    assert.throws(
      () => specFromIntrospection('dbo', 'x', only, cols('smalldatetime', 'datetime2')),
      /local_time is smalldatetime, which rounds to the minute.*datetime2\(0\) or datetime/,
    );
    assert.deepEqual(specFromIntrospection('dbo', 'x', only, cols('datetime', 'smalldatetime')).warnings, [
      'column received_at is smalldatetime: receivedAt is stored rounded to the minute',
    ]);
    assert.equal(specFromIntrospection('dbo', 'x', only, cols('datetime2', 'datetime2')).warnings, undefined);
  });
});
