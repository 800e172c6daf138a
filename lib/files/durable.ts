/**
 * Durable small-file writes shared by the cursor store, the outbox's ack and zk-push's state: a file is
 * replaced whole (tmp + fsync + rename + directory fsync), so after a crash it holds the old or the new
 * content, never half of one.
 */
import { promises as fsp } from 'fs';
import * as path from 'path';

/** Makes a created or renamed entry durable; some platforms (Windows) cannot open a directory: best effort. */
export async function fsyncDir(dir: string): Promise<void> {
  let h: fsp.FileHandle | undefined;
  try {
    h = await fsp.open(dir, 'r');
    await h.sync();
  } catch {
    /* not supported here */
  } finally {
    await h?.close().catch(() => undefined);
  }
}

export interface ReplaceOptions {
  /** Temporary file to write first; default `<file>.tmp`. Pass a unique name when two writers may overlap. */
  tmp?: string;
  /** File mode of a new file (default 0o666 minus umask). */
  mode?: number;
  /**
   * Fsync the directory after the rename (default true). Without it a power loss may bring back the old
   * content, never a torn one (the data is synced before the rename): enough for a file that may lag.
   */
  syncDir?: boolean;
}

/** Replaces `file` with `data` atomically and durably; the temporary file is removed if the rename fails. */
export async function replaceFile(file: string, data: string, opts: ReplaceOptions = {}): Promise<void> {
  const tmp = opts.tmp ?? `${file}.tmp`;
  const h = await fsp.open(tmp, 'w', opts.mode);
  try {
    await h.writeFile(data);
    await h.sync();
  } finally {
    await h.close();
  }
  try {
    await fsp.rename(tmp, file);
  } catch (err) {
    await fsp.rm(tmp, { force: true });
    throw err;
  }
  if (opts.syncDir !== false) await fsyncDir(path.dirname(file));
}
