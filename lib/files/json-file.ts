/**
 * A small JSON state file replaced atomically (lib/files/durable), so a crash leaves the old or the new
 * version, never half of one. Used for zk-push's device state and the Access target's parked punches.
 */
import { promises as fsp } from 'fs';
import * as path from 'path';
import { replaceFile } from './durable';

/**
 * The parsed file, or null when there is none; one that is not JSON is moved aside (and `onCorrupt` told
 * where). A file that cannot be read (permissions, a directory in its place) throws: its content may be fine.
 */
export async function readJsonFile(file: string, onCorrupt?: (movedTo: string) => void): Promise<unknown> {
  let text: string;
  try {
    text = await fsp.readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    // A corrupt file cannot come from our own writes (rename is atomic): keep it aside for diagnosis.
    const aside = `${file}.corrupt-${Date.now()}`;
    await fsp.rename(file, aside).catch(() => undefined);
    onCorrupt?.(aside);
    return null;
  }
}

export async function writeJsonFile(file: string, value: unknown): Promise<void> {
  await fsp.mkdir(path.dirname(file), { recursive: true });
  await replaceFile(file, JSON.stringify(value));
}
