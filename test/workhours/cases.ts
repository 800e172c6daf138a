/**
 * Shared cases for lib/workhours and for the plain-JS copy in flows/workhours.json: both must give exactly
 * the expected result for each. Punches are written as `user direction local-time [timestamp]`.
 */
import type { WorkHoursOptions, WorkPunch } from '../../lib/workhours';

export interface WorkCase {
  name: string;
  punches: WorkPunch[];
  options?: WorkHoursOptions;
}

/** `'1001 in 2024-03-04T08:00:00'` → a punch (timestamp: the local time in UTC unless given). */
export function p(line: string, id?: string): WorkPunch {
  const [userId, direction, localTime, timestamp] = line.split(/\s+/);
  return {
    userId,
    direction,
    localTime,
    timestamp: timestamp ?? `${localTime}.000Z`,
    id: id ?? `SN|${userId}|${localTime}`,
  };
}

export const CASES: WorkCase[] = [
  { name: 'one day, one segment', punches: [p('1 in 2024-03-04T08:00:00'), p('1 out 2024-03-04T16:30:00')] },
  {
    name: 'unpaid break splits the day',
    punches: [
      p('1 in 2024-03-04T08:00:00'),
      p('1 break-out 2024-03-04T12:00:00'),
      p('1 break-in 2024-03-04T12:45:00'),
      p('1 out 2024-03-04T17:00:00'),
    ],
  },
  {
    name: 'paid break: break punches ignored',
    options: { breaks: 'paid' },
    punches: [
      p('1 in 2024-03-04T08:00:00'),
      p('1 break-out 2024-03-04T12:00:00'),
      p('1 break-in 2024-03-04T12:45:00'),
      p('1 out 2024-03-04T17:00:00'),
    ],
  },
  {
    name: 'night shift counts on the IN date',
    punches: [p('7 in 2024-03-04T22:00:00'), p('7 out 2024-03-05T06:00:00')],
  },
  { name: 'clamped at the default 16 h', punches: [p('1 in 2024-03-04T08:00:00'), p('1 out 2024-03-05T10:00:00')] },
  {
    name: 'clamped at a configured 10 h',
    options: { maxSegmentHours: 10 },
    punches: [p('1 in 2024-03-04T06:00:00'), p('1 out 2024-03-04T18:00:00')],
  },
  {
    name: 'open session apart from totals',
    punches: [p('1 in 2024-03-04T08:00:00'), p('1 out 2024-03-04T12:00:00'), p('1 in 2024-03-04T13:00:00')],
  },
  {
    name: 'double tap on IN is a repeat',
    punches: [p('1 in 2024-03-04T08:00:00'), p('1 in 2024-03-04T08:00:03'), p('1 out 2024-03-04T12:00:00')],
  },
  {
    name: 'forgotten punch-out: the old IN is open, the new one pairs',
    punches: [p('1 in 2024-03-04T08:00:00'), p('1 in 2024-03-05T08:00:00'), p('1 out 2024-03-05T16:00:00')],
  },
  {
    name: 'OUT without IN is unmatched',
    punches: [
      p('1 out 2024-03-04T08:00:00'),
      p('1 in 2024-03-04T09:00:00'),
      p('1 out 2024-03-04T10:00:00'),
      p('1 out 2024-03-04T10:00:05'),
    ],
  },
  {
    name: 'break-out never ended: on-break open session',
    punches: [p('1 in 2024-03-04T08:00:00'), p('1 break-out 2024-03-04T12:00:00')],
  },
  {
    name: 'OUT after a break-out ends the break',
    punches: [p('1 in 2024-03-04T08:00:00'), p('1 break-out 2024-03-04T12:00:00'), p('1 out 2024-03-04T12:30:00')],
  },
  {
    name: 'overtime segments counted apart',
    punches: [
      p('1 in 2024-03-04T08:00:00'),
      p('1 out 2024-03-04T16:00:00'),
      p('1 overtime-in 2024-03-04T17:00:00'),
      p('1 overtime-out 2024-03-04T19:30:00'),
    ],
  },
  {
    name: 'unknown directions are reported, not paired',
    punches: [p('1 in 2024-03-04T08:00:00'), p('1 unknown 2024-03-04T09:00:00'), p('1 out 2024-03-04T10:00:00')],
  },
  {
    name: 'DST: durations from timestamps (Europe/Berlin, 2024-03-31 clocks go forward)',
    punches: [
      p('1 in 2024-03-30T22:00:00 2024-03-30T21:00:00.000Z'),
      p('1 out 2024-03-31T06:00:00 2024-03-31T04:00:00.000Z'),
    ],
  },
  {
    name: 'duplicates and unsorted input, two users',
    punches: [
      p('2 out 2024-03-04T17:00:00'),
      p('1 out 2024-03-04T16:00:00'),
      p('2 in 2024-03-04T09:00:00'),
      p('1 in 2024-03-04T08:00:00'),
      p('1 in 2024-03-04T08:00:00'),
      p('2 out 2024-03-04T17:00:00', 'OTHER|2|2024-03-04T17:00:00'),
    ],
  },
  {
    name: 'invalid punches are reported',
    punches: [
      { userId: '', localTime: '2024-03-04T08:00:00', direction: 'in' },
      { userId: '1', localTime: '2024-03-04 08:00', direction: 'in' },
      p('1 in 2024-03-04T08:00:00'),
      p('1 out 2024-03-04T09:00:00'),
    ],
  },
  {
    name: 'no timestamp: durations from local time',
    punches: [
      { userId: '1', localTime: '2024-03-04T08:00:00', direction: 'in' },
      { userId: '1', localTime: '2024-03-04T09:15:00', direction: 'out' },
    ],
  },
];
