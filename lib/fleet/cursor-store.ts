/**
 * Durable per-device cursors: one small JSON file per device under `dir`.
 *
 * One file per device (rather than one file for the fleet) keeps every save small and independent: saving
 * device 120 does not rewrite the other 119, and a torn or damaged file costs one device's cursor, not all.
 * Writes are atomic (temporary file, fsync, rename, then a best-effort fsync of the directory), so after a
 * crash a file holds either the old cursor or the new one, never half of each.
 *
 * A file that cannot be parsed is moved aside (`<name>.corrupt-<time>`, kept for inspection), reported
 * through the logger, and that device starts fresh: its next poll emits the whole log again. We choose
 * repeats over gaps because every write downstream is idempotent on the record id (docs/architecture.md §1).
 */
import * as fs from 'fs';
import * as path from 'path';
import { DeviceCursor, isDeviceCursor } from './cursor';
import { replaceFile } from '../files/durable';

export type StoreLogger = (level: 'warn' | 'info', message: string) => void;

interface CursorFile {
  version: 1;
  key: string;
  cursor: DeviceCursor;
}

/** Makes a key safe as a file name on every platform (':' and '[' are not allowed on Windows). */
export function cursorFileName(key: string): string {
  return key.replace(/[^A-Za-z0-9._-]/g, (c) => '%' + c.charCodeAt(0).toString(16).padStart(2, '0')) + '.json';
}

let tmpCounter = 0;

export class CursorStore {
  private readonly cache = new Map<string, DeviceCursor | null>();
  /** Saves of one key are chained so an older cursor can never overwrite a newer one. */
  private readonly writes = new Map<string, Promise<void>>();

  constructor(
    readonly dir: string,
    private readonly logger: StoreLogger = () => undefined,
  ) {
    this.removeStaleTemporaries();
  }

  /** The saved cursor, or null (never saved, or unreadable: see the class comment). */
  get(key: string): DeviceCursor | null {
    if (this.cache.has(key)) return this.cache.get(key) ?? null;
    const cursor = this.load(key);
    this.cache.set(key, cursor);
    return cursor;
  }

  /**
   * Saves atomically; resolves once the cursor is on disk. `lagging`: a save that may be taken back by a
   * power loss (the old cursor comes back, never a torn one), for callers whose cursor may lag anyway
   * (zk-live's lazy saves): one fsync instead of two.
   */
  set(key: string, cursor: DeviceCursor, lagging = false): Promise<void> {
    const copy: DeviceCursor = { ...cursor, idsAtLast: [...cursor.idsAtLast] };
    this.cache.set(key, copy);
    const prev = this.writes.get(key) ?? Promise.resolve();
    const next = prev.catch(() => undefined).then(() => this.write(key, copy, lagging));
    this.writes.set(key, next);
    void next
      .finally(() => {
        if (this.writes.get(key) === next) this.writes.delete(key);
      })
      .catch(() => undefined);
    return next;
  }

  /** Forgets a device's cursor (the next poll emits its whole log). */
  async delete(key: string): Promise<void> {
    this.cache.set(key, null);
    await (this.writes.get(key) ?? Promise.resolve()).catch(() => undefined);
    await fs.promises.rm(this.fileFor(key), { force: true });
  }

  /** Resolves when every save started so far has finished (used on close). */
  async flush(): Promise<void> {
    await Promise.all([...this.writes.values()].map((p) => p.catch(() => undefined)));
  }

  private fileFor(key: string): string {
    return path.join(this.dir, cursorFileName(key));
  }

  private load(key: string): DeviceCursor | null {
    const file = this.fileFor(key);
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      this.logger(
        'warn',
        `cursor for ${key}: cannot read ${file} (${(err as Error).message}); polling it from the start`,
      );
      return null;
    }
    try {
      const parsed = JSON.parse(text) as Partial<CursorFile>;
      if (parsed && parsed.key === key && isDeviceCursor(parsed.cursor)) return parsed.cursor;
      throw new Error('not a cursor file for this device');
    } catch (err) {
      const aside = `${file}.corrupt-${Date.now()}`;
      try {
        fs.renameSync(file, aside);
      } catch {
        // Leaving it in place is fine: the next save replaces it.
      }
      this.logger(
        'warn',
        `cursor for ${key}: ${file} is damaged (${(err as Error).message}); moved to ${path.basename(aside)}, polling the device from the start (records may repeat, none are lost)`,
      );
      return null;
    }
  }

  private async write(key: string, cursor: DeviceCursor, lagging: boolean): Promise<void> {
    await fs.promises.mkdir(this.dir, { recursive: true });
    const file = this.fileFor(key);
    const tmp = `${file}.${process.pid}.${++tmpCounter}.tmp`;
    const body: CursorFile = { version: 1, key, cursor };
    await replaceFile(file, JSON.stringify(body), { tmp, mode: 0o600, syncDir: !lagging });
  }

  /**
   * Temporary files left by a crash between write and rename are never valid cursors. Only old ones go: a
   * young one may belong to a save still running in a node that is being replaced by a redeploy.
   */
  private removeStaleTemporaries(): void {
    try {
      const cutoff = Date.now() - 60_000;
      for (const name of fs.readdirSync(this.dir)) {
        if (!name.endsWith('.tmp')) continue;
        const full = path.join(this.dir, name);
        if (fs.statSync(full).mtimeMs < cutoff) fs.rmSync(full, { force: true });
      }
    } catch {
      // The directory does not exist yet: created on the first save.
    }
  }
}
