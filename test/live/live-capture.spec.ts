import { strict as assert } from 'assert';
import { Cmd } from '../../lib/protocol/constants';
import { CursorStore } from '../../lib/fleet/cursor-store';
import { checkNoLeaks } from '../support/handles';
import { sleep, until } from '../../support/wait';
import { recordsBeforeMarker } from '../support/marker';
import { Rig, rig, wallAt, duplicateIds } from './support';

describe('live/LiveCapture against the simulator', function () {
  this.timeout(20000);
  let r: Rig | null = null;
  // Before checkNoLeaks(): mocha runs afterEach hooks in the order they were added.
  afterEach(async () => {
    await r?.close();
    r = null;
  });
  checkNoLeaks();

  function user(i: number): string {
    if (!r) throw new Error('no rig');
    return r.sim.users[i % r.sim.users.length].userId;
  }

  it('emits a live punch as one canonical record within 1 s, and saves the cursor', async () => {
    r = await rig();
    r.cap.start();
    await until(() => r!.statuses.some((s) => s.state === 'online'), 5000, 'online');
    assert.equal(r.records.length, 0, 'first start: the existing log is not replayed (firstStart now)');
    const t0 = Date.now();
    r.sim.punch({ userId: user(3), state: 1, verify: 1, at: wallAt(0) });
    await until(() => r!.records.length === 1, 1000, 'the live record');
    assert.ok(Date.now() - t0 < 1000);
    const rec = r.records[0];
    assert.equal(rec.source, 'live');
    assert.equal(rec.userId, user(3));
    assert.equal(rec.deviceSn, r.sim.serial);
    assert.equal(rec.direction, 'out');
    assert.equal(rec.deviceName, 'Door');
    assert.equal(rec.site, 'HQ');
    const online = r.statuses.find((s) => s.state === 'online');
    assert.equal(online?.deviceSn, r.sim.serial);
    assert.equal(online?.deviceHost, `127.0.0.1:${r.port}`);
    // The cursor file follows lazily (cursorSaveMs) and at the latest on stop().
    await r.cap.stop();
    assert.equal(new CursorStore(r.dir).get(r.sim.serial)?.lastLocalTime, rec.localTime, 'cursor on disk after stop');
  });

  it('live punches do not save the cursor each: it lags, and a crash before the next save re-emits them from the device', async () => {
    // The capture's cursor writes go to the store only while `alive`: a crash is the moment they stop.
    let alive = true;
    let saves = 0;
    r = await rig();
    const store = r.store;
    const cap = r.recapture({
      cursorSaveMs: 600_000,
      cursors: {
        get: (k) => store.get(k),
        set: (k, c) => {
          if (!alive) return Promise.resolve();
          saves++;
          return store.set(k, c);
        },
      },
    });
    cap.start();
    await until(() => r!.statuses.some((s) => s.state === 'online'), 5000, 'online');
    await store.flush();
    const savedAtStart = saves; // the first start's read of the log end
    const before = new CursorStore(r.dir).get(r.sim.serial);
    assert.ok(before, 'the first start saved its cursor');
    for (let i = 0; i < 5; i++) r.sim.punch({ userId: user(i), at: wallAt(i - 10) });
    await until(() => r!.records.length === 5, 4000, 'five live records');
    assert.equal(saves, savedAtStart, 'no save per live punch');
    assert.deepEqual(
      new CursorStore(r.dir).get(r.sim.serial),
      before,
      'the file still holds the cursor from before the punches',
    );
    alive = false; // crash: nothing more reaches the disk
    await cap.stop();
    // Restart from what is on disk: a new store reads the file.
    const liveIds = r.records.map((x) => x.id);
    const restarted = r.recapture({ cursors: new CursorStore(r.dir) });
    restarted.start();
    await until(() => r!.records.length === 10, 4000, 'the five punches after the saved cursor again');
    const again = r.records.slice(5);
    assert.deepEqual(
      again.map((x) => x.id),
      liveIds,
      're-emitted, in order, from the device log',
    );
    assert.ok(again.every((x) => x.source === 'poll'));
  });

  it('a clean stop writes the lagging cursor, once for a run of live punches', async () => {
    let saves = 0;
    r = await rig();
    const store = r.store;
    const cap = r.recapture({
      cursorSaveMs: 600_000,
      cursors: { get: (k) => store.get(k), set: (k, c) => (saves++, store.set(k, c)) },
    });
    cap.start();
    await until(() => r!.statuses.some((s) => s.state === 'online'), 5000, 'online');
    await store.flush();
    const savedAtStart = saves;
    // 15: below the count check's 20 live ids (that check re-anchors the cursor and saves at once).
    for (let i = 0; i < 15; i++) r.sim.punch({ userId: user(i), at: wallAt(i - 30) });
    await until(() => r!.records.length === 15, 4000, 'fifteen live records');
    assert.equal(saves, savedAtStart);
    await cap.stop();
    assert.equal(saves, savedAtStart + 1, 'one save on stop');
    assert.equal(new CursorStore(r.dir).get(r.sim.serial)?.lastLocalTime, r.records[14].localTime);
    // Nothing comes out again after a clean stop.
    const next = r.recapture({ cursors: new CursorStore(r.dir) });
    next.start();
    r.sim.punch({ userId: user(0), at: wallAt(0) });
    await until(() => r!.records.length === 16, 4000, 'a new live punch after the restart');
    assert.deepEqual(duplicateIds(r.records), []);
  });

  // String event bodies (TFT firmware), whose polled copies carry a uid.
  for (const profile of ['tft', 'tft49'] as const) {
    it(`${profile}: a live record carries the uid from the user table, as the polled copy of the punch does`, async () => {
      r = await rig({ sim: { profile }, capture: { firstStart: 'all' } });
      r.cap.start();
      await until(() => r!.records.length === 20, 5000, 'the backlog');
      assert.ok(
        r.records.every((x) => x.uid !== null),
        'polled records have a uid',
      );
      const u = r.sim.users[3];
      r.sim.punch({ userId: u.userId, at: wallAt(1) });
      await until(() => r!.records.length === 21, 2000, 'the live record');
      const rec = r.records[20];
      assert.equal(rec.source, 'live');
      assert.equal(rec.userId, u.userId);
      assert.equal(rec.uid, u.uid, 'the uid does not depend on which path delivered the punch first');
    });
  }

  it("firstStart 'all' emits the existing log once as poll records, then live ones", async () => {
    r = await rig({ capture: { firstStart: 'all' } });
    r.cap.start();
    await until(() => r!.records.length === 20, 5000, 'the backlog');
    assert.ok(r.records.every((x) => x.source === 'poll'));
    r.sim.punch({ userId: user(1), at: wallAt(1) });
    await until(() => r!.records.length === 21, 1000, 'the live record');
    assert.equal(r.records[20].source, 'live');
    assert.deepEqual(duplicateIds(r.records), []);
  });

  it('after the link drops, punches made meanwhile come out once after reconnect; live ones are not repeated', async () => {
    r = await rig();
    r.cap.start();
    await until(() => r!.statuses.some((s) => s.state === 'online'), 5000, 'online');
    r.sim.punch({ userId: user(0), at: wallAt(-3) });
    r.sim.punch({ userId: user(1), at: wallAt(-2) });
    await until(() => r!.records.length === 2, 1000, 'two live records');

    // The device goes away: connections dropped, new ones refused for a while.
    // (setFaults' promise waits for open connections to end, so restart before awaiting it.)
    const refusing = r.sim.setFaults({ tcpMode: 'refuse' });
    r.sim.restart();
    await refusing;
    await until(() => r!.statuses.some((s) => s.state === 'offline'), 3000, 'offline status');
    assert.equal(r.cap.linked, false);
    r.sim.punch({ userId: user(2), at: wallAt(-1) });
    r.sim.punch({ userId: user(3), at: wallAt(0) });
    // Same second as the previous one, another user: told apart by id.
    r.sim.punch({ userId: user(4), at: wallAt(0) });
    await until(() => r!.retries.length >= 3, 3000, 'a few failed attempts');
    assert.equal(r.records.length, 2, 'nothing while down');

    await r.sim.setFaults({ tcpMode: undefined });
    await until(() => r!.records.length === 5, 3000, 'the missed punches');
    assert.deepEqual(
      r.records.slice(2).map((x) => x.source),
      ['poll', 'poll', 'poll'],
    );
    assert.deepEqual(
      r.records.slice(2).map((x) => x.userId),
      [user(2), user(3), user(4)],
    );
    const back = r.statuses[r.statuses.length - 1];
    assert.equal(back.state, 'online');
    assert.equal(back.newRecords, 3);

    // Live again after the reconnect.
    r.sim.punch({ userId: user(5), at: wallAt(1) });
    await until(() => r!.records.length === 6, 1000, 'a live punch after reconnect');
    assert.equal(r.records[5].source, 'live');
    const before = await recordsBeforeMarker(r.sim, () => r!.records, user(6), wallAt(2));
    assert.equal(before.length, 6);
    assert.deepEqual(duplicateIds(r.records), []);
  });

  it('a drop with nothing missed: the reconnect emits nothing again', async () => {
    r = await rig();
    r.cap.start();
    await until(() => r!.statuses.some((s) => s.state === 'online'), 5000, 'online');
    r.sim.punch({ userId: user(0), at: wallAt(0) });
    await until(() => r!.records.length === 1, 1000, 'live record');
    const downloads = r.sim.counters.downloads;
    r.sim.restart();
    await until(() => r!.statuses.filter((s) => s.state === 'online').length === 2, 3000, 'back online');
    // Every reconnect reads the user table once (resolveUsers: a new client has no user cache). On top of
    // that, advanceCursor leaves the count alone, so the first reconnect downloads the log once to check by time.
    assert.equal(r.sim.counters.downloads, downloads + 2);
    r.sim.restart();
    await until(() => r!.statuses.filter((s) => s.state === 'online').length === 3, 3000, 'back online again');
    assert.equal(r.sim.counters.downloads, downloads + 3, 'unchanged count: users only, no log download');
    assert.equal(r.records.length, 1);
  });

  it('a silently dead link is found by the heartbeat, then the gap is filled', async () => {
    r = await rig({ heartbeatMs: 300, timeoutMs: 400 });
    r.cap.start();
    await until(() => r!.statuses.some((s) => s.state === 'online'), 5000, 'online');
    // The device stops answering the heartbeat (GET_TIME) without closing anything.
    await r.sim.setFaults({ dropReply: { [Cmd.GET_TIME]: 'always' } });
    await until(() => r!.statuses.some((s) => s.state === 'offline'), 3000, 'offline by heartbeat');
    r.sim.punch({ userId: user(6), at: wallAt(0) });
    await r.sim.setFaults({ dropReply: undefined });
    await until(() => r!.records.length === 1, 4000, 'the missed punch');
    assert.equal(r.records[0].source, 'poll');
    assert.equal(r.records[0].userId, user(6));
  });

  it('punches that arrive live during the gap fill are neither lost nor doubled', async () => {
    r = await rig({ sim: { records: 3000 } });
    r.cap.start();
    await until(() => r!.statuses.some((s) => s.state === 'online'), 5000, 'online');
    r.sim.restart();
    await until(() => r!.statuses.some((s) => s.state === 'offline'), 3000, 'offline');
    r.sim.punch({ userId: user(0), at: wallAt(-5) });
    // Slow downloads, so that live punches land while the gap fill runs.
    await r.sim.setFaults({ interPacketGapMs: 5, maxPacketBytes: 1024 });
    const punching = (async () => {
      for (let i = 1; i <= 20; i++) {
        r!.sim.punch({ userId: user(i), at: wallAt(-5 + i) });
        await sleep(15);
      }
    })();
    await punching;
    await until(() => r!.records.length === 21, 8000, 'all 21 punches');
    const before = await recordsBeforeMarker(r.sim, () => r!.records, user(21), wallAt(30));
    assert.equal(before.length, 21);
    assert.deepEqual(duplicateIds(r.records), []);
  });

  it("first start ('now'): a punch made after registering but before the log is read comes out once, the log does not", async () => {
    // Slow GET_FREE_SIZES: the gap fill's first command, right after REG_EVENT.
    r = await rig({ sim: { faults: { replyDelayMs: { [Cmd.GET_FREE_SIZES]: 300 } } }, timeoutMs: 2000 });
    r.cap.start();
    await until(() => (r!.sim.counters.commandsSeen[Cmd.REG_EVENT] ?? 0) >= 1, 5000, 'registration');
    // Both live (held during the fill) and in the log the fill reads: new for this node all the same.
    r.sim.punch({ userId: user(0), at: wallAt(0) });
    await until(() => r!.statuses.some((s) => s.state === 'online'), 8000, 'online');
    await until(() => r!.records.length === 1, 1000, 'the punch');
    assert.equal(
      (await recordsBeforeMarker(r.sim, () => r!.records, user(1), wallAt(2))).length,
      1,
      'the log did not come out as well',
    );
    assert.equal(r.records[0].userId, user(0));
    assert.equal(r.records[0].source, 'live');
  });

  it('the cursor carries across a stop and a new capture: punches made while stopped come out, nothing repeats', async () => {
    r = await rig();
    r.cap.start();
    await until(() => r!.statuses.some((s) => s.state === 'online'), 5000, 'online');
    r.sim.punch({ userId: user(0), at: wallAt(-1) });
    await until(() => r!.records.length === 1, 1000, 'live record');
    await r.cap.stop();
    await r.cap.stop(); // idempotent
    r.sim.punch({ userId: user(1), at: wallAt(0) });
    const cap = r.recapture();
    cap.start();
    await until(() => r!.records.length === 2, 4000, 'the punch made while stopped');
    assert.equal(r.records[1].userId, user(1));
    assert.equal(r.records[1].source, 'poll');
    assert.deepEqual(duplicateIds(r.records), []);
  });

  it('a clock set back: old-stamped punches come out live and, made while stopped, from the gap fill; none twice', async () => {
    r = await rig();
    r.cap.start();
    await until(() => r!.statuses.some((s) => s.state === 'online'), 5000, 'online');
    r.sim.punch({ userId: user(0), at: wallAt(-1) });
    await until(() => r!.records.length === 1, 1000, 'live record');
    // The device clock is corrected ten minutes back.
    r.sim.punch({ userId: user(1), at: wallAt(-600) });
    await until(() => r!.records.length === 2, 1000, 'old-stamped live record');
    await r.cap.stop();
    r.sim.punch({ userId: user(2), at: wallAt(-590) });
    const cap = r.recapture();
    cap.start();
    await until(() => r!.records.length === 3, 4000, 'the old-stamped punch made while stopped');
    const before = await recordsBeforeMarker(r.sim, () => r!.records, user(3), wallAt(2));
    assert.deepEqual(
      before.map((x) => [x.userId, x.source]),
      [
        [user(0), 'live'],
        [user(1), 'live'],
        [user(2), 'poll'],
      ],
    );
    assert.deepEqual(duplicateIds(r.records), []);
  });

  it('on a long-lived link the device count is checked: ids sent live are dropped once the count accounts for them', async () => {
    r = await rig({ capture: { countCheck: { afterLiveIds: 3, everyMs: 0 } } });
    r.cap.start();
    await until(() => r!.statuses.some((s) => s.state === 'online'), 5000, 'online');
    const base = r.cap.currentCursor!.count;
    for (let i = 0; i < 3; i++) r.sim.punch({ userId: user(i), at: wallAt(-5 + i) });
    await until(() => r!.records.length === 3, 2000, 'three live records');
    await until(() => r!.cap.currentCursor?.liveIds === undefined, 2000, 'liveIds dropped');
    assert.equal(r.cap.currentCursor!.count, base + 3);
    // Cursor saves are chained behind earlier ones: the store catches up a moment after the capture.
    await until(() => r!.store.get(r!.sim.serial)?.count === base + 3, 2000, 'the re-anchored cursor saved');
    const saved = r.store.get(r.sim.serial);
    assert.equal(saved?.count, base + 3, 'the re-anchored cursor is saved');
    assert.equal(saved?.liveIds, undefined);
  });

  it('a live event lost on the way: the count check finds the gap and fills it while linked', async () => {
    r = await rig({ capture: { countCheck: { afterLiveIds: 2, everyMs: 0 } } });
    r.cap.start();
    await until(() => r!.statuses.some((s) => s.state === 'online'), 5000, 'online');
    // Logged, but its event never arrives; stamped before the punches that follow.
    r.sim.punch({ userId: user(0), at: wallAt(-30), silent: true });
    r.sim.punch({ userId: user(1), at: wallAt(-2) });
    r.sim.punch({ userId: user(2), at: wallAt(-1) });
    await until(() => r!.records.length === 3, 3000, 'the lost punch, from the gap fill');
    assert.deepEqual(
      r.records.map((x) => [x.userId, x.source]).sort(),
      [
        [user(0), 'poll'],
        [user(1), 'live'],
        [user(2), 'live'],
      ].sort(),
    );
    assert.deepEqual(duplicateIds(r.records), []);
    assert.ok(r.cap.linked, 'still linked: no reconnect was needed');
    r.sim.punch({ userId: user(3), at: wallAt(0) });
    await until(() => r!.records.length === 4, 2000, 'live again after the fill');
    assert.equal(r.records[3].source, 'live');
  });

  it('bad event times go out as anomalies; other events only when asked (raw)', async () => {
    r = await rig({ capture: { emitRaw: true } });
    r.cap.start();
    await until(() => r!.statuses.some((s) => s.state === 'online'), 5000, 'online');
    await r.sim.setFaults({ invalidTimestamps: 'feb31' });
    r.sim.punch({ userId: user(0) });
    await until(() => r!.anomalies.length === 1, 1000, 'anomaly');
    assert.equal(r.anomalies[0].reason, 'invalid-time');
    await r.sim.setFaults({ invalidTimestamps: undefined, eventBodyLength: 20 });
    r.sim.punch({ userId: user(1) });
    await until(() => r!.raw.length === 1, 1000, 'raw event');
    assert.equal(r.records.length, 0);
  });
});

describe('live/LiveCapture failures and stop', function () {
  this.timeout(20000);
  let r: Rig | null = null;
  // Before checkNoLeaks(): mocha runs afterEach hooks in the order they were added.
  afterEach(async () => {
    await r?.close();
    r = null;
  });
  checkNoLeaks();

  it('backs off exponentially to the cap; error after N failures (once), disabled after the long streak', async () => {
    r = await rig({ capture: { health: { failuresToError: 3, longStreakMs: 1200, longStreakRetryMs: 700 } } });
    await r.sim.setFaults({ tcpMode: 'refuse' });
    r.cap.start();
    await until(() => r!.retries.some((x) => x.state === 'disabled'), 6000, 'disabled');
    const delays = r.retries.map((x) => x.delayMs);
    // jitter 0: 50, 100, 200, 400, 400, … then the disabled interval.
    assert.deepEqual(delays.slice(0, 5), [50, 100, 200, 400, 400]);
    assert.equal(delays[delays.length - 1], 700);
    const states = r.statuses.map((s) => s.state);
    assert.deepEqual(states, ['offline', 'error', 'disabled'], 'one event per change: one alert for error');
    assert.match(r.statuses[0].lastError ?? '', /127\.0\.0\.1/);
    // It answers again: back online, counters reset.
    await r.sim.setFaults({ tcpMode: undefined });
    await until(() => r!.statuses.some((s) => s.state === 'online'), 3000, 'online after disabled');
    assert.equal(r.statuses[r.statuses.length - 1].lastError, null);
  });

  it('stop() during a retry wait returns at once and leaves no timer', async () => {
    r = await rig({ capture: { health: { backoffBaseMs: 60000, backoffMaxMs: 60000 } } });
    await r.sim.setFaults({ tcpMode: 'refuse' });
    r.cap.start();
    await until(() => r!.retries.length === 1, 3000, 'first failure');
    const t0 = Date.now();
    await r.cap.stop();
    assert.ok(Date.now() - t0 < 2000, 'no waiting out the 60 s backoff');
    assert.equal(r.cap.running, false);
  });

  it('stop() while connecting to a device that never answers settles within the timeout', async () => {
    r = await rig({ timeoutMs: 500 });
    await r.sim.setFaults({ tcpMode: 'blackhole' });
    r.cap.start();
    await sleep(50);
    const t0 = Date.now();
    await r.cap.stop();
    assert.ok(Date.now() - t0 < 1500);
    assert.equal(r.cap.linked, false);
  });

  it('stop() while online unregisters and keeps the session for its other users', async () => {
    r = await rig();
    r.cap.start();
    await until(() => r!.statuses.some((s) => s.state === 'online'), 5000, 'online');
    const regs = r.sim.counters.commandsSeen[Cmd.REG_EVENT] ?? 0;
    await r.cap.stop();
    assert.equal(r.sim.counters.commandsSeen[Cmd.REG_EVENT], regs + 1, 'REG_EVENT 0 sent');
    r.sim.punch({ userId: r.sim.users[0].userId, at: wallAt(0) });
    await sleep(100); // a stopped capture has no signal to give: a record here would come within moments
    assert.equal(r.records.length, 0);
    // The session still works for a poll from another node.
    const info = await r.session.info();
    assert.equal(info.serial, r.sim.serial);
  });

  it('default schedule: 5 s doubling to 5 min, jitter only shortening it, hourly after 24 h', async () => {
    let t = 0;
    r = await rig({
      capture: {
        health: { backoffBaseMs: undefined, backoffMaxMs: undefined, jitter: undefined, now: () => t, random: () => 0 },
      },
    });
    await r.sim.setFaults({ tcpMode: 'refuse' });
    r.cap.start();
    await until(() => r!.retries.length === 1, 3000, 'first failure');
    assert.equal(r.retries[0].delayMs, 5000);
    await r.cap.stop();
    // The schedule itself, through the same tracker settings, without waiting it out.
    const { HealthTracker } = await import('../../lib/fleet/health');
    const { LIVE_HEALTH_DEFAULTS } = await import('../../lib/live');
    const h = new HealthTracker({ ...LIVE_HEALTH_DEFAULTS, now: () => t, random: () => 0 });
    const delays = Array.from({ length: 9 }, () => h.recordFailure('d', 'x').retryInMs);
    assert.deepEqual(delays, [5000, 10000, 20000, 40000, 80000, 160000, 300000, 300000, 300000]);
    const hj = new HealthTracker({ ...LIVE_HEALTH_DEFAULTS, random: () => 0.999 });
    assert.ok(hj.recordFailure('d', 'x').retryInMs >= 4000, 'jitter 0.2 shortens by at most a fifth');
    t = 24 * 3600_000;
    assert.equal(h.recordFailure('d', 'x').health.state, 'disabled');
  });

  it('a wrong comm key: error status from the first failure, with the reason', async () => {
    r = await rig({ sim: { commKey: 1234 } });
    r.cap.start();
    await until(() => r!.statuses.length === 1, 3000, 'status');
    assert.equal(r.statuses[0].state, 'error');
    assert.match(r.statuses[0].lastError ?? '', /key/i);
  });

  it('a listener that throws does not stop the capture', async () => {
    r = await rig();
    let calls = 0;
    r.cap.on('record', () => {
      calls++;
      throw new Error('listener bug');
    });
    r.cap.start();
    await until(() => r!.statuses.some((s) => s.state === 'online'), 5000, 'online');
    r.sim.punch({ userId: r.sim.users[0].userId, at: wallAt(-1) });
    r.sim.punch({ userId: r.sim.users[1].userId, at: wallAt(0) });
    await until(() => r!.records.length === 2, 1000, 'both records');
    assert.equal(calls, 2);
  });
});
