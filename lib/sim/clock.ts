/**
 * The device's wall clock: host clock + offset, read in an IANA zone, optionally frozen
 * (docs/zk-protocol.md §6: times on the wire are local wall-clock fields without a zone).
 */
import { WallClock, wallClockFromEpoch, wallClockSeconds } from '../protocol';

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatterFor(tz: string): Intl.DateTimeFormat {
  let f = formatters.get(tz);
  if (!f) {
    // Throws RangeError for an unknown zone, which is what a bad option deserves.
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: tz,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(tz, f);
  }
  return f;
}

/** Wall-clock fields of an instant in zone `tz`. */
export function wallClockInZone(ms: number, tz: string): WallClock {
  if (tz === 'UTC' || tz === 'Etc/UTC') return wallClockFromEpoch(ms);
  const parts: Record<string, number> = {};
  for (const p of formatterFor(tz).formatToParts(new Date(ms))) {
    if (p.type !== 'literal') parts[p.type] = Number(p.value);
  }
  return {
    year: parts.year,
    month: parts.month,
    day: parts.day,
    hour: parts.hour % 24,
    minute: parts.minute,
    second: parts.second,
  };
}

export interface ClockSettings {
  offsetSec: number;
  tz: string;
  frozen: WallClock | null;
}

export class DeviceClock {
  private settings: ClockSettings;

  constructor(settings: ClockSettings) {
    wallClockInZone(0, settings.tz); // validate the zone early
    this.settings = { ...settings };
  }

  get tz(): string {
    return this.settings.tz;
  }

  get offsetSec(): number {
    return this.settings.offsetSec;
  }

  now(): WallClock {
    if (this.settings.frozen) return { ...this.settings.frozen };
    return wallClockInZone(Date.now() + this.settings.offsetSec * 1000, this.settings.tz);
  }

  update(s: Partial<ClockSettings>): void {
    if (s.tz !== undefined) wallClockInZone(0, s.tz);
    this.settings = { ...this.settings, ...s };
  }

  /**
   * SET_TIME: make "now" read `w`. The offset is computed in wall-clock seconds, which is exact except
   * across a DST change of the device zone (good enough for a simulator). A frozen clock is re-frozen at `w`.
   */
  set(w: WallClock): void {
    if (this.settings.frozen) {
      this.settings.frozen = { ...w };
      return;
    }
    const current = wallClockSeconds(this.now());
    this.settings.offsetSec += wallClockSeconds(w) - current;
  }
}
