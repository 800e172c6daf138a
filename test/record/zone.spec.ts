import assert from 'node:assert/strict';
import { WallClock, parseWallClock, formatWallClock } from '../../lib/protocol/time';
import {
  hostTimeZone,
  instantToWallClock,
  isValidTimeZone,
  wallClockToInstant,
  zoneOffsetMinutes,
} from '../../lib/record/zone';

function wc(s: string): WallClock {
  const w = parseWallClock(s);
  if (!w) throw new Error(`bad test time ${s}`);
  return w;
}

function check(
  local: string,
  tz: string,
  iso: string,
  offsetMin: number,
  flag: null | 'ambiguous' | 'gap' = null,
): void {
  const r = wallClockToInstant(wc(local), tz);
  assert.deepEqual(
    { iso: new Date(r.epochMs).toISOString(), offsetMin: r.offsetMin, flag: r.flag },
    { iso, offsetMin, flag },
    `${local} in ${tz}`,
  );
}

describe('record/zone', () => {
  describe('wallClockToInstant', () => {
    it('UTC is the identity', () => {
      check('2024-03-15T13:45:07', 'UTC', '2024-03-15T13:45:07.000Z', 0);
      check('2000-01-01T00:00:00', 'UTC', '2000-01-01T00:00:00.000Z', 0);
      check('2099-12-31T23:59:59', 'UTC', '2099-12-31T23:59:59.000Z', 0);
    });

    it('Asia/Kolkata: +5:30, no DST', () => {
      check('2024-03-15T13:45:07', 'Asia/Kolkata', '2024-03-15T08:15:07.000Z', 330);
      check('2024-07-01T00:10:00', 'Asia/Kolkata', '2024-06-30T18:40:00.000Z', 330);
    });

    it('Europe/Berlin: winter, summer, and the hours either side of both transitions', () => {
      check('2024-01-15T08:00:00', 'Europe/Berlin', '2024-01-15T07:00:00.000Z', 60);
      check('2024-07-15T08:00:00', 'Europe/Berlin', '2024-07-15T06:00:00.000Z', 120);
      check('2024-03-31T01:59:59', 'Europe/Berlin', '2024-03-31T00:59:59.000Z', 60);
      check('2024-03-31T03:00:00', 'Europe/Berlin', '2024-03-31T01:00:00.000Z', 120);
      check('2024-10-27T01:59:59', 'Europe/Berlin', '2024-10-26T23:59:59.000Z', 120);
      check('2024-10-27T03:00:00', 'Europe/Berlin', '2024-10-27T02:00:00.000Z', 60);
    });

    it('Europe/Berlin spring gap 02:00–03:00: shifted forward by the gap, flagged', () => {
      check('2024-03-31T02:00:00', 'Europe/Berlin', '2024-03-31T01:00:00.000Z', 120, 'gap'); // = 03:00 CEST
      check('2024-03-31T02:30:00', 'Europe/Berlin', '2024-03-31T01:30:00.000Z', 120, 'gap'); // = 03:30 CEST
    });

    it('Europe/Berlin autumn overlap 02:00–03:00: the earlier offset (first occurrence), flagged', () => {
      check('2024-10-27T02:00:00', 'Europe/Berlin', '2024-10-27T00:00:00.000Z', 120, 'ambiguous');
      check('2024-10-27T02:59:59', 'Europe/Berlin', '2024-10-27T00:59:59.000Z', 120, 'ambiguous');
    });

    it('America/New_York: gap and overlap', () => {
      check('2024-03-10T01:59:59', 'America/New_York', '2024-03-10T06:59:59.000Z', -300);
      check('2024-03-10T02:30:00', 'America/New_York', '2024-03-10T07:30:00.000Z', -240, 'gap'); // = 03:30 EDT
      check('2024-03-10T03:00:00', 'America/New_York', '2024-03-10T07:00:00.000Z', -240);
      check('2024-11-03T00:59:59', 'America/New_York', '2024-11-03T04:59:59.000Z', -240);
      check('2024-11-03T01:30:00', 'America/New_York', '2024-11-03T05:30:00.000Z', -240, 'ambiguous'); // EDT, not EST
      check('2024-11-03T02:00:00', 'America/New_York', '2024-11-03T07:00:00.000Z', -300);
    });

    it('Australia/Lord_Howe: a 30-minute DST shift in both directions', () => {
      // Standard +10:30, DST +11:00. Spring: 02:00 → 02:30 (first Sunday of October).
      check('2024-10-06T01:59:00', 'Australia/Lord_Howe', '2024-10-05T15:29:00.000Z', 630);
      check('2024-10-06T02:15:00', 'Australia/Lord_Howe', '2024-10-05T15:45:00.000Z', 660, 'gap'); // = 02:45
      check('2024-10-06T02:30:00', 'Australia/Lord_Howe', '2024-10-05T15:30:00.000Z', 660);
      // Autumn: 02:00 → 01:30 (first Sunday of April); 01:30–02:00 happens twice.
      check('2024-04-07T01:29:59', 'Australia/Lord_Howe', '2024-04-06T14:29:59.000Z', 660);
      check('2024-04-07T01:45:00', 'Australia/Lord_Howe', '2024-04-06T14:45:00.000Z', 660, 'ambiguous');
      check('2024-04-07T02:00:00', 'Australia/Lord_Howe', '2024-04-06T15:30:00.000Z', 630);
    });

    it('southern hemisphere DST (Australia/Sydney) and a zone with a negative half-hour offset', () => {
      check('2024-01-15T09:00:00', 'Australia/Sydney', '2024-01-14T22:00:00.000Z', 660);
      check('2024-07-15T09:00:00', 'Australia/Sydney', '2024-07-14T23:00:00.000Z', 600);
      check('2024-07-15T09:00:00', 'America/St_Johns', '2024-07-15T11:30:00.000Z', -150);
    });

    it('throws RangeError for an unknown zone', () => {
      assert.throws(() => wallClockToInstant(wc('2024-01-01T00:00:00'), 'Mars/Olympus_Mons'), RangeError);
    });
  });

  describe('instantToWallClock', () => {
    it('shows the zone wall clock, both sides of transitions', () => {
      const f = (iso: string, tz: string) => formatWallClock(instantToWallClock(Date.parse(iso), tz));
      assert.equal(f('2024-03-15T08:15:07.000Z', 'Asia/Kolkata'), '2024-03-15T13:45:07');
      assert.equal(f('2024-10-27T00:30:00.000Z', 'Europe/Berlin'), '2024-10-27T02:30:00');
      assert.equal(f('2024-10-27T01:30:00.000Z', 'Europe/Berlin'), '2024-10-27T02:30:00');
      assert.equal(f('2024-03-10T06:59:59.000Z', 'America/New_York'), '2024-03-10T01:59:59');
      assert.equal(f('2024-03-10T07:00:00.000Z', 'America/New_York'), '2024-03-10T03:00:00');
      assert.equal(f('2024-03-15T13:45:07.999Z', 'UTC'), '2024-03-15T13:45:07');
      assert.equal(f('1969-12-31T23:59:59.500Z', 'UTC'), '1969-12-31T23:59:59');
    });

    it('round-trips every 7 minutes through a DST year (except the flagged hours)', () => {
      for (const tz of ['Europe/Berlin', 'America/New_York', 'Australia/Lord_Howe']) {
        const start = Date.UTC(2024, 0, 1);
        for (let t = start; t < start + 366 * 86_400_000; t += 7 * 60_000) {
          const w = instantToWallClock(t, tz);
          const r = wallClockToInstant(w, tz);
          if (r.flag === 'ambiguous') assert.ok(r.epochMs <= t, `${tz} ${new Date(t).toISOString()}`);
          else assert.equal(r.epochMs, t, `${tz} ${new Date(t).toISOString()}`);
          assert.notEqual(r.flag, 'gap');
        }
      }
    });
  });

  it('converts 100,000 records across two years of DST changes', function () {
    const start = Date.UTC(2023, 0, 1);
    const walls: WallClock[] = [];
    // 100,000 punches spread over two years (both DST transitions of each year included).
    for (let i = 0; i < 100_000; i++) walls.push(instantToWallClock(start + i * 631_000, 'UTC'));
    const offsets = new Set<number>();
    for (const w of walls) offsets.add(wallClockToInstant(w, 'America/New_York').offsetMin);
    assert.deepEqual(
      [...offsets].sort((a, b) => a - b),
      [-300, -240],
    );
  });

  it('zoneOffsetMinutes', () => {
    assert.equal(zoneOffsetMinutes(Date.UTC(2024, 6, 1), 'Europe/Berlin'), 120);
    assert.equal(zoneOffsetMinutes(Date.UTC(2024, 0, 1), 'Asia/Kolkata'), 330);
  });

  it('isValidTimeZone and hostTimeZone', () => {
    assert.equal(isValidTimeZone('Europe/Berlin'), true);
    assert.equal(isValidTimeZone('UTC'), true);
    assert.equal(isValidTimeZone('Mars/Olympus_Mons'), false);
    assert.equal(isValidTimeZone(''), false);
    assert.equal(isValidTimeZone(42), false);
    assert.equal(isValidTimeZone(undefined), false);
    assert.ok(isValidTimeZone(hostTimeZone()));
  });
});
