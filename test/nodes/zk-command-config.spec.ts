import { strict as assert } from 'assert';
import { commandSettings, readCommandRequest, refusal } from '../../nodes/zk-command/command-config';
import { checkDelivered } from '../../nodes/zk-command/cursor-check';
import type { DeviceAttendance } from '../../lib/protocol/attendance';
import { decodeTime, encodeTime } from '../../lib/protocol/time';
import { toCanonicalRecord } from '../../lib/record/canonical';
import type { DeviceCursor } from '../../lib/fleet';

const rec = (userId: string, t: string): DeviceAttendance => {
  const m = /^(\d+)-(\d+)-(\d+)T(\d+):(\d+):(\d+)$/.exec(t)!;
  const time = { year: +m[1], month: +m[2], day: +m[3], hour: +m[4], minute: +m[5], second: +m[6] };
  return { uid: 1, userId, verify: 1, state: 0, time, rawTime: encodeTime(time), workCode: 0 };
};
const canonical = (r: DeviceAttendance) =>
  toCanonicalRecord(r, { deviceSn: 'SN1', tz: 'UTC', source: 'poll', receivedAt: '2026-01-01T00:00:00Z' });
const cursor = (c: Partial<DeviceCursor>): DeviceCursor => ({
  count: 3,
  lastLocalTime: '2026-01-01T10:00:02',
  idsAtLast: ['SN1|3|2026-01-01T10:00:02'],
  updatedAt: 'x',
  ...c,
});

describe('zk-command settings, requests and the delivery check', () => {
  const log = [rec('1', '2026-01-01T10:00:00'), rec('2', '2026-01-01T10:00:01'), rec('3', '2026-01-01T10:00:02')];

  it('all delivered when nothing is past the cursor or appended since its download', () => {
    assert.deepEqual(checkDelivered(cursor({}), log, canonical), { pending: 0, anomalies: 0, total: 3 });
  });

  it('no cursor: everything pending', () => {
    assert.equal(checkDelivered(null, log, canonical).pending, 3);
  });

  it('a later punch, a second punch in the cursor second, and one appended with an older time (clock set back) are pending', () => {
    const more = [
      ...log,
      rec('4', '2026-01-01T10:00:05'),
      rec('5', '2026-01-01T10:00:02'),
      rec('6', '2025-12-31T09:00:00'),
    ];
    assert.equal(checkDelivered(cursor({}), more, canonical).pending, 3);
    // zk-live already sent the appended one: delivered.
    assert.equal(checkDelivered(cursor({ liveIds: ['SN1|6|2025-12-31T09:00:00'] }), more, canonical).pending, 2);
  });

  it('records with impossible times are counted as anomalies, not pending', () => {
    const bad = {
      ...rec('7', '2026-01-01T10:00:00'),
      time: decodeTime(encodeTime({ year: 2026, month: 2, day: 31, hour: 1, minute: 0, second: 0 })),
    };
    assert.deepEqual(checkDelivered(cursor({ count: 4 }), [...log, bad], canonical), {
      pending: 0,
      anomalies: 1,
      total: 4,
    });
  });

  it('settings: defaults, named errors; requests: actions, threshold, seconds; refusals name the allow box', () => {
    const s = commandSettings({}, {});
    assert.deepEqual(
      [s.action, s.thresholdSec, s.unlockSeconds, s.allowClear, s.allowRestart, s.allowUnlock],
      ['info', 30, 3, false, false, false],
    );
    assert.throws(() => commandSettings({ unlockSeconds: 61 }, {}), /unlock seconds must be a number from 1 to 60/);
    assert.throws(() => commandSettings({ action: 'poweroff' as never }, {}), /unknown action "poweroff"/);
    assert.equal(readCommandRequest(12345, s).action, 'info');
    assert.equal(readCommandRequest('syncClock', s).action, 'syncClock');
    assert.throws(() => readCommandRequest('restat', s), /"restat" is not an action/);
    assert.deepEqual(readCommandRequest({ action: 'unlock', seconds: 9 }, s), {
      action: 'unlock',
      thresholdSec: 30,
      unlockSeconds: 9,
    });
    assert.throws(() => readCommandRequest({ threshold: -5 }, s), /threshold must be a number of seconds/);
    assert.throws(() => readCommandRequest({ seconds: true }, s), /seconds \(door unlock time\)/);
    assert.equal(refusal('info', s), null);
    assert.equal(refusal('syncClock', s), null);
    assert.match(refusal('clear', s) ?? '', /tick "allow safe clear"/);
    assert.equal(refusal('restart', { ...s, allowRestart: true }), null);
  });
});
