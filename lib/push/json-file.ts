/**
 * A small JSON state file replaced atomically (lib/files/durable), so a crash leaves the old or the new
 * version, never half of one. Used for zk-push's device state (stamps, command ids, queued commands).
 */
import { promises as fsp } from 'fs';
import * as path from 'path';
import { replaceFile } from '../files/durable';

export async function readJsonFile(file: string): Promise<unknown> {
  try {
    return JSON.parse(await fsp.readFile(file, 'utf8')) as unknown;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    // A corrupt file cannot come from our own writes (rename is atomic): keep it aside for diagnosis.
    await fsp.rename(file, `${file}.corrupt-${Date.now()}`).catch(() => undefined);
    return null;
  }
}

export async function writeJsonFile(file: string, value: unknown): Promise<void> {
  await fsp.mkdir(path.dirname(file), { recursive: true });
  await replaceFile(file, JSON.stringify(value));
}
