/**
 * Fingerprint template backup and copy. Templates are biometric data: a backup file is created with mode
 * 0600 in a 0700 directory and replaced atomically. Template bytes are opaque: stored as base64 and written
 * back byte for byte. Face templates are not covered (the protocol moves them differently).
 */
import { promises as fsp } from 'fs';
import * as path from 'path';
import { ZkError } from '../errors';
import { replaceFile } from '../files/durable';
import type { SyncFailure } from './sync';
import type { FingerTemplate, TemplateDevice } from './types';

export const BACKUP_FORMAT = 'punchflow-templates';

export interface BackupTemplate {
  finger: number;
  flag: number;
  /** base64 of the opaque template bytes. */
  data: string;
}

export interface TemplateBackup {
  format: typeof BACKUP_FORMAT;
  version: 1;
  device: { serial: string | null; host: string; name: string | null };
  takenAt: string;
  users: { userId: string; templates: BackupTemplate[] }[];
}

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

export function toBackup(set: TemplateSet, device: TemplateBackup['device'], takenAt = new Date()): TemplateBackup {
  return {
    format: BACKUP_FORMAT,
    version: 1,
    device,
    takenAt: takenAt.toISOString(),
    users: [...set].map(([userId, ts]) => ({ userId, templates: ts.map((t) => ({ finger: t.finger, flag: t.flag, data: t.data.toString('base64') })) })),
  };
}

/** Templates of a backup; `uid` is 0 because the target device's slot is found by userId when writing. */
export function fromBackup(b: TemplateBackup): TemplateSet {
  const out: TemplateSet = new Map();
  for (const u of b.users) out.set(u.userId, u.templates.map((t) => ({ userId: u.userId, uid: 0, finger: t.finger, flag: t.flag, data: Buffer.from(t.data, 'base64') })));
  return out;
}

/** A safe file name for a device's backup: serial, else host:port. */
export function backupFileName(device: TemplateBackup['device']): string {
  return `${(device.serial ?? device.host).replace(/[^A-Za-z0-9_.-]/g, '_')}.json`;
}

/** Writes `b` into `dir` (created 0700) as a 0600 file; returns its path. */
export async function writeBackup(dir: string, b: TemplateBackup): Promise<string> {
  await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
  const file = path.join(dir, backupFileName(b.device));
  await replaceFile(file, JSON.stringify(b), { mode: 0o600 });
  // A file that existed before keeps its mode through rename of a new one; this also covers a lax umask.
  await fsp.chmod(file, 0o600);
  return file;
}

/** Reads and checks a backup file; errors name the file and what is wrong. */
export async function readBackup(file: string): Promise<TemplateBackup> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await fsp.readFile(file, 'utf8'));
  } catch (err) {
    throw new Error(`template backup ${file}: ${(err as Error).message}`);
  }
  const b = parsed as Partial<TemplateBackup> | null;
  if (!b || b.format !== BACKUP_FORMAT || b.version !== 1 || !Array.isArray(b.users)) {
    throw new Error(`template backup ${file}: not a PunchFlow template backup (format "${BACKUP_FORMAT}", version 1)`);
  }
  b.users.forEach((u, i) => {
    const ok = u && typeof u.userId === 'string' && Array.isArray(u.templates) &&
      u.templates.every((t) => Number.isInteger(t.finger) && t.finger >= 0 && t.finger <= 9 && Number.isInteger(t.flag) && typeof t.data === 'string' && t.data.length > 0);
    if (!ok) throw new Error(`template backup ${file}: users[${i}] is damaged (userId, and templates with finger 0-9, flag and data)`);
  });
  return b as TemplateBackup;
}

/** Every template of `want` is on the device byte-equal (other fingers there are left as they are). */
const alreadyHeld = (want: FingerTemplate[], held: FingerTemplate[]): boolean =>
  want.every((t) => held.some((h) => h.finger === t.finger && h.flag === t.flag && h.data.equals(t.data)));

/**
 * Copies `source` (all users, or `only`) to `target`. Users whose templates are already byte-equal there are
 * left alone; a user missing on the target fails with a reason (sync the users first).
 */
export async function copyTemplates(source: TemplateSet, target: TemplateDevice, only: string[] | null): Promise<TemplateCopyReport> {
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
