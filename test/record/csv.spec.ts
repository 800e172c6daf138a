import { strict as assert } from 'assert';
import { csvField, csvRecordRow, csvRows, firstCsvField, guardFormula, unguardFormula } from '../../lib/record/csv';
import { Rng } from '../support/prng';
import { syntheticRecord } from '../../support/sink-records';

describe('record CSV', () => {
  it('guards text a spreadsheet would run as a formula, and leaves plain numbers and ordinary text alone', () => {
    for (const s of ['=1+2', '+cmd', '-2+3', '@SUM(A1)', '\tx', '\r=1'])
      assert.equal(guardFormula(s), `'${s}`, JSON.stringify(s));
    for (const s of ['-5', '+12', '-3.25', '1001', 'Gate 1', "O'Brien", '', "'quoted"])
      assert.equal(guardFormula(s), s, JSON.stringify(s));
    // Already quoted-looking text gets one more quote, so reading back is exact.
    assert.equal(guardFormula("'=x"), "''=x");
    assert.equal(csvField('=1+2'), "'=1+2");
    assert.equal(csvField('=A1,B1'), `"'=A1,B1"`);
    assert.equal(csvField(-5), '-5'); // numbers are never text
  });

  it('unguardFormula(guardFormula(s)) === s for any text (fuzz), so the guard never merges two values', () => {
    const rng = new Rng(4242);
    const alphabet = ["'", '=', '+', '-', '@', '\t', '\r', 'a', '1', '.', ' ', '"', ','];
    const seen = new Map<string, string>();
    for (let i = 0; i < 20000; i++) {
      let s = '';
      const len = rng.range(0, 6);
      for (let k = 0; k < len; k++) s += rng.pick(alphabet);
      const g = guardFormula(s);
      assert.equal(unguardFormula(g), s, JSON.stringify(s));
      const before = seen.get(g);
      assert.ok(
        before === undefined || before === s,
        `${JSON.stringify(before)} and ${JSON.stringify(s)} both guard to ${JSON.stringify(g)}`,
      );
      seen.set(g, s);
    }
    assert.ok(seen.size > 5000, `the fuzz tried ${seen.size} distinct texts`);
  });

  it('reads back the first field of each row it wrote, quotes, line breaks and guards included', () => {
    const ids = ['plain', 'a,b', 'say "hi"', 'two\nlines', '=x', "'=x", ' padded', '-SN|1|2024'];
    const text = ids.map((id) => csvRecordRow({ ...syntheticRecord(0), id })).join('');
    const rows = csvRows(text);
    assert.equal(rows.length, ids.length);
    assert.deepEqual(rows.map(firstCsvField), ids);
  });
});
