/**
 * The optional repeat-punch rule: the same userId on the same device within N seconds of the last punch
 * that counted is a repeat (people press twice). Compared on the record's timestamp, so a poll that
 * delivers an hour of punches at once is judged by when they happened, not when they arrived. Held in
 * memory only: the window is seconds to minutes, so what a restart forgets is at most one such window.
 */
export class RepeatRule {
  private readonly last = new Map<string, number>();
  private checks = 0;

  constructor(readonly windowMs: number) {}

  /** True when this punch is a repeat of an earlier one; otherwise it becomes the one later punches compare to. */
  isRepeat(deviceSn: string, userId: string, timestamp: string): boolean {
    const t = Date.parse(timestamp);
    if (!Number.isFinite(t) || this.windowMs <= 0) return false;
    const key = `${deviceSn}|${userId}`;
    const prev = this.last.get(key);
    if (prev !== undefined && Math.abs(t - prev) < this.windowMs) return true;
    if (prev === undefined || t > prev) this.last.set(key, t);
    if (++this.checks % 10_000 === 0) this.prune(t);
    return false;
  }

  /** Keeps memory bounded: entries far older than the newest punch can no longer matter. */
  private prune(newest: number): void {
    const cutoff = newest - Math.max(this.windowMs, 3600_000) * 24;
    for (const [k, t] of this.last) if (t < cutoff) this.last.delete(k);
  }
}
