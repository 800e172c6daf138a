import { strict as assert } from 'assert';
import {
  RowRejection,
  SQL_IDENTIFIER,
  SQL_IDENTIFIER_MAX,
  SerialWrites,
  chunk,
  codePoints,
  convertBatch,
  dateTimeParts,
  hasLoneSurrogate,
  isCalendarTime,
  isSqlIdentifier,
  keyOf,
  planRanges,
  recordKey,
  sqlDateTimeText,
} from '../../lib/sinks/sql';
import { SAFE_IDENTIFIER, quoteIdentifier } from '../../lib/sinks/mysql-sql';
import { IDENTIFIER, quoteIdent as mssqlQuote } from '../../lib/sinks/mssql-sql';
import { quoteIdent as accessQuote, wallClock } from '../../lib/sinks/access-sql';
import { makeRecord } from '../support/records';

describe('sql: what the SQL targets share', () => {
  it("one identifier rule, with each target's length limit, used by every target's quoting", () => {
    assert.deepEqual(SQL_IDENTIFIER_MAX, { mysql: 64, mssql: 128, access: 64 });
    assert.equal(SAFE_IDENTIFIER, SQL_IDENTIFIER.mysql);
    assert.equal(IDENTIFIER, SQL_IDENTIFIER.mssql);
    for (const good of ['attendance_log', '_x', 'A1', 'select', 'a'.repeat(64)]) {
      for (const t of ['mysql', 'mssql', 'access'] as const) assert.ok(isSqlIdentifier(good, t), `${good} ${t}`);
    }
    for (const bad of ['', '1abc', 'a-b', 'a`b', 'a]b', 'a b', "x'y", 'tbl.col', 'ä', 'a\nb', null, 5]) {
      for (const t of ['mysql', 'mssql', 'access'] as const) assert.ok(!isSqlIdentifier(bad, t), `${String(bad)} ${t}`);
    }
    const long = 'a'.repeat(65);
    assert.deepEqual(
      [isSqlIdentifier(long, 'mysql'), isSqlIdentifier(long, 'mssql'), isSqlIdentifier(long, 'access')],
      [false, true, false],
    );
    assert.ok(isSqlIdentifier('a'.repeat(128), 'mssql') && !isSqlIdentifier('a'.repeat(129), 'mssql'));
    // The editor gets the pattern as text: the same rule rebuilt from its source.
    assert.ok(new RegExp(SQL_IDENTIFIER.access.source).test('CHECKINOUT'));
    assert.throws(() => quoteIdentifier(long), /invalid MySQL identifier/);
    assert.equal(mssqlQuote(long), `[${long}]`);
    assert.throws(() => accessQuote(long), /not a plain name/);
  });

  it('the record key separates its parts with NUL, so different parts never make one key', () => {
    const a = makeRecord(0, { deviceSn: 'A', userId: '1 2' });
    const b = makeRecord(0, { deviceSn: 'A 1', userId: '2' });
    assert.notEqual(recordKey(a), recordKey(b));
    assert.equal(recordKey(a), 'A\u00001 2\u00002024-03-01T08:00:00');
    assert.equal(recordKey(a, '2024-03-01 08:00:00'), 'A\u00001 2\u00002024-03-01 08:00:00');
    assert.equal(keyOf(12, '2024-03-01 08:00:00'), '12\u00002024-03-01 08:00:00');
  });

  it("convertBatch: rejects with the converter's reason, keeps the first record of a key, counts the rest as duplicates", () => {
    const a = makeRecord(0, { userId: '1' });
    const bad = makeRecord(0, { userId: '2' });
    const b = makeRecord(0, { userId: '3' });
    const a2 = makeRecord(0, { userId: '1', deviceName: 'other door' });
    const out = convertBatch([a, bad, b, a2], (r) => (r.userId === '2' ? new RowRejection('no user 2') : [r.userId]));
    assert.deepEqual(out.rows, [['1'], ['3']]);
    assert.deepEqual(out.records, [a, b]);
    assert.deepEqual(out.rejected, [{ record: bad, reason: 'no user 2' }]);
    assert.deepEqual(out.duplicates, [a2]);
    // Another key function: the device is not part of it.
    const byUser = convertBatch(
      [a, makeRecord(0, { userId: '1', deviceSn: 'B' })],
      (r) => r.deviceSn,
      (r) => r.userId,
    );
    assert.deepEqual([byUser.rows, byUser.duplicates.length], [['OID6110056101900165'], 1]);
  });

  it('chunking by count, and by count and size together', () => {
    assert.deepEqual(chunk([1, 2, 3, 4, 5], 2), [[1, 2], [3, 4], [5]]);
    assert.deepEqual(chunk([], 3), []);
    const sizes = [3, 3, 3, 10, 1, 1];
    assert.deepEqual(
      planRanges(sizes, 2, (n) => n, 100),
      [
        [0, 2],
        [2, 4],
        [4, 6],
      ],
    );
    // 3+3 fits in 7, a third 3 does not; 10 alone exceeds the limit and stands alone.
    assert.deepEqual(
      planRanges(sizes, 10, (n) => n, 7),
      [
        [0, 2],
        [2, 3],
        [3, 4],
        [4, 6],
      ],
    );
    assert.deepEqual(
      planRanges([], 10, (n: number) => n, 7),
      [],
    );
  });

  it('value checks: lone surrogates, code points, calendar times', () => {
    assert.ok(hasLoneSurrogate('a\uD800b') && hasLoneSurrogate('\uDC00') && hasLoneSurrogate('x\uD83D'));
    assert.ok(!hasLoneSurrogate('😀') && !hasLoneSurrogate('plain'));
    assert.equal(codePoints('a😀b'), 3);
    assert.deepEqual(dateTimeParts('2024-02-29T23:59:59'), { y: 2024, mo: 2, d: 29, h: 23, mi: 59, s: 59 });
    assert.equal(dateTimeParts('2024-02-29 23:59:59'), null);
    assert.ok(dateTimeParts('2024-02-29 23:59:59', true));
    for (const bad of ['2024-2-29T23:59:59', '2024-02-29T23:59', '2024-02-29T23:5x:59', '２０２４-02-29T23:59:59'])
      assert.equal(dateTimeParts(bad, true), null, bad);
    const cal = (s: string, min = 1000): boolean => isCalendarTime(dateTimeParts(s)!, min);
    assert.ok(cal('2024-02-29T00:00:00') && cal('2000-02-29T00:00:00'));
    for (const bad of [
      '2023-02-29T00:00:00',
      '1900-02-29T00:00:00',
      '2024-13-01T00:00:00',
      '2024-04-31T00:00:00',
      '2024-01-01T24:00:00',
      '2024-01-01T00:60:00',
      '2024-01-01T00:00:60',
      '2024-00-01T00:00:00',
    ]) {
      assert.ok(!cal(bad), bad);
    }
    assert.ok(cal('1899-12-31T00:00:00') && !cal('1899-12-31T00:00:00', 1900));
    assert.equal(sqlDateTimeText('2024-03-01T08:00:00.123Z'), '2024-03-01 08:00:00');
    // Access keeps its rules on top of the shared checks.
    assert.equal(wallClock('2024-03-01T08:00:00', 'x'), '2024-03-01 08:00:00');
    assert.throws(() => wallClock('1899-12-31 08:00:00', 'x'), /not a real date and time/);
    assert.throws(() => wallClock('2024-03-01T08:00:00Z', 'x'), /is not YYYY-MM-DD HH:MM:SS/);
  });

  it('SerialWrites: one write at a time, in call order, a failure does not stop the next', async () => {
    const q = new SerialWrites();
    const log: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const first = q.run(async () => {
      log.push('1 start');
      await gate;
      log.push('1 end');
      throw new Error('first failed');
    });
    const second = q.run(async () => {
      log.push('2 start');
      return 2;
    });
    await Promise.resolve();
    assert.deepEqual(log, ['1 start']);
    release();
    await assert.rejects(first, /first failed/);
    assert.equal(await second, 2);
    await q.idle();
    assert.deepEqual(log, ['1 start', '1 end', '2 start']);
  });
});
