import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { IdSet, RepeatRule, DedupeStore } from '../../lib/dedupe';
import { checkNoLeaks } from '../support/handles';

describe('dedupe', function () {
  this.timeout(30000);
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pf-dedupe-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));
  checkNoLeaks();

  it('IdSet: first time passes, again is a duplicate; max keys evicts the oldest; retention expires', () => {
    const s = new IdSet({ maxKeys: 3, retentionMs: 1000 });
    assert.equal(s.add('a', 0), true);
    assert.equal(s.add('a', 1), false);
    s.add('b', 10);
    s.add('c', 20);
    s.add('d', 30);
    assert.equal(s.size, 3);
    assert.equal(s.has('a'), false);
    assert.equal(s.expire(1015), 1); // b (10) is older than 1015 - 1000
    assert.deepEqual(
      [...s.entries()].map(([id]) => id),
      ['c', 'd'],
    );
  });

  it('IdSet: a million ids in memory, each a duplicate the second time (speed printed, not asserted: bench/ measures it)', () => {
    const n = 1_000_000;
    const ids = new Array<string>(n);
    for (let i = 0; i < n; i++) ids[i] = `SN000${i % 7}|${i}|2024-03-04T06:00:00`;
    const s = new IdSet({ maxKeys: 2_000_000 });
    let t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) s.add(ids[i], 1);
    const addS = Number(process.hrtime.bigint() - t0) / 1e9;
    t0 = process.hrtime.bigint();
    let dup = 0;
    for (let i = 0; i < n; i++) if (!s.add(ids[i], 2)) dup++;
    const dupS = Number(process.hrtime.bigint() - t0) / 1e9;
    assert.equal(dup, n);
    const rate = Math.round(n / addS);
    const dupRate = Math.round(n / dupS);
    // eslint-disable-next-line no-console
    console.log(`      dedupe: ${rate} new ids/s, ${dupRate} duplicate checks/s`);
    assert.equal(s.size, n);
  });

  it('RepeatRule: same user on the same device within N s is a repeat; other device or later is not', () => {
    const r = new RepeatRule(60_000);
    assert.equal(r.isRepeat('A', '7', '2024-03-04T08:00:00.000Z'), false);
    assert.equal(r.isRepeat('A', '7', '2024-03-04T08:00:30.000Z'), true);
    assert.equal(r.isRepeat('B', '7', '2024-03-04T08:00:30.000Z'), false);
    assert.equal(r.isRepeat('A', '8', '2024-03-04T08:00:30.000Z'), false);
    assert.equal(r.isRepeat('A', '7', '2024-03-04T08:01:00.000Z'), false);
    assert.equal(r.isRepeat('A', '7', '2024-03-04T08:01:59.000Z'), true);
  });

  it('DedupeStore: ids survive a restart; expired ones do not; a torn log line is ignored', async () => {
    let now = 1_000_000;
    const a = await DedupeStore.open({ dir, name: 'n1', retentionMs: 10_000, now: () => now });
    assert.equal(a.add('x|1|t'), true);
    now += 8000;
    assert.equal(a.add('y|"quoted"\n|t'), true);
    await a.close();
    fs.appendFileSync(path.join(dir, 'n1.log'), '123\t"torn');
    now += 5000; // x is now 13 s old: expired
    const b = await DedupeStore.open({ dir, name: 'n1', retentionMs: 10_000, now: () => now });
    assert.equal(b.has('x|1|t'), false);
    assert.equal(b.has('y|"quoted"\n|t'), true);
    assert.equal(b.add('y|"quoted"\n|t'), false);
    assert.equal(b.set.size, 1);
    await b.close();
  });

  it('DedupeStore: 200,000 ids persist and reload (printed)', async () => {
    const a = await DedupeStore.open({ dir, name: 'big' });
    for (let i = 0; i < 200_000; i++) a.add(`SN|${i}|2024-03-04T06:00:00`);
    await a.close();
    const t0 = Date.now();
    const b = await DedupeStore.open({ dir, name: 'big' });
    const ms = Date.now() - t0;
    assert.equal(b.set.size, 200_000);
    // eslint-disable-next-line no-console
    console.log(`      dedupe: reload of 200,000 ids in ${ms} ms`);
    await b.close();
  });
});
