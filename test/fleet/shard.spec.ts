/** lib/fleet/shard: the setting's syntax, a fixed hash (stable across restarts), partitions, balance. */
import { strict as assert } from 'assert';
import { devicesFromRange, parseShard, selectShard, shardKey, shardOf, formatShard, MAX_SHARDS } from '../../lib/fleet';

describe('fleet sharding', () => {
  it('parses "i/n" and "i of n"; blank, off and n = 1 mean no sharding', () => {
    assert.deepEqual(parseShard('1/4'), { index: 1, count: 4 });
    assert.deepEqual(parseShard(' 0 of 2 '), { index: 0, count: 2 });
    for (const off of ['', '  ', 'off', 'OFF', 'none', undefined, null, '0/1'])
      assert.equal(parseShard(off), null, String(off));
    assert.equal(formatShard({ index: 3, count: 8 }), 'shard 3/8');
  });

  it('rejects typos with a message that says what to write', () => {
    assert.throws(() => parseShard('4/4'), /count from 0, so the index must be below 4/);
    assert.throws(() => parseShard('1/0'), /from 1 to/);
    assert.throws(() => parseShard(`0/${MAX_SHARDS + 1}`), /from 1 to/);
    assert.throws(() => parseShard('2'), /must look like "0\/4"/);
    assert.throws(
      () => parseShard('${PUNCHFLOW_SHARD}'),
      /must look like/,
      'an unset env variable is not silently "off"',
    );
  });

  it('hashes host:port (lower-cased) with SHA-256: known values, independent of process and order', () => {
    // printf '10.1.0.5:4370' | sha256sum → 4c514575…; 0x4c514575 % 4 = 1.
    assert.equal(shardKey({ host: '10.1.0.5', port: 4370 }), '10.1.0.5:4370');
    assert.equal(shardOf('10.1.0.5:4370', 4), 1);
    assert.equal(shardOf('10.1.0.5:4370', 0x4c514575 + 1), 0x4c514575);
    assert.equal(shardKey({ host: 'Clock-1.Branch.Example', port: 4370 }), 'clock-1.branch.example:4370');
    assert.equal(shardKey({ host: 'fe80::1', port: 4370 }), '[fe80::1]:4370');
    assert.equal(shardKey({ host: '10.1.0.5', port: 4370, serial: 'CKJ1234567890' }), 'CKJ1234567890');
    assert.throws(() => shardOf('x', 0), RangeError);
  });

  it('shards partition a fleet: disjoint, complete, list order kept, roughly balanced', () => {
    const fleet = devicesFromRange('10.20.0.1-10.20.19.136', { port: 4370, tz: 'UTC' }, 5000); // 5,000 devices
    assert.equal(fleet.length, 5000);
    for (const n of [2, 3, 8]) {
      const parts = Array.from({ length: n }, (_, i) => selectShard(fleet, { index: i, count: n }));
      const all = parts.flat().map((d) => d.host);
      assert.equal(all.length, fleet.length, `n=${n}: every device exactly once`);
      assert.equal(new Set(all).size, fleet.length);
      for (const part of parts) {
        assert.ok(
          Math.abs(part.length - fleet.length / n) < (fleet.length / n) * 0.1,
          `n=${n}: ${part.length} devices`,
        );
        const idx = part.map((d) => fleet.indexOf(d));
        assert.deepEqual(
          idx,
          [...idx].sort((a, b) => a - b),
        );
      }
    }
    assert.equal(selectShard(fleet, null).length, 5000);
    // The same list in another order gives each device the same shard.
    const reversed = selectShard([...fleet].reverse(), { index: 1, count: 3 })
      .map((d) => d.host)
      .sort();
    assert.deepEqual(
      reversed,
      selectShard(fleet, { index: 1, count: 3 })
        .map((d) => d.host)
        .sort(),
    );
  });
});
