/**
 * The Access target's "park" policy for unknown badges (docs/targets.md §2.6). A punch whose badge has no USERINFO
 * row yet (the person was enrolled on the clock before HR added them in ZKTime) waits here, in a small file
 * replaced atomically, and is written once a refresh of the badge map finds the person. After `maxAgeMs` it
 * goes to the error output instead, so nothing waits forever unseen.
 *
 * The lot holds whole canonical records keyed by their id, so parking the same punch twice (a replayed
 * batch) keeps one entry. Unknown badges are rare; the whole file is rewritten on each change.
 */
import type { AttendanceRecord } from '../record';
import { readJsonFile, writeJsonFile } from '../files/json-file';

export interface ParkedEntry {
  record: AttendanceRecord;
  /** ISO time it was first parked. */
  parkedAt: string;
}

export class ParkingLot {
  private constructor(
    readonly file: string,
    private entries: Map<string, ParkedEntry>,
  ) {}

  /** Loads the lot; entries that are not a record with an id and a parse-able time are dropped and counted. */
  static async open(file: string, onProblem?: (message: string) => void): Promise<ParkingLot> {
    const raw = await readJsonFile(file, (aside) =>
      onProblem?.(`parked punches file ${file} was unreadable; moved to ${aside}`),
    );
    const entries = new Map<string, ParkedEntry>();
    let dropped = 0;
    for (const e of Array.isArray(raw) ? (raw as unknown[]) : []) {
      const entry = e as Partial<ParkedEntry> | null;
      const id = entry?.record?.id;
      if (
        typeof id === 'string' &&
        typeof entry?.parkedAt === 'string' &&
        Number.isFinite(Date.parse(entry.parkedAt))
      ) {
        entries.set(id, { record: entry.record as AttendanceRecord, parkedAt: entry.parkedAt });
      } else dropped++;
    }
    if (dropped > 0) onProblem?.(`parked punches file ${file}: ${dropped} entries unreadable, skipped`);
    return new ParkingLot(file, entries);
  }

  get size(): number {
    return this.entries.size;
  }

  has(id: string): boolean {
    return this.entries.has(id);
  }

  /** Splits the lot: entries `known` now accepts (to write), and entries older than `maxAgeMs` (to give up on). */
  sort(
    known: (r: AttendanceRecord) => boolean,
    nowMs: number,
    maxAgeMs: number,
  ): { ready: ParkedEntry[]; expired: ParkedEntry[] } {
    const ready: ParkedEntry[] = [];
    const expired: ParkedEntry[] = [];
    for (const e of this.entries.values()) {
      if (known(e.record)) ready.push(e);
      else if (nowMs - Date.parse(e.parkedAt) >= maxAgeMs) expired.push(e);
    }
    return { ready, expired };
  }

  /** Adds and removes entries, then persists; resolves once the file is durable. No change, no write. */
  async update(add: readonly AttendanceRecord[], remove: readonly string[], nowMs: number): Promise<void> {
    // On a copy: if the file cannot be written, memory keeps matching the disk and the retry writes again.
    const next = new Map(this.entries);
    let changed = false;
    for (const id of remove) changed = next.delete(id) || changed;
    const at = new Date(nowMs).toISOString();
    for (const record of add) {
      if (next.has(record.id)) continue;
      next.set(record.id, { record, parkedAt: at });
      changed = true;
    }
    if (!changed) return;
    await writeJsonFile(this.file, [...next.values()]);
    this.entries = next;
  }
}
