/** lib/workhours: pairing, breaks, clamping, dates, open sessions, duplicates and order independence. */
import { strict as assert } from 'assert';
import { workHours, WorkHoursResult } from '../../lib/workhours';
import { CASES, p } from './cases';
import { Rng } from '../support/prng';

const run = (name: string): WorkHoursResult => {
  const c = CASES.find((x) => x.name === name);
  if (!c) throw new Error(`no case ${name}`);
  return workHours(c.punches, c.options);
};
const dayHours = (r: WorkHoursResult) => r.days.map((d) => `${d.userId} ${d.date} ${d.hours}`);

describe('workhours', () => {
  it('pairs IN with the next OUT', () => {
    const r = run('one day, one segment');
    assert.deepEqual(dayHours(r), ['1 2024-03-04 8.5']);
    assert.equal(r.days[0].seconds, 8.5 * 3600);
    assert.deepEqual([r.days[0].firstIn, r.days[0].lastOut], ['2024-03-04T08:00:00', '2024-03-04T16:30:00']);
    assert.deepEqual([r.open, r.unmatched, r.duplicates], [[], [], 0]);
  });

  it('breaks are unpaid by default and paid on request', () => {
    const unpaid = run('unpaid break splits the day');
    assert.deepEqual(dayHours(unpaid), ['1 2024-03-04 8.25']);
    assert.equal(unpaid.days[0].segments, 2);
    assert.deepEqual(unpaid.open, []);
    const paid = run('paid break: break punches ignored');
    assert.deepEqual(dayHours(paid), ['1 2024-03-04 9']);
    assert.equal(paid.days[0].segments, 1);
    assert.deepEqual(paid.unmatched, []);
  });

  it('a night shift belongs to the local date of its IN', () => {
    assert.deepEqual(dayHours(run('night shift counts on the IN date')), ['7 2024-03-04 8']);
  });

  it('clamps a segment to the maximum (16 h default, configurable) and flags it', () => {
    const r = run('clamped at the default 16 h');
    assert.deepEqual(dayHours(r), ['1 2024-03-04 16']);
    assert.deepEqual([r.segments[0].clamped, r.segments[0].rawSeconds], [true, 26 * 3600]);
    assert.equal(r.days[0].clampedSegments, 1);
    assert.deepEqual(dayHours(run('clamped at a configured 10 h')), ['1 2024-03-04 10']);
    assert.throws(() => workHours([], { maxSegmentHours: 0 }), /positive number of hours/);
  });

  it('reports open sessions apart from the totals', () => {
    const r = run('open session apart from totals');
    assert.deepEqual(dayHours(r), ['1 2024-03-04 4']);
    assert.deepEqual(r.open, [
      { userId: '1', date: '2024-03-04', state: 'working', kind: 'work', since: '2024-03-04T13:00:00' },
    ]);
    const brk = run('break-out never ended: on-break open session');
    assert.deepEqual(dayHours(brk), ['1 2024-03-04 4']);
    assert.deepEqual(
      brk.open.map((o) => o.state),
      ['on-break'],
    );
    const ended = run('OUT after a break-out ends the break');
    assert.deepEqual([dayHours(ended), ended.open, ended.unmatched], [['1 2024-03-04 4'], [], []]);
  });

  it('a repeated IN is ignored; an IN after more than the maximum leaves the old one open', () => {
    const r = run('double tap on IN is a repeat');
    assert.deepEqual(dayHours(r), ['1 2024-03-04 4']);
    assert.deepEqual(
      r.unmatched.map((u) => `${u.localTime} ${u.reason}`),
      ['2024-03-04T08:00:03 repeated-in'],
    );
    const f = run('forgotten punch-out: the old IN is open, the new one pairs');
    assert.deepEqual(dayHours(f), ['1 2024-03-05 8']);
    assert.deepEqual(
      f.open.map((o) => o.since),
      ['2024-03-04T08:00:00'],
    );
  });

  it('OUTs with nothing open and unknown directions are reported, not paired', () => {
    const r = run('OUT without IN is unmatched');
    assert.deepEqual(dayHours(r), ['1 2024-03-04 1']);
    assert.deepEqual(
      r.unmatched.map((u) => `${u.localTime} ${u.reason}`),
      ['2024-03-04T08:00:00 out-without-in', '2024-03-04T10:00:05 out-without-in'],
    );
    const u = run('unknown directions are reported, not paired');
    assert.deepEqual(dayHours(u), ['1 2024-03-04 2']);
    assert.deepEqual(
      u.unmatched.map((x) => x.reason),
      ['unknown-direction'],
    );
  });

  it('overtime counts in the day and in overtimeHours', () => {
    const r = run('overtime segments counted apart');
    assert.deepEqual([r.days[0].hours, r.days[0].overtimeHours, r.days[0].segments], [10.5, 2.5, 2]);
  });

  it('durations come from timestamps across a DST change, from local time without them', () => {
    assert.deepEqual(dayHours(run('DST: durations from timestamps (Europe/Berlin, 2024-03-31 clocks go forward)')), [
      '1 2024-03-30 7',
    ]);
    assert.deepEqual(dayHours(run('no timestamp: durations from local time')), ['1 2024-03-04 1.25']);
  });

  it('duplicates are dropped (same user, instant and direction, whatever the id), users kept apart', () => {
    const r = run('duplicates and unsorted input, two users');
    assert.deepEqual(dayHours(r), ['1 2024-03-04 8', '2 2024-03-04 8']);
    assert.equal(r.duplicates, 2);
  });

  it('invalid punches are reported as invalid', () => {
    const r = run('invalid punches are reported');
    assert.deepEqual(dayHours(r), ['1 2024-03-04 1']);
    assert.deepEqual(
      r.unmatched.map((u) => u.reason),
      ['invalid', 'invalid'],
    );
  });

  it('the result does not depend on input order or repeated punches (randomised)', () => {
    const rnd = new Rng(42);
    const dirs = ['in', 'out', 'break-out', 'break-in', 'overtime-in', 'overtime-out', 'unknown'];
    for (let round = 0; round < 50; round++) {
      const punches = Array.from({ length: 60 }, () => {
        const t = new Date(Date.UTC(2024, 2, 1 + rnd.int(4), rnd.int(24), rnd.int(60), 0)).toISOString().slice(0, 19);
        return p(`${1 + rnd.int(3)} ${dirs[rnd.int(dirs.length)]} ${t}`);
      });
      const base = workHours(punches, { maxSegmentHours: 12 });
      const shuffled = [...punches, ...punches.slice(0, 10)];
      for (let i = shuffled.length - 1; i > 0; i--) {
        const j = rnd.int(i + 1);
        [shuffled[i], shuffled[j]] = [shuffled[j], shuffled[i]];
      }
      const again = workHours(shuffled, { maxSegmentHours: 12 });
      assert.deepEqual({ ...again, duplicates: 0 }, { ...base, duplicates: 0 });
      for (const d of base.days) assert.ok(d.seconds >= 0 && d.seconds <= d.segments * 12 * 3600);
    }
  });
});
