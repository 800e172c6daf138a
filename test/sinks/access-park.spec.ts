import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { ParkingLot } from '../../lib/sinks/access-park';
import { makeRecord } from '../support/records';

describe('access sink: parking lot (unknown badges, policy park)', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pf-lot-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  const t0 = Date.parse('2024-03-05T00:00:00Z');
  const day = 86_400_000;

  it('keeps one entry per record id, sorts ready from expired, and survives a reopen', async () => {
    const file = path.join(dir, 'lot.json');
    const lot = await ParkingLot.open(file);
    const a = makeRecord(0, { userId: '700', localTime: '2024-03-04T08:00:00' });
    const b = makeRecord(0, { userId: '701', localTime: '2024-03-04T08:00:00' });
    await lot.update([a, b, a], [], t0);
    await lot.update([a], [], t0 + day); // parked again (a replay): keeps its first time
    assert.equal(lot.size, 2);
    const again = await ParkingLot.open(file);
    assert.equal(again.size, 2);
    const { ready, expired } = again.sort((r) => r.userId === '700', t0 + 3 * day, 2 * day);
    assert.deepEqual(
      ready.map((e) => e.record.id),
      [a.id],
    );
    assert.deepEqual(
      expired.map((e) => [e.record.id, e.parkedAt]),
      [[b.id, new Date(t0).toISOString()]],
    );
    assert.deepEqual(
      again.sort(() => false, t0 + day, 2 * day),
      { ready: [], expired: [] },
    );
    await again.update([], [a.id, b.id], t0 + 3 * day);
    assert.equal((await ParkingLot.open(file)).size, 0);
  });

  it('skips and reports entries that are not parked records; moves a file that is not JSON aside', async () => {
    const file = path.join(dir, 'lot.json');
    const good = { record: makeRecord(0, { userId: '9' }), parkedAt: '2024-03-05T00:00:00.000Z' };
    fs.writeFileSync(
      file,
      JSON.stringify([good, null, 7, { record: {}, parkedAt: 'x' }, { record: { id: 'y' }, parkedAt: 'not a time' }]),
    );
    const problems: string[] = [];
    const lot = await ParkingLot.open(file, (m) => problems.push(m));
    assert.equal(lot.size, 1);
    assert.ok(lot.has(good.record.id));
    assert.deepEqual(problems, [`parked punches file ${file}: 4 entries unreadable, skipped`]);
    fs.writeFileSync(file, '[{"record":');
    problems.length = 0;
    assert.equal((await ParkingLot.open(file, (m) => problems.push(m))).size, 0);
    assert.match(problems[0], /was unreadable; moved to .*lot\.json\.corrupt-\d+/);
    assert.ok(!fs.existsSync(file));
  });

  it('a failed save leaves memory as it was, so the retry saves again', async () => {
    const file = path.join(dir, 'lot.json');
    const lot = await ParkingLot.open(file);
    fs.mkdirSync(file); // a directory where the file goes: the write fails
    const a = makeRecord(0, { userId: '700' });
    await assert.rejects(lot.update([a], [], t0));
    assert.equal(lot.size, 0);
    fs.rmdirSync(file);
    await lot.update([a], [], t0);
    assert.equal(lot.size, 1);
    assert.equal(JSON.parse(fs.readFileSync(file, 'utf8')).length, 1);
  });
});
