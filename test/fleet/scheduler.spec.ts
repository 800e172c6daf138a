import { strict as assert } from 'assert';
import { FleetScheduler, HealthTracker, DeviceResult } from '../../lib/fleet';
import { sleep } from '../../support/wait';

/** A fake clock: tests move time instead of waiting. */
function fakeClock(start = 1_000_000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

describe('fleet: health and backoff', () => {
  it('exponential backoff with jitter that only shortens, capped', () => {
    const clock = fakeClock();
    const h = new HealthTracker({ now: clock.now, random: () => 0, backoffBaseMs: 1000, backoffMaxMs: 8000 });
    const delays = [1, 2, 3, 4, 5, 6].map(() => h.recordFailure('d', 'x').retryInMs);
    assert.deepEqual(delays, [1000, 2000, 4000, 8000, 8000, 8000]);
    const j = new HealthTracker({ now: clock.now, random: () => 0.999, jitter: 0.5, backoffBaseMs: 1000 });
    const d = j.recordFailure('d', 'x').retryInMs;
    assert.ok(d >= 500 && d <= 1000, String(d));
  });

  it('N failures → error and exactly one alert; success resets and reports recovery', () => {
    const clock = fakeClock();
    const h = new HealthTracker({ now: clock.now, random: () => 0, failuresToError: 3 });
    const v = [1, 2, 3, 4, 5].map(() => h.recordFailure('d', new Error('refused')));
    assert.deepEqual(
      v.map((x) => x.health.state),
      ['backoff', 'backoff', 'error', 'error', 'error'],
    );
    assert.deepEqual(
      v.map((x) => x.alert),
      [false, false, true, false, false],
    );
    assert.equal(h.recordSuccess('d'), true);
    assert.deepEqual([h.get('d').state, h.get('d').consecutiveFailures, h.isDue('d')], ['ok', 0, true]);
    assert.equal(h.recordFailure('d', 'x').alert, false);
    assert.equal(h.recordFailure('d', 'x').alert, false);
    assert.equal(h.recordFailure('d', 'x').alert, true, 'a new streak may alert again');
  });

  it('after a 24 h streak a device is tried only every 60 min until it answers', () => {
    const clock = fakeClock();
    const h = new HealthTracker({ now: clock.now, random: () => 0, backoffMaxMs: 30 * 60_000 });
    h.recordFailure('d', 'x');
    let last = h.get('d');
    while (clock.now() - (last.firstFailureAt ?? 0) < 24 * 3600_000) {
      clock.advance(last.nextAttemptAt - clock.now());
      last = h.recordFailure('d', 'x').health;
      if (last.state !== 'disabled') assert.ok(last.nextAttemptAt - clock.now() <= 30 * 60_000);
    }
    assert.equal(last.state, 'disabled');
    assert.equal(last.nextAttemptAt - clock.now(), 60 * 60_000);
    clock.advance(59 * 60_000);
    assert.equal(h.isDue('d'), false);
    clock.advance(60_000);
    assert.equal(h.isDue('d'), true);
    assert.equal(h.recordSuccess('d'), true);
    assert.equal(h.get('d').state, 'ok');
  });
});

describe('fleet: FleetScheduler', () => {
  it('never runs more than `concurrency` devices at once, and streams results', async () => {
    const s = new FleetScheduler({ concurrency: 4 });
    let running = 0;
    let peak = 0;
    const order: string[] = [];
    const entries = Array.from({ length: 20 }, (_, i) => ({ key: `d${i}`, item: i }));
    const summary = await s.runCycle(
      entries,
      async (i) => {
        running++;
        peak = Math.max(peak, running);
        await sleep((i % 3) * 3);
        running--;
        return i * 2;
      },
      { onResult: (r) => void order.push(r.key) },
    );
    assert.equal(peak, 4);
    assert.deepEqual([summary.total, summary.ok, summary.failed, summary.skipped], [20, 20, 0, 0]);
    assert.equal(order.length, 20);
  });

  it('skips devices in backoff until due (fake clock); force polls them anyway', async () => {
    const clock = fakeClock();
    const s = new FleetScheduler({ now: clock.now, random: () => 0, backoffBaseMs: 10_000, failuresToError: 2 });
    const entries = [
      { key: 'good', item: true },
      { key: 'bad', item: false },
    ];
    const work = async (ok: boolean) => {
      if (!ok) throw new Error('bad: connection refused');
      return 'ok';
    };
    const results: DeviceResult<boolean, string>[] = [];
    const run = async (force = false) => {
      await s.runCycle(entries, work, { force, onResult: (r) => void results.push(r) });
      results.sort((a, b) => (a.key === 'good' ? -1 : b.key === 'good' ? 1 : 0));
    };
    await run();
    assert.deepEqual(
      results.map((r) => [r.key, r.status]),
      [
        ['good', 'ok'],
        ['bad', 'failed'],
      ],
    );
    results.length = 0;
    clock.advance(5000);
    await run();
    assert.deepEqual(
      results.map((r) => [r.key, r.status]),
      [
        ['good', 'ok'],
        ['bad', 'skipped'],
      ],
    );
    results.length = 0;
    clock.advance(5000);
    await run();
    const bad = results.find((r) => r.key === 'bad')!;
    assert.deepEqual([bad.status, bad.alert, bad.health.state], ['failed', true, 'error']);
    results.length = 0;
    await run(true);
    assert.deepEqual(
      results.map((r) => [r.key, r.status, r.alert]),
      [
        ['good', 'ok', false],
        ['bad', 'failed', false],
      ],
    );
  });

  it('a per-device deadline aborts the worker and counts as a failure', async () => {
    const s = new FleetScheduler({ deviceTimeoutMs: 30 });
    let aborted = false;
    const results: DeviceResult<number, void>[] = [];
    await s.runCycle(
      [{ key: 'slow', item: 1 }],
      (_i, _k, signal) =>
        new Promise<void>((resolve) => {
          signal.addEventListener('abort', () => {
            aborted = true;
            resolve();
          });
        }),
      { onResult: (r) => void results.push(r) },
    );
    assert.equal(aborted, true);
    assert.equal(results[0].status, 'failed');
    assert.match(results[0].error!.message, /slow: no complete poll within/);
  });

  it('an aborted cycle starts no more devices', async () => {
    const s = new FleetScheduler({ concurrency: 1 });
    const ac = new AbortController();
    let started = 0;
    const summary = await s.runCycle(
      Array.from({ length: 5 }, (_, i) => ({ key: `d${i}`, item: i })),
      async () => {
        started++;
        ac.abort();
      },
      { signal: ac.signal },
    );
    assert.equal(started, 1);
    assert.equal(summary.aborted, true);
  });
});
