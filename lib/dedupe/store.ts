/**
 * Persistence of an IdSet in the Node-RED user directory: an append log (`<name>.log`, one
 * `firstSeenMs<TAB>JSON id` line per new id) flushed every second and on close, compacted into a fresh file
 * (tmp + fsync + rename) on load and whenever the log has grown to twice the live ids. Losing the last
 * second in a crash only means a few ids pass again, which the idempotent sinks absorb.
 */
import { promises as fsp } from 'fs';
import * as path from 'path';
import { IdSet, IdSetOptions } from './id-set';

export interface DedupeStoreOptions extends IdSetOptions {
  /** Directory for the log; created if missing. */
  dir: string;
  /** File base name (the node id). */
  name: string;
  /** Flush period. Default 1000 ms. */
  flushMs?: number;
  now?: () => number;
}

export class DedupeStore {
  readonly set: IdSet;
  private readonly file: string;
  private buffer: string[] = [];
  private logLines = 0;
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> = Promise.resolve();
  private readonly now: () => number;

  private constructor(opts: DedupeStoreOptions) {
    this.set = new IdSet(opts);
    this.file = path.join(opts.dir, `${opts.name.replace(/[^A-Za-z0-9._-]/g, '_')}.log`);
    this.now = opts.now ?? Date.now;
  }

  static async open(opts: DedupeStoreOptions): Promise<DedupeStore> {
    const s = new DedupeStore(opts);
    await fsp.mkdir(opts.dir, { recursive: true });
    await s.load();
    await s.compact();
    s.timer = setInterval(() => void s.flush(), opts.flushMs ?? 1000);
    s.timer.unref();
    return s;
  }

  /** Adds an id; false when already seen. */
  add(id: string): boolean {
    const now = this.now();
    if (!this.set.add(id, now)) return false;
    this.buffer.push(`${now}\t${JSON.stringify(id)}\n`);
    return true;
  }

  has(id: string): boolean {
    return this.set.has(id);
  }

  private async load(): Promise<void> {
    let text: string;
    try {
      text = await fsp.readFile(this.file, 'utf8');
    } catch {
      return;
    }
    // A torn last line (no newline) is skipped, as is anything that does not parse.
    const end = text.lastIndexOf('\n');
    let start = 0;
    while (start <= end) {
      const nl = text.indexOf('\n', start);
      const line = text.slice(start, nl);
      start = nl + 1;
      const tab = line.indexOf('\t');
      if (tab <= 0) continue;
      const t = Number(line.slice(0, tab));
      let id: unknown;
      try {
        id = JSON.parse(line.slice(tab + 1));
      } catch {
        continue;
      }
      if (Number.isFinite(t) && typeof id === 'string') this.set.add(id, t);
    }
    this.set.expire(this.now());
  }

  /** Appends what was added since the last flush. */
  flush(): Promise<void> {
    this.flushing = this.flushing.then(async () => {
      this.set.expire(this.now());
      if (this.buffer.length === 0) return;
      const lines = this.buffer;
      this.buffer = [];
      await fsp.appendFile(this.file, lines.join(''));
      this.logLines += lines.length;
      if (this.logLines > Math.max(10_000, this.set.size * 2)) await this.compact();
    });
    return this.flushing;
  }

  /** Rewrites the log with only the live ids, atomically. */
  private async compact(): Promise<void> {
    const tmp = `${this.file}.tmp`;
    const h = await fsp.open(tmp, 'w');
    try {
      let chunk = '';
      for (const [id, t] of this.set.entries()) {
        chunk += `${t}\t${JSON.stringify(id)}\n`;
        if (chunk.length > 1 << 20) {
          await h.write(chunk);
          chunk = '';
        }
      }
      if (chunk) await h.write(chunk);
      await h.sync();
    } finally {
      await h.close();
    }
    await fsp.rename(tmp, this.file);
    this.logLines = this.set.size;
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.flush();
  }
}
