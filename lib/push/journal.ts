/**
 * The push journal: every accepted ATTLOG post becomes one line in a durable Outbox (lib/sinks/outbox:
 * append + fsync, group commit) BEFORE the device gets its `OK`. A pump hands entries on in order and acks
 * them after they were handed on, so a crash after `OK` replays them on restart (at-least-once; record ids
 * make that idempotent downstream) and a crash before `OK` makes the device resend.
 */
import { Outbox } from '../sinks/outbox';
import type { AttendanceRecord } from '../record/canonical';

export interface JournalEntry {
  deviceSn: string;
  /** The post's `Stamp` query value, when the device sent one. */
  stamp: string | null;
  receivedAt: string;
  records: AttendanceRecord[];
}

/** What the server needs from a journal: durable on resolve. The bench swaps in a naive one as baseline. */
export interface PushJournalWriter {
  append(entry: JournalEntry): Promise<void>;
}

export class PushJournal implements PushJournalWriter {
  private stopping = false;
  private pumping: Promise<void> | null = null;
  private readonly abort = new AbortController();

  private constructor(private readonly box: Outbox<JournalEntry>) {}

  static async open(dir: string, onCorrupt?: (message: string) => void): Promise<PushJournal> {
    const box = await Outbox.open<JournalEntry>(dir, {
      onCorrupt: (c) =>
        onCorrupt?.(`journal ${dir}: skipped an unreadable line (${c.bytes} bytes in segment ${c.seg})`),
    });
    return new PushJournal(box);
  }

  get dir(): string {
    return this.box.dir;
  }

  /** Entries written and not yet handed on. */
  get pending(): number {
    return this.box.pending;
  }

  append(entry: JournalEntry): Promise<void> {
    return this.box.append([entry]);
  }

  /**
   * Starts handing entries to `deliver` in order (replaying what a previous run left). An entry is acked
   * once `deliver` resolved; if it throws, the pump waits and retries from the same entry.
   */
  start(
    deliver: (e: JournalEntry) => void | Promise<void>,
    onError: (err: Error) => void = () => undefined,
    maxBatch = 200,
    idleWaitMs = 1000,
  ): void {
    if (this.pumping) return;
    this.pumping = (async () => {
      while (!this.stopping) {
        try {
          const batch = await this.box.next(maxBatch);
          if (!batch) {
            // Checked in the same tick as the wait starts: an append that landed while next() was reading
            // shows in `pending` now, instead of waiting out idleWaitMs unnoticed.
            if (this.box.pending === 0) await this.box.waitForAppend(idleWaitMs, this.abort.signal);
            continue;
          }
          for (const e of batch.items) {
            // Stopping mid-batch: what was not handed on stays in the journal for the next start.
            if (this.stopping) throw new Error('journal stopping');
            await deliver(e);
          }
          await this.box.ack(batch);
        } catch (err) {
          if (this.stopping) break;
          onError(err as Error);
          this.box.rewind();
          await new Promise((r) => setTimeout(r, 1000).unref());
        }
      }
    })();
  }

  /** Stops handing entries on (synchronously); close() then waits for the pump and closes the files. */
  stop(): void {
    this.stopping = true;
    this.abort.abort();
  }

  async close(): Promise<void> {
    this.stop();
    await this.pumping;
    await this.box.close();
  }
}
