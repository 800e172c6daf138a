/**
 * The ids of the records emitted most recently, bounded. The cursor alone says "everything up to this
 * second", which cannot tell a live punch stamped earlier than the cursor (a device clock step back) from a
 * repeat; this set can, for as long as a reconnect overlap can last.
 */
export class RecentIds {
  private readonly ids = new Set<string>();

  constructor(private readonly capacity = 10000) {}

  has(id: string): boolean {
    return this.ids.has(id);
  }

  add(id: string): void {
    // Re-adding moves the id to the young end; a Set keeps insertion order, so the oldest comes first.
    this.ids.delete(id);
    this.ids.add(id);
    if (this.ids.size > this.capacity) {
      const oldest = this.ids.values().next();
      if (!oldest.done) this.ids.delete(oldest.value);
    }
  }

  get size(): number {
    return this.ids.size;
  }
}
