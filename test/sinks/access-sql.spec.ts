import { strict as assert } from 'node:assert';
import {
  BadgeMap,
  DEFAULT_CHECKTYPE_MAP,
  LiteralError,
  MAX_STATEMENT_CHARS,
  buildCheckinoutInsert,
  buildExistingKeysQueries,
  buildExistingKeysQuery,
  buildMachinesQuery,
  buildUserInsert,
  checkTypeFor,
  checkinoutLayout,
  machinesLayout,
  quoteIdent,
  readTime,
  sqlInt,
  sqlText,
  sqlTimestamp,
  toDiscovered,
  userinfoLayout,
  wallClock,
  DiscoveredColumn,
} from '../../lib/sinks/access-sql';
import { accessFailureScope, buildConnectionString, classifyOdbcError, loadOdbc } from '../../lib/sinks/access';
import { SinkError } from '../../lib/sinks/types';
import { NASTY_STRINGS } from '../support/records';
import { Rng } from '../support/prng';

const col = (name: string, kind: DiscoveredColumn['kind'], size: number | null = null): DiscoveredColumn => ({
  name,
  kind,
  size,
});
const CHK = checkinoutLayout('CHECKINOUT', [
  col('USERID', 'int'),
  col('CHECKTIME', 'time'),
  col('CHECKTYPE', 'text', 1),
  col('VERIFYCODE', 'int'),
  col('SENSORID', 'text', 5),
  col('Memoinfo', 'text', 30),
  col('sn', 'text', 20),
  col('UserExtFmt', 'int'),
  col('WorkCode', 'text', 24),
]);
const USR = userinfoLayout('USERINFO', [col('USERID', 'int'), col('Badgenumber', 'text', 24), col('Name', 'text', 40)]);

/** What a Jet/SQLite lexer would take as the literal's content: undo the doubling. */
function unquote(lit: string): string {
  assert.ok(lit.startsWith("'") && lit.endsWith("'"));
  const body = lit.slice(1, -1);
  assert.ok(!/(^|[^'])'([^']|$)/.test(body.replace(/''/g, '')), 'no lone quote inside');
  return body.replace(/''/g, "'");
}

describe('access-sql: literal Jet SQL', () => {
  it('text literals double quotes and round-trip any printable string (property test)', () => {
    const rng = new Rng(42);
    const rnd = (): number => rng.u32() / 2 ** 32;
    const alphabet = [
      "'",
      '"',
      ';',
      '-',
      '/',
      '*',
      '[',
      ']',
      '{',
      '}',
      '\\',
      '%',
      '_',
      '?',
      '@',
      '#',
      'a',
      'Z',
      '0',
      ' ',
      'é',
      'ß',
      '中',
      '✓',
      '😀',
    ];
    for (let i = 0; i < 5000; i++) {
      const n = Math.floor(rnd() * 30);
      let s = '';
      while ([...s].length < n) s += alphabet[Math.floor(rnd() * alphabet.length)];
      const lit = sqlText(s, null, 'x');
      assert.equal(unquote(lit), s);
    }
    for (const s of NASTY_STRINGS) assert.equal(unquote(sqlText(s, null, 'x')), s);
  });

  it('rejects control characters, unpaired surrogates, over-long text and non-text; never truncates', () => {
    for (const bad of ['a\u0000b', 'line\nbreak', 'tab\t', '\u007f', 'cr\r'])
      assert.throws(() => sqlText(bad, null, 'x'), /control character/);
    assert.throws(() => sqlText('\ud800x', null, 'x'), /surrogate/);
    assert.throws(() => sqlText('x\udc00', null, 'x'), /surrogate/);
    assert.equal(sqlText('😀', null, 'x'), "'😀'");
    assert.throws(() => sqlText('123456', 5, 'SENSORID'), /SENSORID: 6 characters, the column holds 5/);
    assert.equal(sqlText('12345', 5, 'x'), "'12345'");
    assert.throws(() => sqlText(5 as unknown as string, 5, 'x'), LiteralError);
    // The Access driver cannot take a | in a string, quoted or not: refused, never sent.
    for (const bad of ['|', 'a|b', "x'|'y"])
      assert.throws(
        () => sqlText(bad, null, 'sn'),
        /sn: contains \| \(the Access ODBC driver cannot take a \| in a text value\)/,
      );
  });

  it("no statement passes the driver's 65,000 characters: the existing-keys query is split, inserts are checked", () => {
    const ids = Array.from({ length: 12_000 }, (_, i) => 1_000_000_000 + i);
    const one = buildExistingKeysQueries(CHK, ids, '2024-03-01 08:00:00', '2024-03-01 09:00:00');
    assert.ok(one.length >= 6);
    for (const q of one) assert.ok(q.length <= MAX_STATEMENT_CHARS, `${q.length} characters`);
    const listed = one.flatMap((q) => /IN \(([^)]*)\)/.exec(q)![1].split(', ').map(Number));
    assert.deepEqual(listed, ids);
    assert.throws(
      () => buildExistingKeysQuery(CHK, ids, '2024-03-01 08:00:00', '2024-03-01 09:00:00'),
      /existing keys query: statement of \d+ characters, the Access driver takes 65000/,
    );
    const wide = checkinoutLayout('CHECKINOUT', [
      col('USERID', 'int'),
      col('CHECKTIME', 'time'),
      col('sn', 'text', null),
    ]);
    assert.throws(
      () =>
        buildCheckinoutInsert(wide, USR, {
          userId: 1,
          checkTime: '2024-03-01 08:00:00',
          checkType: 'I',
          verifyCode: 1,
          sensorId: '1',
          sn: 'x'.repeat(70_000),
          workCode: 0,
          userExtFmt: null,
        }),
      /CHECKINOUT insert: statement of/,
    );
  });

  it('integers must be safe integers in range', () => {
    assert.equal(sqlInt(15, 'v'), '15');
    assert.equal(sqlInt(-3, 'v'), '-3');
    for (const bad of [1.5, NaN, Infinity, 2 ** 53, '1', null, 2 ** 31])
      assert.throws(() => sqlInt(bad, 'v'), LiteralError);
  });

  it('timestamps are validated calendar values in {ts …}', () => {
    assert.equal(sqlTimestamp('2024-02-29T23:59:59', 't'), "{ts '2024-02-29 23:59:59'}");
    assert.equal(sqlTimestamp('2024-02-29 00:00:00', 't'), "{ts '2024-02-29 00:00:00'}");
    for (const bad of [
      '2023-02-29T00:00:00',
      '2024-13-01T00:00:00',
      '2024-01-01T24:00:00',
      '2024-01-01T00:60:00',
      "2024-01-01T00:00:00'); DROP",
      '2024-1-1 0:0:0',
      '',
    ]) {
      assert.throws(() => wallClock(bad, 't'), LiteralError, bad);
    }
    assert.equal(readTime('2017-10-12 13:06:51.000'), '2017-10-12 13:06:51');
    assert.equal(readTime(new Date('2017-10-12T13:06:51Z')), '2017-10-12 13:06:51');
  });

  it('identifiers only as plain names', () => {
    assert.equal(quoteIdent('CHECKINOUT'), '[CHECKINOUT]');
    assert.throws(() => quoteIdent('a]; DROP TABLE x'), LiteralError);
  });

  it('the insert names its columns, takes the USERID already resolved (never the badge again) and guards the real key', () => {
    const sql = buildCheckinoutInsert(CHK, USR, {
      userId: 7,
      checkTime: '2024-03-01 08:00:00',
      checkType: 'I',
      verifyCode: 1,
      sensorId: '101',
      sn: 'OID6110056101900165',
      workCode: 0,
      userExtFmt: null,
    });
    assert.equal(
      sql,
      'INSERT INTO [CHECKINOUT] ([USERID], [CHECKTIME], [CHECKTYPE], [VERIFYCODE], [SENSORID], [sn], [WorkCode]) ' +
        "SELECT u.[USERID], {ts '2024-03-01 08:00:00'}, 'I', 1, '101', 'OID6110056101900165', '0' FROM [USERINFO] u " +
        "WHERE u.[USERID] = 7 AND NOT EXISTS (SELECT 1 FROM [CHECKINOUT] c WHERE c.[USERID] = u.[USERID] AND c.[CHECKTIME] = {ts '2024-03-01 08:00:00'})",
    );
    assert.ok(!/Badgenumber/.test(sql), 'the badge is not matched again');
    assert.ok(!/Memoinfo/.test(sql), 'Memoinfo is never written');
    // WorkCode as Long Integer, UserExtFmt configured, no SENSORID column.
    const older = checkinoutLayout('CHECKINOUT', [
      col('USERID', 'int'),
      col('CHECKTIME', 'time'),
      col('CHECKTYPE', 'text', 1),
      col('WorkCode', 'int'),
      col('UserExtFmt', 'int'),
    ]);
    const s2 = buildCheckinoutInsert(older, USR, {
      userId: 1,
      checkTime: '2024-03-01 08:00:00',
      checkType: 'O',
      verifyCode: 1,
      sensorId: '1',
      sn: 'X',
      workCode: 7,
      userExtFmt: 1,
    });
    assert.match(
      s2,
      /\(\[USERID\], \[CHECKTIME\], \[CHECKTYPE\], \[WorkCode\], \[UserExtFmt\]\) SELECT u\.\[USERID\], \{ts '2024-03-01 08:00:00'\}, 'O', 7, 1 FROM/,
    );
    assert.throws(
      () =>
        buildCheckinoutInsert(CHK, USR, {
          userId: 1,
          checkTime: '2024-03-01 08:00:00',
          checkType: 'I',
          verifyCode: 1,
          sensorId: '123456',
          sn: 'X',
          workCode: 0,
          userExtFmt: null,
        }),
      /SENSORID/,
    );
    assert.throws(
      () =>
        buildCheckinoutInsert(CHK, USR, {
          userId: 1,
          checkTime: '2024-03-01 08:00:00',
          checkType: 'I',
          verifyCode: 1,
          sensorId: '1',
          sn: 'X'.repeat(21),
          workCode: 0,
          userExtFmt: null,
        }),
      /sn: 21 characters/,
    );
  });

  it('existing-key and user queries', () => {
    assert.equal(
      buildExistingKeysQuery(CHK, [3, 1, 3], '2024-03-01 08:00:00', '2024-03-01 09:00:00'),
      "SELECT [USERID] AS uid, [CHECKTIME] AS ct FROM [CHECKINOUT] WHERE [CHECKTIME] BETWEEN {ts '2024-03-01 08:00:00'} AND {ts '2024-03-01 09:00:00'} AND [USERID] IN (3, 1)",
    );
    assert.equal(
      buildUserInsert(USR, "'; DROP TABLE USERINFO;", 'x'),
      "INSERT INTO [USERINFO] ([Badgenumber], [Name]) VALUES ('''; DROP TABLE USERINFO;', 'x')",
    );
  });

  it('layouts come from the discovered columns; missing required columns are a clear error', () => {
    const cols = toDiscovered([
      { COLUMN_NAME: 'CHECKTIME', DATA_TYPE: 93, COLUMN_SIZE: 19, ORDINAL_POSITION: 2 },
      { COLUMN_NAME: 'userid', DATA_TYPE: 4, COLUMN_SIZE: 10, ORDINAL_POSITION: 1 },
      { COLUMN_NAME: 'SENSORID', DATA_TYPE: -9, COLUMN_SIZE: 5, ORDINAL_POSITION: 3 },
    ]);
    assert.deepEqual(
      cols.map((c) => c.name),
      ['userid', 'CHECKTIME', 'SENSORID'],
    );
    const l = checkinoutLayout('CHECKINOUT', cols);
    assert.equal(l.userId.name, 'userid', 'matched case-insensitively, quoted as the database spells it');
    assert.equal(l.sensorId?.size, 5);
    assert.equal(l.sn, undefined);
    assert.throws(() => checkinoutLayout('CHECKINOUT', [col('USERID', 'int')]), /CHECKINOUT has no column CHECKTIME/);
  });

  it('CHECKTYPE map: ZKTime default letters, overrides, fallback for unknown states', () => {
    assert.deepEqual(
      [0, 1, 2, 3, 4, 5].map((s) => checkTypeFor(s, DEFAULT_CHECKTYPE_MAP, 'I').letter),
      ['I', 'O', '0', '1', 'i', 'o'],
    );
    assert.deepEqual(checkTypeFor(255, DEFAULT_CHECKTYPE_MAP, 'I'), { letter: 'I', known: false });
    assert.deepEqual(checkTypeFor(1, { ...DEFAULT_CHECKTYPE_MAP, 1: 'X' }, 'I'), { letter: 'X', known: true });
  });

  it('badge matching: exact first, normalised only when unambiguous', () => {
    const m = new BadgeMap('strip-zeros');
    m.add('289', 697);
    m.add('0042', 5);
    m.add('42', 6);
    m.add('007', 8);
    assert.deepEqual(m.lookup('289'), { userId: 697, badge: '289' });
    assert.deepEqual(m.lookup('0289'), { userId: 697, badge: '289' });
    assert.deepEqual(m.lookup('42'), { userId: 6, badge: '42' }, 'exact wins');
    assert.equal(m.lookup('042'), null, 'two users normalise to 42: do not guess');
    assert.deepEqual(m.lookup('7'), { userId: 8, badge: '007' });
    const p = new BadgeMap('zero-pad', 5);
    p.add('00012', 1);
    assert.deepEqual(p.lookup('12'), { userId: 1, badge: '00012' });
    assert.equal(new BadgeMap('exact').lookup('x'), null);
  });

  it("badges by Jet's case rule; one badge on several rows goes to the lowest USERID and is listed", () => {
    const m = new BadgeMap('exact');
    m.add('A12B', 4);
    assert.deepEqual(m.lookup('a12b'), { userId: 4, badge: 'A12B' });
    m.add('55', 9);
    m.add('55', 3);
    m.add('x9', 12);
    m.add('X9', 11);
    assert.deepEqual([m.lookup('55')?.userId, m.lookup('x9')?.userId, m.lookup('X9')?.userId], [3, 11, 11]);
    assert.deepEqual(m.duplicates(), [
      { badge: '55', userIds: [3, 9], chosen: 3 },
      { badge: 'X9', userIds: [11, 12], chosen: 11 },
    ]);
    const z = new BadgeMap('strip-zeros');
    z.add('00AB', 2);
    assert.equal(z.lookup('ab')?.userId, 2);
  });

  it('the Machines query uses aliases that are no column name', () => {
    const m = machinesLayout('Machines', [col('MachineNumber', 'int'), col('sn', 'text', 20), col('IP', 'text', 20)]);
    assert.equal(buildMachinesQuery(m), 'SELECT [MachineNumber] AS m_num, [sn] AS m_sn, [IP] AS m_ip FROM [Machines]');
  });

  it('connection strings and error classes', () => {
    assert.equal(
      buildConnectionString({ file: 'C:\\ZKTime\\att2000.mdb' }),
      'Driver={Microsoft Access Driver (*.mdb, *.accdb)};DBQ=C:\\ZKTime\\att2000.mdb;',
    );
    assert.equal(
      buildConnectionString({ file: 'C:\\a.mdb', password: 'p;w}' }),
      'Driver={Microsoft Access Driver (*.mdb, *.accdb)};DBQ=C:\\a.mdb;PWD={p;w}}};',
    );
    assert.throws(() => buildConnectionString({ file: 'C:\\x;Driver=evil' }), /contains ; \{ or \}/);
    assert.throws(() => buildConnectionString({}), /configure the att2000\.mdb/);
    const oe = (state: string, message: string) =>
      Object.assign(new Error('[odbc] Error executing the sql statement'), {
        odbcErrors: [{ state, code: 0, message }],
      });
    assert.equal(
      classifyOdbcError(
        oe(
          '23000',
          'The changes you requested to the table were not successful because they would create duplicate values in the index',
        ),
      ),
      'duplicate',
    );
    assert.equal(
      classifyOdbcError(oe('HY000', '[SQLite]UNIQUE constraint failed: CHECKINOUT.USERID, CHECKINOUT.CHECKTIME (19)')),
      'duplicate',
    );
    assert.equal(classifyOdbcError(oe('HY000', 'Could not update; currently locked.')), 'transient');
    assert.equal(classifyOdbcError(oe('HY000', '[SQLite]database is locked (5)')), 'transient');
    assert.equal(
      classifyOdbcError(oe('01000', "[unixODBC][Driver Manager]Can't open lib 'x.so' : file not found")),
      'config',
    );
    assert.equal(classifyOdbcError(oe('IM002', 'Data source name not found')), 'config');
    assert.equal(classifyOdbcError(oe('22001', 'String data, right truncation')), 'data');
    assert.equal(classifyOdbcError(oe('HY000', '[SQLite]NOT NULL constraint failed: CHECKINOUT.USERID (19)')), 'data');
    // For the delivery loop: driver, file, lock and link problems are outages; an error the driver answered
    // for a statement may be about a record (every Access driver message names the driver).
    assert.equal(
      accessFailureScope(oe('HY000', '[Microsoft][ODBC Microsoft Access Driver] Could not update; currently locked.')),
      'outage',
    );
    assert.equal(accessFailureScope(oe('08S01', 'Communication link failure')), 'outage');
    assert.equal(accessFailureScope(oe('IM002', 'Data source name not found')), 'outage');
    assert.equal(
      accessFailureScope(
        oe('37000', '[Microsoft][ODBC Microsoft Access Driver] Syntax error in string in query expression'),
      ),
      'records',
    );
  });

  it('a missing odbc package gives an error naming the package and what to install', () => {
    assert.throws(
      () =>
        loadOdbc(() => {
          throw Object.assign(new Error("Cannot find module 'odbc'"), { code: 'MODULE_NOT_FOUND' });
        }),
      (e: unknown) =>
        e instanceof SinkError &&
        !e.permanent &&
        e.target === 'access' &&
        /optional package "odbc".*npm install odbc.*unixodbc-dev.*Access Database Engine.*Cannot find module/s.test(
          e.message,
        ),
    );
  });
});
