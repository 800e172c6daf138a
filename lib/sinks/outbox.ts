/**
 * The durable outbox of one sink node (docs/architecture.md §4): records are appended to NDJSON segment files and
 * fsynced before the caller acknowledges its input; the delivery loop reads batches in order and acks each
 * one after the target committed it. The committed position lives in `ack.json`, overwritten in place with
 * a fixed-width line per ack and fsynced only before segments are deleted and on close: an ack that a power
 * loss takes back only means its records are sent again (at-least-once; the targets are idempotent on the
 * record key), while an fsync and a rename per batch would cost more than the appends on an SD card. After
 * any crash the outbox resumes at the last ack that reached the disk and replays what follows.
 *
 * Layout of the directory:
 *   seg-0000000001.ndjson …   one JSON value per line, appended only; a new segment past `segmentBytes`
 *   ack.json                  {"seg": N, "off": BYTES}: everything before it is committed
 *
 * A torn last line (a crash in the middle of a write) has no trailing newline: open() cuts it off, so it is
 * never parsed. A line that still does not parse (disk corruption) is skipped, counted and reported through
 * `onCorrupt`, never handed out as a record.
 */
import { promises as fsp } from 'fs';
import * as fs from 'fs';
import * as path from 'path';
import { fsyncDir, replaceFile } from '../files/durable';

export interface OutboxPosition {
  seg: number;
  off: number;
}

export interface OutboxBatch<T> {
  items: T[];
  /** Position of the first line (the ack position when it was read). */
  start: OutboxPosition;
  /** Position just after the last line read, corrupt lines included. */
  end: OutboxPosition;
  /** Lines consumed: items plus skipped corrupt lines (what ack() takes off `pending`). */
  lines: number;
}

export interface OutboxOptions {
  /** Start a new segment once the current one is this big. Default 16 MiB. */
  segmentBytes?: number;
  /** Called for lines that cannot be parsed (never for a torn last line, which is expected after a crash). */
  onCorrupt?: (info: { seg: number; off: number; bytes: number }) => void;
}

const SEGMENT_RE = /^seg-(\d{10})\.ndjson$/;
const ACK_FILE = 'ack.json';
const NL = 0x0a;
const READ_CHUNK = 1 << 20;

const segName = (seg: number): string => `seg-${String(seg).padStart(10, '0')}.ndjson`;

/** Directories opened in this process: two outboxes on one directory would interleave their lines. */
const openDirs = new Set<string>();

interface PendingAppend {
  data: Buffer;
  lines: number;
  resolve: () => void;
  reject: (err: Error) => void;
}

export class Outbox<T> {
  private readonly segmentBytes: number;
  private readonly onCorrupt?: OutboxOptions['onCorrupt'];
  /** Sizes of the segments on disk (sealed ones are final; the active one grows). */
  private readonly sizes = new Map<number, number>();
  private ackPos: OutboxPosition;
  /** Where the next read starts: the end of the batch handed out last. */
  private readPos: OutboxPosition;
  private activeSeg: number;
  private writer: fsp.FileHandle | null = null;
  /** ack.json, open for overwriting in place (see writeAck). */
  private ackFile: fsp.FileHandle | null = null;
  /** An ack written since the last fsync of ack.json. */
  private ackDirty = false;
  private reader: { seg: number; h: fsp.FileHandle } | null = null;
  private queue: PendingAppend[] = [];
  private writing = false;
  private closed = false;
  private pendingLines: number;
  private readonly waiters = new Set<() => void>();

  private constructor(
    readonly dir: string,
    state: { ack: OutboxPosition; activeSeg: number; sizes: Map<number, number>; pending: number },
    opts: OutboxOptions,
  ) {
    this.segmentBytes = opts.segmentBytes ?? 16 * 1024 * 1024;
    this.onCorrupt = opts.onCorrupt;
    this.ackPos = state.ack;
    this.readPos = { ...state.ack };
    this.activeSeg = state.activeSeg;
    this.sizes = state.sizes;
    this.pendingLines = state.pending;
  }

  /** Opens (or creates) the outbox in `dir`, cutting a torn tail and counting what waits. */
  static async open<T>(dir: string, opts: OutboxOptions = {}): Promise<Outbox<T>> {
    const abs = path.resolve(dir);
    if (openDirs.has(abs)) throw new Error(`outbox ${abs} is already open in this process`);
    openDirs.add(abs);
    try {
      await fsp.mkdir(abs, { recursive: true });
      const state = await recover(abs);
      const box = new Outbox<T>(abs, state, opts);
      box.writer = await fsp.open(path.join(abs, segName(state.activeSeg)), 'a');
      if (!state.sizes.has(state.activeSeg)) {
        box.sizes.set(state.activeSeg, 0);
        await fsyncDir(abs);
      }
      // Once per open, durably in the fixed-width form, so later acks can overwrite it in place.
      await replaceFile(path.join(abs, ACK_FILE), ackLine(state.ack));
      box.ackFile = await fsp.open(path.join(abs, ACK_FILE), 'r+');
      return box;
    } catch (err) {
      openDirs.delete(abs);
      throw err;
    }
  }

  /** Records appended and not yet acked (what the status shows as waiting). */
  get pending(): number {
    return this.pendingLines;
  }

  /** Appends and fsyncs; resolves only once the records are on disk. Concurrent calls share one fsync. */
  append(items: readonly T[]): Promise<void> {
    if (this.closed) return Promise.reject(new Error(`outbox ${this.dir} is closed`));
    if (items.length === 0) return Promise.resolve();
    let text = '';
    for (const item of items) text += JSON.stringify(item) + '\n';
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ data: Buffer.from(text, 'utf8'), lines: items.length, resolve, reject });
      if (!this.writing) void this.drain();
    });
  }

  /** Group commit: everything queued while the previous fsync ran goes out in one write + one fsync. */
  private async drain(): Promise<void> {
    this.writing = true;
    try {
      while (this.queue.length > 0) {
        const group = this.queue;
        this.queue = [];
        try {
          const size = this.sizes.get(this.activeSeg) ?? 0;
          if (size >= this.segmentBytes) await this.roll();
          const data = group.length === 1 ? group[0].data : Buffer.concat(group.map((g) => g.data));
          await this.writer!.write(data, 0, data.length);
          await this.writer!.sync();
          this.sizes.set(this.activeSeg, (this.sizes.get(this.activeSeg) ?? 0) + data.length);
          for (const g of group) this.pendingLines += g.lines;
          for (const g of group) g.resolve();
          this.wake();
        } catch (err) {
          for (const g of group) g.reject(err as Error);
        }
      }
    } finally {
      this.writing = false;
    }
  }

  private async roll(): Promise<void> {
    await this.writer!.close();
    this.activeSeg += 1;
    this.writer = await fsp.open(path.join(this.dir, segName(this.activeSeg)), 'a');
    this.sizes.set(this.activeSeg, 0);
    await fsyncDir(this.dir);
  }

  /**
   * The next batch of up to `max` records after the last one handed out, or null when nothing durable
   * waits. Only fsynced bytes are read, so a batch never contains a record that a crash could take back.
   */
  async next(max: number): Promise<OutboxBatch<T> | null> {
    if (this.closed) return null;
    const start = { ...this.readPos };
    const items: T[] = [];
    let lines = 0;
    let pos = { ...this.readPos };
    while (items.length < max) {
      const segSize = this.sizes.get(pos.seg);
      if (segSize === undefined) break;
      if (pos.off >= segSize) {
        if (pos.seg >= this.activeSeg) break;
        pos = { seg: pos.seg + 1, off: 0 };
        continue;
      }
      const h = await this.readerFor(pos.seg);
      const want = Math.min(READ_CHUNK, segSize - pos.off);
      let buf = Buffer.allocUnsafe(want);
      let { bytesRead } = await h.read(buf, 0, want, pos.off);
      buf = buf.subarray(0, bytesRead);
      let lineStart = 0;
      let consumed = 0;
      for (let i = buf.indexOf(NL); i !== -1 && items.length < max; i = buf.indexOf(NL, lineStart)) {
        const parsed = parseLine<T>(buf, lineStart, i);
        if (parsed.ok) items.push(parsed.value);
        else this.onCorrupt?.({ seg: pos.seg, off: pos.off + lineStart, bytes: i - lineStart });
        lines += 1;
        lineStart = i + 1;
        consumed = lineStart;
      }
      if (consumed === 0) {
        // A line longer than one chunk: read it whole.
        const nl = await findNewline(h, pos.off + bytesRead, segSize);
        if (nl === -1) break; // cannot happen for fsynced data (every append ends with a newline)
        const whole = Buffer.allocUnsafe(nl - pos.off + 1);
        ({ bytesRead } = await h.read(whole, 0, whole.length, pos.off));
        const parsed = parseLine<T>(whole, 0, whole.length - 1);
        if (parsed.ok) items.push(parsed.value);
        else this.onCorrupt?.({ seg: pos.seg, off: pos.off, bytes: whole.length - 1 });
        lines += 1;
        consumed = whole.length;
      }
      pos = { seg: pos.seg, off: pos.off + consumed };
    }
    if (lines === 0) return null;
    this.readPos = pos;
    return { items, start, end: pos, lines };
  }

  private async readerFor(seg: number): Promise<fsp.FileHandle> {
    if (this.reader?.seg === seg) return this.reader.h;
    await this.reader?.h.close();
    this.reader = null;
    const h = await fsp.open(path.join(this.dir, segName(seg)), 'r');
    this.reader = { seg, h };
    return h;
  }

  /**
   * Marks a batch committed: persists its end as the ack position, then deletes segments wholly before it.
   * Batches must be acked in the order next() gave them, and not while a next() is running: both move the
   * read position and the segment reader (overlapping them lost records at segment roll-over in a trial).
   * A next() may run between handing a batch out and acking it (the delivery loop reads ahead that way).
   */
  async ack(batch: OutboxBatch<T>): Promise<void> {
    const start = this.settle(batch.start);
    const acked = this.settle(this.ackPos);
    if (start.seg !== acked.seg || start.off !== acked.off) {
      throw new Error(
        `outbox ${this.dir}: ack out of order (batch starts at ${fmt(batch.start)}, acked up to ${fmt(this.ackPos)})`,
      );
    }
    // At the end of a sealed segment, move to the next one so the sealed file can go.
    const end = this.settle(batch.end);
    await this.writeAck(end);
    this.ackPos = end;
    if (this.readPos.seg === batch.end.seg && this.readPos.off === batch.end.off) this.readPos = { ...end };
    this.pendingLines = Math.max(0, this.pendingLines - batch.lines);
    for (const seg of [...this.sizes.keys()]) {
      if (seg < end.seg) {
        // The ack past it reaches the disk before the segment leaves (recovery copes either way: this keeps
        // a power loss from replaying a whole segment).
        await this.syncAck();
        this.sizes.delete(seg);
        if (this.reader?.seg === seg) {
          await this.reader.h.close();
          this.reader = null;
        }
        await fsp.rm(path.join(this.dir, segName(seg)), { force: true });
      }
    }
  }

  /**
   * The same position moved past the ends of sealed segments: the end of segment N and the start of N+1 are
   * one place, whichever name a batch got when it was read (the segment may have been sealed since).
   */
  private settle(pos: OutboxPosition): OutboxPosition {
    let p = pos;
    while (p.seg < this.activeSeg && p.off >= (this.sizes.get(p.seg) ?? 0)) p = { seg: p.seg + 1, off: 0 };
    return p;
  }

  /** One write() at offset 0 of a line of fixed width: no fsync, no rename (see the file comment). */
  private async writeAck(pos: OutboxPosition): Promise<void> {
    if (!this.ackFile) throw new Error(`outbox ${this.dir} is closed`);
    const line = Buffer.from(ackLine(pos), 'utf8');
    await this.ackFile.write(line, 0, line.length, 0);
    this.ackDirty = true;
  }

  private async syncAck(): Promise<void> {
    if (!this.ackDirty || !this.ackFile) return;
    this.ackDirty = false;
    await this.ackFile.sync();
  }

  /** Forget batches handed out but not acked: the next read starts again at the ack position. */
  rewind(): void {
    this.readPos = { ...this.ackPos };
  }

  /** Resolves when a durable append happened after the call, after `ms`, on `signal`'s abort, or on close. */
  waitForAppend(ms: number, signal?: AbortSignal): Promise<void> {
    if (this.closed || signal?.aborted) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.waiters.delete(done);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.waiters.add(done);
      signal?.addEventListener('abort', done);
    });
  }

  private wake(): void {
    for (const w of [...this.waiters]) w();
  }

  /** Waits for queued appends, closes the files. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    while (this.writing || this.queue.length > 0) await new Promise((r) => setImmediate(r));
    this.wake();
    await this.writer?.close();
    this.writer = null;
    try {
      await this.syncAck();
    } finally {
      await this.ackFile?.close();
      this.ackFile = null;
    }
    await this.reader?.h.close();
    this.reader = null;
    openDirs.delete(this.dir);
  }
}

function fmt(p: OutboxPosition): string {
  return `${p.seg}:${p.off}`;
}

function parseLine<T>(buf: Buffer, from: number, to: number): { ok: true; value: T } | { ok: false } {
  try {
    const value = JSON.parse(buf.toString('utf8', from, to)) as unknown;
    // The outbox stores objects (records); anything else is corruption, not data.
    if (value === null || typeof value !== 'object') return { ok: false };
    return { ok: true, value: value as T };
  } catch {
    return { ok: false };
  }
}

async function findNewline(h: fsp.FileHandle, from: number, limit: number): Promise<number> {
  const buf = Buffer.allocUnsafe(READ_CHUNK);
  for (let off = from; off < limit;) {
    const { bytesRead } = await h.read(buf, 0, Math.min(buf.length, limit - off), off);
    if (bytesRead === 0) return -1;
    const i = buf.subarray(0, bytesRead).indexOf(NL);
    if (i !== -1) return off + i;
    off += bytesRead;
  }
  return -1;
}

/** ack.json's content: the position padded to a fixed width (JSON allows the trailing blanks), so each write
 *  covers the whole previous one and a file never holds a mix of two lengths. */
const ACK_WIDTH = 63;
function ackLine(pos: OutboxPosition): string {
  return JSON.stringify({ seg: pos.seg, off: pos.off }).padEnd(ACK_WIDTH, ' ') + '\n';
}

async function readAck(dir: string): Promise<OutboxPosition | null> {
  try {
    const v = JSON.parse(await fsp.readFile(path.join(dir, ACK_FILE), 'utf8')) as Partial<OutboxPosition>;
    if (
      Number.isSafeInteger(v.seg) &&
      Number.isSafeInteger(v.off) &&
      (v.seg as number) >= 1 &&
      (v.off as number) >= 0
    ) {
      return { seg: v.seg as number, off: v.off as number };
    }
  } catch {
    /* none yet, or damaged by a power loss: replay from the first segment (repeats, no loss) */
  }
  return null;
}

/**
 * Start-up: find the segments, drop the ones before the ack, cut a torn tail off the last one and count the
 * lines still to deliver.
 */
async function recover(
  dir: string,
): Promise<{ ack: OutboxPosition; activeSeg: number; sizes: Map<number, number>; pending: number }> {
  await fsp.rm(path.join(dir, `${ACK_FILE}.tmp`), { force: true });
  const segs = (await fsp.readdir(dir))
    .map((n) => SEGMENT_RE.exec(n))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => Number(m[1]))
    .sort((a, b) => a - b);
  let ack = (await readAck(dir)) ?? { seg: segs[0] ?? 1, off: 0 };
  const sizes = new Map<number, number>();
  for (const seg of segs) {
    if (seg < ack.seg) {
      await fsp.rm(path.join(dir, segName(seg)), { force: true });
      continue;
    }
    sizes.set(seg, (await fsp.stat(path.join(dir, segName(seg)))).size);
  }
  const live = [...sizes.keys()];
  const last = live[live.length - 1];
  if (last !== undefined) sizes.set(last, await cutTornTail(path.join(dir, segName(last)), sizes.get(last) ?? 0));
  // The ack may point at a segment already deleted (all of it committed) or, after a cut tail, past the end.
  if (!sizes.has(ack.seg)) ack = { seg: live[0] ?? ack.seg, off: 0 };
  else ack = { seg: ack.seg, off: Math.min(ack.off, sizes.get(ack.seg) ?? 0) };
  let pending = 0;
  for (const [seg, size] of sizes)
    pending += await countLines(path.join(dir, segName(seg)), seg === ack.seg ? ack.off : 0, size);
  return { ack, activeSeg: last ?? ack.seg, sizes, pending };
}

/** Truncates anything after the last newline; returns the new size. */
async function cutTornTail(file: string, size: number): Promise<number> {
  if (size === 0) return 0;
  const h = await fsp.open(file, 'r+');
  try {
    const buf = Buffer.allocUnsafe(64 * 1024);
    let end = size;
    while (end > 0) {
      const from = Math.max(0, end - buf.length);
      const { bytesRead } = await h.read(buf, 0, end - from, from);
      const i = buf.subarray(0, bytesRead).lastIndexOf(NL);
      if (i !== -1) {
        const keep = from + i + 1;
        if (keep < size) {
          await h.truncate(keep);
          await h.sync();
        }
        return keep;
      }
      end = from;
    }
    await h.truncate(0);
    await h.sync();
    return 0;
  } finally {
    await h.close();
  }
}

async function countLines(file: string, from: number, to: number): Promise<number> {
  if (to <= from) return 0;
  let n = 0;
  const stream = fs.createReadStream(file, { start: from, end: to - 1, highWaterMark: READ_CHUNK });
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    for (let i = chunk.indexOf(NL); i !== -1; i = chunk.indexOf(NL, i + 1)) n++;
  }
  return n;
}
