/**
 * The seen-ids set of zk-dedupe: ids with the time they were first seen, bounded by a key count and a
 * retention window. Retention runs on first-seen time, not the record's timestamp, because then insertion
 * order is expiry order: a JS Map keeps insertion order, so expiring and evicting only ever look at the front
 * (O(removed)), and an old backfill cannot evict today's ids. A record re-seen after its id expired passes
 * again; the sinks are idempotent, so that costs a duplicate write, never a double row.
 */
export interface IdSetOptions {
  /** Default 1,000,000. The oldest ids are evicted first. */
  maxKeys?: number;
  /** Default 40 days. */
  retentionMs?: number;
}

export const DEFAULT_MAX_KEYS = 1_000_000;
export const DEFAULT_RETENTION_MS = 40 * 24 * 3600 * 1000;

export class IdSet {
  readonly maxKeys: number;
  readonly retentionMs: number;
  private readonly seen = new Map<string, number>();

  constructor(opts: IdSetOptions = {}) {
    this.maxKeys = Math.max(1, Math.floor(opts.maxKeys ?? DEFAULT_MAX_KEYS));
    this.retentionMs = Math.max(1, opts.retentionMs ?? DEFAULT_RETENTION_MS);
  }

  get size(): number {
    return this.seen.size;
  }

  has(id: string): boolean {
    return this.seen.has(id);
  }

  /** Adds `id` first seen at `now`; false when it was already there (a duplicate). */
  add(id: string, now: number): boolean {
    if (this.seen.has(id)) return false;
    this.seen.set(id, now);
    if (this.seen.size > this.maxKeys) this.evictOldest(this.seen.size - this.maxKeys);
    return true;
  }

  /** Drops ids first seen before now − retention; returns how many. */
  expire(now: number): number {
    const cutoff = now - this.retentionMs;
    let n = 0;
    for (const [id, t] of this.seen) {
      if (t >= cutoff) break;
      this.seen.delete(id);
      n++;
    }
    return n;
  }

  private evictOldest(count: number): void {
    for (const id of this.seen.keys()) {
      if (count-- <= 0) break;
      this.seen.delete(id);
    }
  }

  /** Oldest first: the order a snapshot must keep. */
  entries(): IterableIterator<[string, number]> {
    return this.seen.entries();
  }
}
