import { strict as assert } from 'assert';
import { ZkSimulator, LONG_ID_INDEX, LEADING_ZERO_INDEX, VERIFY_TYPES } from '../../lib/sim';
import { isValidWallClock, wallClockSeconds } from '../../lib/protocol';

describe('sim: generated data', () => {
  it('is deterministic for a seed and differs between seeds', () => {
    const a = new ZkSimulator({
      seed: 42,
      users: 10,
      records: 200,
      frozenClock: { year: 2024, month: 3, day: 15, hour: 12, minute: 0, second: 0 },
    });
    const b = new ZkSimulator({
      seed: 42,
      users: 10,
      records: 200,
      frozenClock: { year: 2024, month: 3, day: 15, hour: 12, minute: 0, second: 0 },
    });
    const c = new ZkSimulator({
      seed: 43,
      users: 10,
      records: 200,
      frozenClock: { year: 2024, month: 3, day: 15, hour: 12, minute: 0, second: 0 },
    });
    assert.deepEqual(a.users, b.users);
    assert.deepEqual(a.records, b.records);
    assert.equal(a.serial, b.serial);
    assert.match(a.serial, /^SIM\d{10}$/);
    assert.notDeepEqual(a.records, c.records);
    assert.notEqual(a.serial, c.serial);
  });

  it('makes punches in the past, strictly increasing, with valid state and verify', () => {
    const sim = new ZkSimulator({ seed: 5, users: 30, records: 5000 });
    const now = wallClockSeconds(sim.now());
    let prev = -Infinity;
    const userIds = new Set(sim.users.map((u) => u.userId));
    for (const r of sim.records) {
      assert.ok(isValidWallClock(r.time));
      const t = wallClockSeconds(r.time);
      assert.ok(t > prev, 'increasing');
      assert.ok(t < now, 'in the past');
      prev = t;
      assert.ok(r.state >= 0 && r.state <= 5);
      assert.ok(VERIFY_TYPES.includes(r.verify));
      assert.ok(userIds.has(r.userId));
    }
    assert.ok(now - wallClockSeconds(sim.records[0].time) > 86400, 'spread over previous days');
  });

  it('gives tft a 24-character and a leading-zero user id, zk6/compact8 numeric ids', () => {
    const tft = new ZkSimulator({ profile: 'tft', users: 6, records: 0 });
    assert.equal(tft.users[LONG_ID_INDEX].userId.length, 24);
    assert.match(tft.users[LONG_ID_INDEX].userId, /^[1-9]\d{23}$/);
    assert.match(tft.users[LEADING_ZERO_INDEX].userId, /^00\d+$/);
    for (const profile of ['zk6', 'compact8'] as const) {
      const s = new ZkSimulator({ profile, users: 6, records: 10 });
      for (const u of s.users) {
        assert.match(u.userId, /^[1-9]\d*$/);
        assert.ok(Number(u.userId) < 65536);
      }
    }
  });

  it('generates 100,000 records, each (user, second) once', () => {
    const sim = new ZkSimulator({ profile: 'tft', users: 200, records: 100000 });
    assert.equal(sim.records.length, 100000);
    assert.equal(new Set(sim.records.map((r) => `${r.userId}|${JSON.stringify(r.time)}`)).size, 100000);
  });

  it('gbk names use real GBK bytes for the built-in names', () => {
    const sim = new ZkSimulator({ users: 4, records: 0, faults: { nameEncoding: 'gbk' } });
    assert.ok(sim.users.some((u) => /[\u4e00-\u9fff]/.test(u.name ?? '')));
    assert.equal(sim.nameEncodingFellBackToUtf8, false);
  });
});
