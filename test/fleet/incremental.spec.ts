/**
 * pollIncremental against the in-process simulator over loopback: no download when nothing changed, only new
 * records otherwise, same-second records told apart by id, cleared logs, backfill windows, and a link that
 * drops mid-download.
 */
import { strict as assert } from 'assert';
import { ZkSimulator } from '../../lib/sim';
import { DeviceSession, normaliseDeviceConfig } from '../../lib/device';
import { DeviceCursor, advanceCursor, pollIncremental, emptyCursor } from '../../lib/fleet';
import { MAX_LIVE_IDS, isDeviceCursor } from '../../lib/fleet/cursor';
import { WallClock, formatWallClock } from '../../lib/protocol';
import { checkNoLeaks } from '../support/handles';

function at(s: string): WallClock {
  const m = /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)$/.exec(s)!;
  return { year: +m[1], month: +m[2], day: +m[3], hour: +m[4], minute: +m[5], second: +m[6] };
}

/** A time under a minute ago in UTC (the simulators run in UTC): newer than every generated punch. */
function recent(offsetSec: number): string {
  return new Date(Date.now() - 50_000 + offsetSec * 1000).toISOString().slice(0, 19);
}

describe('fleet: pollIncremental', function () {
  let sim: ZkSimulator;
  let session: DeviceSession;

  async function start(records = 200, faults = {}): Promise<void> {
    sim = new ZkSimulator({ port: 0, records, users: 10, seed: 7, transports: 'tcp', faults });
    const { port } = await sim.start();
    session = new DeviceSession(normaliseDeviceConfig({ host: '127.0.0.1', port, tz: 'UTC', timeoutMs: 2000 }));
  }

  afterEach(async () => {
    await session?.close();
    await sim?.stop();
  });
  // After our own afterEach (hooks run in order): the check sees the state once sim and session closed.
  checkNoLeaks();

  it('first poll emits the whole log and a cursor; an unchanged count downloads nothing', async () => {
    await start(200);
    const first = await pollIncremental(session, null, { source: 'poll' });
    assert.equal(first.downloaded, true);
    assert.equal(first.records.length, 200);
    assert.equal(first.cursor.count, 200);
    assert.equal(first.cursor.lastLocalTime, first.records[199].localTime);
    assert.equal(first.records[0].deviceSn, sim.serial);
    const downloads = sim.counters.downloads;
    const second = await pollIncremental(session, first.cursor, { source: 'poll' });
    assert.equal(second.downloaded, false);
    assert.equal(second.records.length, 0);
    assert.equal(second.cursorChanged, false);
    assert.equal(sim.counters.downloads, downloads, 'no PREPARE_BUFFER for an unchanged count');
  });

  it('emits only the new punches, each once', async () => {
    await start(100);
    const first = await pollIncremental(session, null, { source: 'poll' });
    const u = sim.users[1].userId;
    // Computed once: recomputing after the poll would cross a second boundary now and then.
    const times = [recent(1), recent(2)];
    for (const t of times) sim.punch({ userId: u, at: at(t) });
    const second = await pollIncremental(session, first.cursor, { source: 'poll' });
    assert.deepEqual(
      second.records.map((r) => r.localTime),
      times,
    );
    const third = await pollIncremental(session, second.cursor, { source: 'poll' });
    assert.equal(third.records.length, 0);
    assert.equal(third.downloaded, false);
  });

  it('compares records at the cursor second by id: none lost, none repeated', async () => {
    await start(50);
    const t = recent(10);
    const [a, b, c] = sim.users.map((x) => x.userId);
    sim.punch({ userId: a, at: at(t) });
    sim.punch({ userId: b, at: at(t) });
    const first = await pollIncremental(session, null, { source: 'poll' });
    assert.equal(first.cursor.lastLocalTime, t);
    assert.equal(first.cursor.idsAtLast.length, 2);
    sim.punch({ userId: c, at: at(t) }); // same second, arrives later
    const second = await pollIncremental(session, first.cursor, { source: 'poll' });
    assert.deepEqual(
      second.records.map((r) => r.userId),
      [c],
    );
    assert.equal(second.cursor.idsAtLast.length, 3);
  });

  it('a cleared log (count went down) then new punches: exactly the new ones', async () => {
    await start(300);
    const first = await pollIncremental(session, null, { source: 'poll' });
    sim.clearAttendance();
    const u = sim.users[0].userId;
    const times = [recent(21), recent(22), recent(23), recent(24)];
    for (const t of times.slice(0, 3)) sim.punch({ userId: u, at: at(t) });
    const second = await pollIncremental(session, first.cursor, { source: 'poll' });
    assert.equal(second.countWentDown, true);
    assert.equal(second.deviceCount, 3);
    assert.deepEqual(
      second.records.map((r) => r.localTime),
      times.slice(0, 3),
    );
    assert.equal(second.cursor.count, 3);
    sim.punch({ userId: u, at: at(times[3]) });
    const third = await pollIncremental(session, second.cursor, { source: 'poll' });
    assert.equal(third.countWentDown, false);
    assert.deepEqual(
      third.records.map((r) => r.localTime),
      [times[3]],
    );
  });

  it('a clock set back: punches stamped before the cursor are still emitted, each once', async () => {
    await start(100);
    const [a, b] = sim.users.map((x) => x.userId);
    // Computed once: recent() moves with the wall clock.
    const [t0, t1, t2, t3] = [recent(30), recent(-270), recent(-269), recent(-268)];
    sim.punch({ userId: a, at: at(t0) });
    const first = await pollIncremental(session, null, { source: 'poll' });
    assert.equal(first.cursor.lastLocalTime, t0);
    // The clock is corrected back by five minutes: the next punches are stamped before the cursor.
    sim.punch({ userId: b, at: at(t1) });
    sim.punch({ userId: a, at: at(t2) });
    const second = await pollIncremental(session, first.cursor, { source: 'poll' });
    assert.deepEqual(
      second.records.map((r) => [r.userId, r.localTime]),
      [
        [b, t1],
        [a, t2],
      ],
    );
    assert.equal(second.cursor.lastLocalTime, t0, 'the time cursor does not go back');
    assert.equal(second.cursor.count, 103);
    const third = await pollIncremental(session, second.cursor, { source: 'poll' });
    assert.equal(third.records.length, 0);
    sim.punch({ userId: b, at: at(t3) });
    const fourth = await pollIncremental(session, third.cursor, { source: 'poll' });
    assert.deepEqual(
      fourth.records.map((r) => r.localTime),
      [t3],
    );
  });

  it('records zk-live already sent (liveIds) are not emitted again by the next download; the rest are', async () => {
    await start(60);
    const [a, b] = sim.users.map((x) => x.userId);
    const first = await pollIncremental(session, null, { source: 'poll' });
    // Two punches arrive; zk-live sent the first one (an old-stamped one) and moved its cursor.
    const [tA, tB] = [recent(-400), recent(-399)];
    sim.punch({ userId: a, at: at(tA) });
    sim.punch({ userId: b, at: at(tB) });
    const sentLive = { id: `${sim.serial}|${a}|${tA}`, localTime: tA };
    const cursor = advanceCursor(first.cursor, sentLive);
    assert.deepEqual(cursor.liveIds, [sentLive.id]);
    const next = await pollIncremental(session, cursor, { source: 'poll' });
    assert.deepEqual(
      next.records.map((r) => [r.userId, r.localTime]),
      [[b, tB]],
    );
    assert.equal(next.cursor.liveIds, undefined, 'a download covers what zk-live sent before it');
  });

  it('a backfill window ignores and does not advance the cursor', async () => {
    await start(500);
    const first = await pollIncremental(session, null, { source: 'poll' });
    const all = first.records;
    const since = all[100].localTime;
    const until = all[199].localTime;
    const back = await pollIncremental(session, first.cursor, { source: 'poll', window: { since, until } });
    assert.equal(back.downloaded, true, 'a window always downloads');
    assert.equal(back.cursorChanged, false);
    assert.deepEqual(back.cursor, first.cursor);
    assert.deepEqual(
      back.records.map((r) => r.id),
      all.filter((r) => r.localTime >= since && r.localTime <= until).map((r) => r.id),
    );
    const day = all[0].localTime.slice(0, 10);
    const byDay = await pollIncremental(session, null, { source: 'poll', window: { since: day, until: day } });
    assert.deepEqual(
      byDay.records.map((r) => r.id),
      all.filter((r) => r.localTime.startsWith(day)).map((r) => r.id),
    );
    await assert.rejects(
      pollIncremental(session, null, { source: 'poll', window: { since: 'yesterday' } }),
      /since "yesterday"/,
    );
  });

  it('a device dropping mid-download: retried, each record exactly once', async () => {
    await start(3000, { closeMidDownload: { afterBytes: 20_000, mode: 'fin' } });
    const first = await pollIncremental(session, null, { source: 'poll', midwayRetries: 1 }).catch((e: Error) => e);
    assert.ok(first instanceof Error, 'every attempt is cut while the fault is on');
    assert.equal(sim.counters.downloads, 2, 'one immediate retry of a download that broke midway');
    // The link recovers during the next poll's retry: the fault is lifted when the first attempt fails.
    let lifted = false;
    session.once('disconnect', () => {
      lifted = true;
      void sim.setFaults({ closeMidDownload: undefined });
    });
    const second = await pollIncremental(session, null, { source: 'poll' });
    assert.ok(lifted);
    assert.equal(second.records.length, 3000);
    assert.equal(new Set(second.records.map((r) => r.id)).size, 3000);
    assert.deepEqual(
      second.records.map((r) => r.localTime),
      sim.records.map((r) => formatWallClock(r.time)),
    );
    const third = await pollIncremental(session, second.cursor, { source: 'poll' });
    assert.equal(third.records.length, 0);
  });

  it('future-dated records are anomalies, reported once', async () => {
    await start(20);
    const future = new Date(Date.now() + 3 * 86400_000).toISOString().slice(0, 19);
    sim.punch({ userId: sim.users[0].userId, at: at(future) });
    const first = await pollIncremental(session, null, { source: 'poll' });
    assert.equal(first.records.length, 20);
    assert.equal(first.anomalies.length, 1);
    assert.equal(first.anomalies[0].reason, 'future-time');
    sim.punch({ userId: sim.users[0].userId, at: at(recent(5)) });
    const second = await pollIncremental(session, first.cursor, { source: 'poll' });
    assert.equal(second.records.length, 1);
    assert.equal(second.anomalies.length, 0, 'the old anomaly is not reported again');
  });
});

describe('fleet: advanceCursor', () => {
  const rec = (id: string, localTime: string) => ({ id, localTime });
  it('moves forward, collects ids at the same second, ignores older records, keeps the count', () => {
    let c: DeviceCursor = { ...emptyCursor(), count: 10 };
    c = advanceCursor(c, rec('a', '2024-05-01T08:00:00'));
    c = advanceCursor(c, rec('b', '2024-05-01T08:00:00'));
    c = advanceCursor(c, rec('b', '2024-05-01T08:00:00'));
    assert.deepEqual([c.lastLocalTime, c.idsAtLast, c.count], ['2024-05-01T08:00:00', ['a', 'b'], 10]);
    c = advanceCursor(c, rec('z', '2024-05-01T07:00:00'));
    assert.deepEqual(c.idsAtLast, ['a', 'b']);
    c = advanceCursor(c, rec('c', '2024-05-01T08:00:01'));
    assert.deepEqual([c.lastLocalTime, c.idsAtLast], ['2024-05-01T08:00:01', ['c']]);
    // Every id sent live is remembered once, older ones included, until the next download.
    assert.deepEqual(c.liveIds, ['a', 'b', 'z', 'c']);
  });

  it('keeps at most MAX_LIVE_IDS live ids, dropping the oldest', () => {
    let c: DeviceCursor = { ...emptyCursor(), count: 0 };
    for (let i = 0; i < MAX_LIVE_IDS + 10; i++) c = advanceCursor(c, rec(`id${i}`, '2024-05-01T08:00:00'));
    assert.equal(c.liveIds!.length, MAX_LIVE_IDS);
    assert.equal(c.liveIds![0], 'id10');
    assert.equal(c.liveIds![MAX_LIVE_IDS - 1], `id${MAX_LIVE_IDS + 9}`);
    assert.ok(isDeviceCursor(c));
    assert.ok(!isDeviceCursor({ ...c, liveIds: [1] }));
  });
});
