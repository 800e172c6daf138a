/**
 * `zk users set|sync|delete` and `zk templates backup|restore`: user and fingerprint writes from the command
 * line. Each prints one summary per device (or one JSON object with --json) and exits 1 when anything failed.
 */
import { promises as fsp } from 'node:fs';
import type { UsersCommand, TemplatesCommand } from '../lib/cli/args';
import type { DeviceUser, UserWrite, UserWriteFailure } from '../lib/protocol/users';
import type { FingerTemplate } from '../lib/protocol/templates';
import { readTemplateBackup, writeTemplateBackup } from '../lib/files/template-backup';
import { ndjsonLine } from '../lib/cli/format';
import { CliIo, clientFor, withClient, write } from './commands';

const USER_KEYS = ['userId', 'name', 'password', 'cardNo', 'card', 'group', 'privilege', 'enabled'];

/** One entry of a users file as a UserWrite; an Error naming the file, the entry and the field otherwise. */
function toUserWrite(v: unknown, where: string): UserWrite {
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new Error(`${where} is not an object with a userId`);
  const o = v as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (!USER_KEYS.includes(k))
      throw new Error(`${where} has an unknown field "${k}" (known: ${USER_KEYS.join(', ')})`);
  }
  // HR exports often carry numeric PINs: 1001 and "1001" are the same PIN.
  const userId =
    typeof o.userId === 'number' && Number.isSafeInteger(o.userId) && o.userId >= 0 ? String(o.userId) : o.userId;
  if (typeof userId !== 'string') throw new Error(`${where} needs a userId (the PIN) as a string`);
  if (o.card !== undefined && o.cardNo !== undefined)
    throw new Error(`${where} has both "card" and "cardNo"; keep one`);
  const u: UserWrite = { userId };
  const card = o.cardNo ?? o.card;
  if (o.name !== undefined) u.name = o.name as string;
  if (o.password !== undefined) u.password = o.password as string;
  if (card !== undefined) u.cardNo = card as number;
  if (o.group !== undefined) u.group = o.group as number;
  if (o.privilege !== undefined) u.privilege = o.privilege as number;
  if (o.enabled !== undefined) u.enabled = o.enabled as boolean;
  return u;
}

/** A JSON array, or one JSON object per line. */
export async function readUsersFile(file: string): Promise<UserWrite[]> {
  const text = await fsp.readFile(file, 'utf8');
  const trimmed = text.trim();
  if (trimmed === '') return [];
  if (trimmed.startsWith('[')) {
    let list: unknown;
    try {
      list = JSON.parse(trimmed);
    } catch (err) {
      throw new Error(`${file} is not valid JSON: ${(err as Error).message}`);
    }
    return (list as unknown[]).map((v, i) => toUserWrite(v, `${file}: entry ${i + 1}`));
  }
  const out: UserWrite[] = [];
  text.split(/\r?\n/).forEach((line, i) => {
    if (line.trim() === '') return;
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch (err) {
      throw new Error(
        `${file} line ${i + 1} is not JSON (${(err as Error).message}); write a JSON array or one JSON object per line`,
      );
    }
    out.push(toUserWrite(v, `${file} line ${i + 1}`));
  });
  return out;
}

interface UsersReport {
  device: string;
  dryRun: boolean;
  added: string[];
  updated: string[];
  disabled: string[];
  deleted: string[];
  unchanged: number;
  notFound: string[];
  failed: { userId: string; code: string; reason: string }[];
}

function emptyReport(device: string, dryRun: boolean): UsersReport {
  return { device, dryRun, added: [], updated: [], disabled: [], deleted: [], unchanged: 0, notFound: [], failed: [] };
}

function fail(r: UsersReport, list: UserWriteFailure[]): void {
  for (const f of list) r.failed.push({ userId: f.userId, code: f.code, reason: f.reason });
}

async function printUsersReport(io: CliIo, r: UsersReport, json: boolean): Promise<number> {
  if (json) {
    await write(io.stdout, ndjsonLine(r));
  } else {
    const verb = r.dryRun ? 'would change (dry run, nothing written): ' : '';
    const parts = [
      `added ${r.added.length}`,
      `updated ${r.updated.length}`,
      `disabled ${r.disabled.length}`,
      `deleted ${r.deleted.length}`,
      `unchanged ${r.unchanged}`,
      `failed ${r.failed.length}`,
    ];
    if (r.notFound.length > 0) parts.push(`not found ${r.notFound.length}`);
    let text = `${r.device}: ${verb}${parts.join(', ')}\n`;
    const show = (label: string, ids: string[]): void => {
      if (ids.length > 0)
        text += `  ${label}: ${ids.slice(0, 50).join(', ')}${ids.length > 50 ? ` … (${ids.length})` : ''}\n`;
    };
    show('added', r.added);
    show('updated', r.updated);
    show('disabled', r.disabled);
    show('deleted', r.deleted);
    show('not found', r.notFound);
    for (const f of r.failed) text += `  failed ${f.userId}: ${f.reason}\n`;
    await write(io.stdout, text);
  }
  return r.failed.length > 0 ? 1 : 0;
}

export async function runUserWrite(o: UsersCommand, io: CliIo): Promise<number> {
  const w = o.write;
  if (!w) throw new Error('zk users: no write action');
  const list = w.file !== null ? await readUsersFile(w.file) : [];
  const client = clientFor(o);
  const report = await withClient(client, io, async (c) => {
    const r = emptyReport(client.label, w.dryRun);
    if (w.action === 'delete') {
      if (w.dryRun) {
        const have = new Set((await c.users()).map((u) => u.userId));
        for (const id of w.userIds) (have.has(id) ? r.deleted : r.notFound).push(id);
        return r;
      }
      const d = await c.deleteUsers(w.userIds);
      r.deleted = d.deleted;
      r.notFound = d.notFound;
      fail(r, d.failed);
      return r;
    }
    const before = await c.users();
    const existing = new Map(before.map((u) => [u.userId, u]));
    const listed = new Set(list.map((u) => u.userId));
    const missing = w.action === 'sync' ? before.filter((u) => !listed.has(u.userId)) : [];
    const toDelete = w.deleteMissing ? missing : [];
    const toDisable = w.deleteMissing ? [] : missing.filter((u) => u.enabled);
    r.unchanged += missing.length - toDelete.length - toDisable.length;
    const writes: UserWrite[] = [...list, ...toDisable.map((u) => ({ userId: u.userId, enabled: false }))];
    const disabling = new Set(toDisable.map((u) => u.userId));
    const classify = (u: DeviceUser): void => {
      if (disabling.has(u.userId)) r.disabled.push(u.userId);
      else if (existing.has(u.userId)) r.updated.push(u.userId);
      else r.added.push(u.userId);
    };
    if (w.dryRun) {
      const plan = await c.planUsers(writes);
      plan.add.forEach(classify);
      plan.update.forEach((x) => classify(x.user));
      r.unchanged += plan.unchanged.length;
      fail(r, plan.failed);
      r.deleted = toDelete.map((u) => u.userId);
      return r;
    }
    const up = await c.upsertUsers(writes);
    up.written.forEach(classify);
    r.unchanged += up.unchanged?.length ?? 0;
    fail(r, up.failed);
    if (toDelete.length > 0) {
      const d = await c.deleteUsers(toDelete.map((u) => u.userId));
      r.deleted = d.deleted;
      fail(r, d.failed);
    }
    return r;
  });
  return printUsersReport(io, report, o.json);
}

// ---- templates ----

export async function runTemplates(o: TemplatesCommand, io: CliIo): Promise<number> {
  return o.action === 'backup' ? backup(o, io) : restore(o, io);
}

async function backup(o: TemplatesCommand, io: CliIo): Promise<number> {
  const client = clientFor(o);
  const { users, templates, serial } = await withClient(client, io, async (c) => {
    const serialNumber = await c.option('~SerialNumber').catch(() => null);
    return { users: await c.users(), templates: await c.templates(), serial: serialNumber };
  });
  const chosen = o.userId === null ? templates : templates.filter((t) => t.userId === o.userId);
  if (o.userId !== null && !users.some((u) => u.userId === o.userId)) {
    throw new Error(`${client.label} has no user "${o.userId}"`);
  }
  const owners = new Set(chosen.map((t) => t.userId));
  const savedUsers = users.filter((u) => owners.has(u.userId));
  await writeTemplateBackup(o.file, {
    device: { host: client.label, serial },
    savedAt: new Date().toISOString(),
    users: savedUsers,
    templates: chosen,
  });
  const summary = {
    device: client.label,
    file: o.file,
    users: savedUsers.length,
    templates: chosen.length,
    mode: '0600',
  };
  await write(
    io.stdout,
    o.json
      ? ndjsonLine(summary)
      : `${client.label}: saved ${chosen.length} fingerprint templates of ${savedUsers.length} users to ${o.file} ` +
          '(file mode 0600: it holds biometric data)\n',
  );
  return 0;
}

interface RestoreReport {
  device: string;
  file: string;
  dryRun: boolean;
  usersCreated: string[];
  written: number;
  unchanged: number;
  failed: { userId: string; finger: number | null; reason: string }[];
}

async function restore(o: TemplatesCommand, io: CliIo): Promise<number> {
  const b = await readTemplateBackup(o.file);
  const templates = o.userId === null ? b.templates : b.templates.filter((t) => t.userId === o.userId);
  if (o.userId !== null && templates.length === 0) throw new Error(`${o.file} has no templates of user "${o.userId}"`);
  const owners = new Set(templates.map((t) => t.userId));
  const client = clientFor(o);
  const report = await withClient(client, io, async (c): Promise<RestoreReport> => {
    const r: RestoreReport = {
      device: client.label,
      file: o.file,
      dryRun: o.dryRun,
      usersCreated: [],
      written: 0,
      unchanged: 0,
      failed: [],
    };
    const have = new Set((await c.users()).map((u) => u.userId));
    const create: UserWrite[] = b.users
      .filter((u) => owners.has(u.userId) && !have.has(u.userId))
      .map((u) => ({
        userId: u.userId,
        name: u.name,
        password: u.password,
        cardNo: u.cardNo,
        group: u.group,
        privilege: u.privilege & 0xfe,
        enabled: u.enabled,
      }));
    if (o.dryRun) {
      r.usersCreated = create.map((u) => u.userId);
      const current = new Map((await c.templates()).map((t) => [`${t.userId}/${t.finger}`, t]));
      for (const t of templates) {
        const now = current.get(`${t.userId}/${t.finger}`);
        if (now && now.flag === t.flag && now.data.equals(t.data)) r.unchanged++;
        else r.written++;
      }
      return r;
    }
    if (create.length > 0) {
      const up = await c.upsertUsers(create);
      r.usersCreated = up.written.map((u) => u.userId);
      for (const f of up.failed) r.failed.push({ userId: f.userId, finger: null, reason: f.reason });
    }
    const tw = await c.writeTemplates(templates as FingerTemplate[]);
    r.written = tw.written.length;
    r.unchanged = tw.unchanged.length;
    for (const f of tw.failed) r.failed.push({ userId: f.userId, finger: f.finger, reason: f.reason });
    return r;
  });
  if (o.json) {
    await write(io.stdout, ndjsonLine(report));
  } else {
    const verb = report.dryRun ? 'would write (dry run, nothing written)' : 'wrote';
    let text =
      `${report.device}: ${verb} ${report.written} fingerprint templates, ${report.unchanged} unchanged, ` +
      `${report.usersCreated.length} users created, ${report.failed.length} failed\n`;
    for (const f of report.failed)
      text += `  failed ${f.userId}${f.finger !== null ? ` finger ${f.finger}` : ''}: ${f.reason}\n`;
    await write(io.stdout, text);
  }
  return report.failed.length > 0 ? 1 : 0;
}
