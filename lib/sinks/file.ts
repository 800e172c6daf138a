/**
 * The file target: one append-only file per day, `<dir>/attendance-YYYY-MM-DD.ndjson|csv`. The day is the
 * record's `localTime` date (the device's wall clock): a payroll clerk looks for "Monday's punches" as the
 * clock showed them, and a night shift near midnight UTC would otherwise split across two files.
 *
 * CSV is written by lib/record/csv.ts (RFC 4180, CRLF, spreadsheet formulas guarded), the same as `zk fetch`.
 *
 * Idempotent: each file's ids are indexed when the file is first touched, so a replayed batch adds no line
 * twice. A torn last line (crash mid-write, never fsynced so never committed) is cut off when the file is
 * opened, before the index is built.
 */
import { promises as fsp } from 'fs';
import * as path from 'path';
import type { AttendanceRecord } from '../record';
import { csvHeader, csvRecordRow, csvRows, firstCsvField } from '../record/csv';
import { RejectedRecord, Sink, SinkError, SinkLogger, SinkWriteResult } from './types';

export type FileFormat = 'ndjson' | 'csv';

export interface FileSinkOptions {
  /** Directory for the daily files; created if missing. */
  dir: string;
  /** Default 'ndjson'. */
  format?: FileFormat;
  /** How many days' id indexes stay in memory (older days reload from disk when replays touch them). Default 4. */
  maxOpenDays?: number;
}

const DAY_RE = /^\d{4}-\d{2}-\d{2}$/;

class DayFile {
  constructor(
    readonly file: string,
    readonly ids: Set<string>,
    public size: number,
  ) {}
}

export class FileSink implements Sink {
  readonly target = 'file' as const;
  private readonly format: FileFormat;
  private readonly maxOpenDays: number;
  /** Loaded days, most recently used last. */
  private readonly days = new Map<string, DayFile>();

  constructor(
    private readonly opts: FileSinkOptions,
    private readonly logger?: SinkLogger,
  ) {
    if (!opts.dir) throw new SinkError('file target: a directory is required', true, 'file');
    this.format = opts.format ?? 'ndjson';
    if (this.format !== 'ndjson' && this.format !== 'csv')
      throw new SinkError(`file target: unknown format ${String(this.format)}`, true, 'file');
    this.maxOpenDays = Math.max(1, opts.maxOpenDays ?? 4);
  }

  fileFor(day: string): string {
    return path.join(this.opts.dir, `attendance-${day}.${this.format}`);
  }

  async open(): Promise<void> {
    try {
      await fsp.mkdir(this.opts.dir, { recursive: true });
    } catch (err) {
      // A missing permission is fixed by a person; hold the records meanwhile.
      throw new SinkError(
        `file target: cannot create ${this.opts.dir}: ${(err as Error).message}`,
        false,
        'file',
        'outage',
      );
    }
  }

  async write(batch: AttendanceRecord[]): Promise<SinkWriteResult> {
    const rejected: RejectedRecord[] = [];
    const byDay = new Map<string, AttendanceRecord[]>();
    for (const r of batch) {
      const day = typeof r.localTime === 'string' ? r.localTime.slice(0, 10) : '';
      // Validated at the door; checked again because the day becomes part of a file name.
      if (!DAY_RE.test(day)) {
        rejected.push({ record: r, reason: 'localTime: not a YYYY-MM-DD… date' });
        continue;
      }
      let list = byDay.get(day);
      if (!list) byDay.set(day, (list = []));
      list.push(r);
    }
    let inserted = 0;
    let duplicates = 0;
    for (const [day, records] of byDay) {
      const df = await this.load(day);
      let text = '';
      const added: string[] = [];
      const inBatch = new Set<string>();
      for (const r of records) {
        if (df.ids.has(r.id) || inBatch.has(r.id)) {
          duplicates++;
          continue;
        }
        inBatch.add(r.id);
        added.push(r.id);
        text += this.format === 'csv' ? csvRecordRow(r) : JSON.stringify(r) + '\n';
      }
      if (added.length === 0) continue;
      if (df.size === 0 && this.format === 'csv') text = csvHeader() + text;
      await this.appendDurably(df, text);
      for (const id of added) df.ids.add(id);
      inserted += added.length;
    }
    return { inserted, duplicates, rejected };
  }

  private async appendDurably(df: DayFile, text: string): Promise<void> {
    const created = df.size === 0;
    let h: fsp.FileHandle | undefined;
    try {
      h = await fsp.open(df.file, 'a');
      const buf = Buffer.from(text, 'utf8');
      await h.write(buf, 0, buf.length);
      await h.sync();
      df.size += buf.length;
    } catch (err) {
      // Drop the cached index: the file may hold part of this write; reloading cuts the torn tail.
      this.days.delete(path.basename(df.file));
      throw new SinkError(`file target: cannot write ${df.file}: ${(err as Error).message}`, false, 'file', 'outage');
    } finally {
      await h?.close();
    }
    if (created) {
      const d = await fsp.open(this.opts.dir, 'r').catch(() => undefined);
      await d?.sync().catch(() => undefined);
      await d?.close();
    }
  }

  /** The day's file index: loaded once, torn tail cut, least recently used days evicted. */
  private async load(day: string): Promise<DayFile> {
    const key = path.basename(this.fileFor(day));
    const cached = this.days.get(key);
    if (cached) {
      this.days.delete(key);
      this.days.set(key, cached);
      return cached;
    }
    const file = this.fileFor(day);
    let text = '';
    try {
      text = await fsp.readFile(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw new SinkError(`file target: cannot read ${file}: ${(err as Error).message}`, false, 'file', 'outage');
      }
    }
    const ids = new Set<string>();
    let size = Buffer.byteLength(text, 'utf8');
    const lastNl = text.lastIndexOf('\n');
    if (lastNl !== text.length - 1) {
      // Torn last line from a crash: it was never committed, so it goes.
      const keep = Buffer.byteLength(text.slice(0, lastNl + 1), 'utf8');
      await fsp.truncate(file, keep);
      this.logger?.('warn', `file target: cut ${size - keep} bytes of an unfinished line from ${file}`);
      text = text.slice(0, lastNl + 1);
      size = keep;
    }
    if (this.format === 'csv') {
      const rows = csvRows(text);
      for (let i = 1; i < rows.length; i++) ids.add(firstCsvField(rows[i]));
    } else {
      for (const line of text.split('\n')) {
        if (!line) continue;
        try {
          const id = (JSON.parse(line) as { id?: unknown }).id;
          if (typeof id === 'string') ids.add(id);
        } catch {
          this.logger?.('warn', `file target: ignoring an unreadable line in ${file}`);
        }
      }
    }
    const df = new DayFile(file, ids, size);
    this.days.set(key, df);
    while (this.days.size > this.maxOpenDays) {
      const oldest = this.days.keys().next().value as string;
      this.days.delete(oldest);
    }
    return df;
  }

  /**
   * The ids of `records` already in their day's file. With prune() this makes a FileSink a durable, bounded
   * journal of ids (the HTTP target keeps what its API acknowledged in one).
   */
  async stored(records: readonly AttendanceRecord[]): Promise<Set<string>> {
    const out = new Set<string>();
    for (const r of records) {
      const day = typeof r.localTime === 'string' ? r.localTime.slice(0, 10) : '';
      if (DAY_RE.test(day) && (await this.load(day)).ids.has(r.id)) out.add(r.id);
    }
    return out;
  }

  /** Deletes the day files nothing was appended to for `maxAgeMs`; returns how many went. */
  async prune(maxAgeMs: number, now = Date.now()): Promise<number> {
    const names = await fsp.readdir(this.opts.dir).catch(() => [] as string[]);
    const re = new RegExp(`^attendance-\\d{4}-\\d{2}-\\d{2}\\.${this.format}$`);
    let removed = 0;
    for (const name of names) {
      if (!re.test(name)) continue;
      const file = path.join(this.opts.dir, name);
      const st = await fsp.stat(file).catch(() => null);
      if (!st || now - st.mtimeMs <= maxAgeMs) continue;
      await fsp.unlink(file);
      this.days.delete(name);
      removed++;
    }
    return removed;
  }

  async close(): Promise<void> {
    this.days.clear();
  }
}

export function createFileSink(options: FileSinkOptions, logger?: SinkLogger): Sink {
  return new FileSink(options, logger);
}
