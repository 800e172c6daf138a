/**
 * Fingerprint template backup and copy. Templates are biometric data: a backup file is created with mode
 * 0600 in a 0700 directory and replaced atomically, in the same format as the CLI's backups. Template bytes
 * are opaque: stored as base64 and written back byte for byte. Face templates are not covered.
 */
import { promises as fsp } from 'fs';
import * as path from 'path';
import { ZkError } from '../errors';
import { readTemplateBackup, writeTemplateBackup } from '../files/template-backup';
import type { SyncFailure } from './sync';
import type { DeviceUser, FingerTemplate, TemplateDevice } from './types';

export interface TemplateCopyReport {
  copied: string[];
  unchanged: string[];
  failed: SyncFailure[];
}

/** userId → that user's templates, finger order. */
export type TemplateSet = Map<string, FingerTemplate[]>;

export function groupTemplates(list: FingerTemplate[]): TemplateSet {
  const out: TemplateSet = new Map();
  for (const t of list) {
    const l = out.get(t.userId) ?? [];
    l.push(t);
    out.set(t.userId, l);
  }
  for (const l of out.values()) l.sort((a, b) => a.finger - b.finger);
  return out;
}

/** A safe file name for a device's backup: serial, else host:port. */
export function backupFileName(device: { serial: string | null; host: string }): string {
  return `${(device.serial ?? device.host).replace(/[^A-Za-z0-9_.-]/g, '_')}.json`;
}

/**
 * Saves a device's templates (and the users they belong to, so a restore can create them) as
 * `<dir>/<serial>.json` in the format `zk templates backup` writes (lib/files/template-backup); returns the path.
 */
export async function saveBackup(
  dir: string,
  device: { serial: string | null; host: string },
  users: DeviceUser[],
  templates: FingerTemplate[],
): Promise<string> {
  await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
  const file = path.join(dir, backupFileName(device));
  const owners = new Set(templates.map((t) => t.userId));
  await writeTemplateBackup(file, {
    device,
    savedAt: new Date().toISOString(),
    users: users.filter((u) => owners.has(u.userId)),
    templates,
  });
  return file;
}

/** The templates of a backup file (either writer's), grouped by user. */
export async function loadBackup(file: string): Promise<TemplateSet> {
  return groupTemplates((await readTemplateBackup(file)).templates);
}

/** Every template of `want` is on the device byte-equal (other fingers there are left as they are). */
const alreadyHeld = (want: FingerTemplate[], held: FingerTemplate[]): boolean =>
  want.every((t) => held.some((h) => h.finger === t.finger && h.flag === t.flag && h.data.equals(t.data)));

/**
 * Copies `source` (all users, or `only`) to `target`. Users whose templates are already byte-equal there are
 * left alone; a user missing on the target fails with a reason (sync the users first).
 */
export async function copyTemplates(
  source: TemplateSet,
  target: TemplateDevice,
  only: string[] | null,
): Promise<TemplateCopyReport> {
  const report: TemplateCopyReport = { copied: [], unchanged: [], failed: [] };
  const ids = only ?? [...source.keys()];
  const present = new Set((await target.users()).map((u) => u.userId));
  const existing = groupTemplates(await target.templates());
  const todo: [string, FingerTemplate[]][] = [];
  for (const userId of ids) {
    const ts = source.get(userId);
    if (!ts || ts.length === 0) {
      report.failed.push({ userId, reason: 'has no templates on the source' });
      continue;
    }
    if (!present.has(userId)) {
      report.failed.push({ userId, reason: 'is not on this device: sync the users first, then copy the templates' });
      continue;
    }
    if (alreadyHeld(ts, existing.get(userId) ?? [])) {
      report.unchanged.push(userId);
      continue;
    }
    todo.push([userId, ts]);
  }
  if (target.writeTemplates && todo.length > 0) {
    // One write window for every user (the device is disabled once), each template read back by the client.
    const r = await target.writeTemplates(todo.flatMap(([userId, ts]) => ts.map((t) => ({ ...t, userId }))));
    const bad = new Map<string, string>();
    for (const f of r.failed) if (!bad.has(f.userId)) bad.set(f.userId, `finger ${f.finger}: ${f.reason}`);
    for (const [userId] of todo) {
      const reason = bad.get(userId);
      if (reason) report.failed.push({ userId, reason });
      else report.copied.push(userId);
    }
    return report;
  }
  for (const [userId, ts] of todo) {
    try {
      await target.setUserTemplates(userId, ts);
      report.copied.push(userId);
    } catch (err) {
      // A lost link fails every later user too: end this device here, as a device failure.
      if (err instanceof ZkError && (err.code === 'CONNECTION' || err.code === 'TIMEOUT')) throw err;
      report.failed.push({ userId, reason: (err as Error).message });
    }
  }
  return report;
}
