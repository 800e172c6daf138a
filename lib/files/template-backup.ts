/**
 * Fingerprint template backup files: one JSON document with the users (so a restore can create them on a
 * device that lacks them) and their templates as base64. They hold biometric data and device passwords, so
 * they are always written with mode 0600 (owner read/write only).
 */
import { promises as fsp } from 'fs';
import { replaceFile } from './durable';
import type { DeviceUser } from '../protocol/users';
import type { FingerTemplate } from '../protocol/templates';

export const TEMPLATE_BACKUP_FORMAT = 'punchflow-fingerprints';
export const TEMPLATE_BACKUP_MODE = 0o600;

export interface TemplateBackup {
  /** Where it came from (host:port and serial), for people reading the file. */
  device: { host: string; serial: string | null };
  savedAt: string;
  users: DeviceUser[];
  /** uid is the source device's slot: a restore matches users by userId. */
  templates: FingerTemplate[];
}

interface BackupFile {
  format: string;
  version: number;
  device: { host: string; serial: string | null };
  savedAt: string;
  users: DeviceUser[];
  templates: { userId: string; uid: number; finger: number; flag: number; data: string }[];
}

export function encodeTemplateBackup(b: TemplateBackup): string {
  const file: BackupFile = {
    format: TEMPLATE_BACKUP_FORMAT,
    version: 1,
    device: b.device,
    savedAt: b.savedAt,
    users: b.users,
    templates: b.templates.map((t) => ({
      userId: t.userId,
      uid: t.uid,
      finger: t.finger,
      flag: t.flag,
      data: t.data.toString('base64'),
    })),
  };
  return JSON.stringify(file, null, 1) + '\n';
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** Parses a backup; throws an Error naming the file and the first thing wrong with it. */
export function decodeTemplateBackup(text: string, name = 'the backup file'): TemplateBackup {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw new Error(`${name} is not JSON (${(err as Error).message}); is it a fingerprint backup?`);
  }
  const f = v as Partial<BackupFile> | null;
  if (!f || typeof f !== 'object' || f.format !== TEMPLATE_BACKUP_FORMAT) {
    throw new Error(`${name} is not a fingerprint backup (no "format": "${TEMPLATE_BACKUP_FORMAT}")`);
  }
  if (f.version !== 1) throw new Error(`${name} has backup version ${String(f.version)}; this version reads version 1`);
  if (!Array.isArray(f.users) || !Array.isArray(f.templates))
    throw new Error(`${name} has no "users" and "templates" lists`);
  const users: DeviceUser[] = f.users.map((u, i) => {
    if (!u || typeof u !== 'object' || typeof u.userId !== 'string')
      throw new Error(`${name}: users[${i}] has no userId`);
    return u;
  });
  const templates = f.templates.map((t, i): FingerTemplate => {
    if (
      !t ||
      typeof t !== 'object' ||
      typeof t.userId !== 'string' ||
      typeof t.data !== 'string' ||
      !BASE64.test(t.data)
    ) {
      throw new Error(`${name}: templates[${i}] needs a userId and base64 data`);
    }
    return {
      userId: t.userId,
      uid: Number(t.uid) || 0,
      finger: t.finger,
      flag: t.flag,
      data: Buffer.from(t.data, 'base64'),
    };
  });
  return { device: f.device ?? { host: '', serial: null }, savedAt: String(f.savedAt ?? ''), users, templates };
}

/** Writes the backup whole (tmp + rename), mode 0600 even when the file existed with a wider mode. */
export async function writeTemplateBackup(file: string, b: TemplateBackup): Promise<void> {
  await replaceFile(file, encodeTemplateBackup(b), { mode: TEMPLATE_BACKUP_MODE, tmp: `${file}.${process.pid}.tmp` });
  await fsp.chmod(file, TEMPLATE_BACKUP_MODE);
}

export async function readTemplateBackup(file: string): Promise<TemplateBackup> {
  return decodeTemplateBackup(await fsp.readFile(file, 'utf8'), file);
}
