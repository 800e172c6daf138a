/**
 * One device's sync: read its users, plan, write the plan (one upsert window, then one delete window, each
 * read back by the client), then read the table again and check every listed user against the list. A
 * write the device acknowledged but did not keep ends up in `failed`, never in `added`/`updated`.
 */
import type { MasterUser } from './master-list';
import { MissingPolicy, PlannedChange, differingFields, planSync } from './plan';
import type { UserDevice } from './types';

export interface SyncFailure {
  userId: string;
  reason: string;
}

export interface DeviceSyncReport {
  added: string[];
  updated: string[];
  disabled: string[];
  deleted: string[];
  unchanged: string[];
  failed: SyncFailure[];
  dryRun: boolean;
  /** Dry run: what would change, with the fields that differ. */
  changes?: PlannedChange[];
}

export interface SyncOptions {
  missing: MissingPolicy;
  dryRun?: boolean;
  onProgress?: (done: number, total: number) => void;
}

export function emptyReport(dryRun: boolean): DeviceSyncReport {
  return { added: [], updated: [], disabled: [], deleted: [], unchanged: [], failed: [], dryRun };
}

export async function syncDevice(dev: UserDevice, master: MasterUser[], opts: SyncOptions): Promise<DeviceSyncReport> {
  const before = await dev.users();
  const plan = planSync(master, before, opts.missing);
  const report = emptyReport(opts.dryRun === true);
  report.unchanged = plan.unchanged;
  const bucket = (c: PlannedChange): string[] =>
    c.action === 'add'
      ? report.added
      : c.action === 'update'
        ? report.updated
        : c.action === 'disable'
          ? report.disabled
          : report.deleted;
  if (opts.dryRun) {
    for (const c of plan.changes) bucket(c).push(c.userId);
    report.changes = plan.changes;
    return report;
  }
  const failed = new Map<string, string>();
  if (plan.writes.length > 0) {
    const r = await dev.upsertUsers(plan.writes, { onProgress: opts.onProgress });
    for (const f of r.failed) failed.set(f.userId, f.reason);
  }
  if (plan.deletes.length > 0) {
    const r = await dev.deleteUsers(plan.deletes);
    for (const f of r.failed) failed.set(f.userId, f.reason);
  }
  if (plan.changes.length > 0) {
    // The client read back each write; this read proves the whole table against the list, once.
    const after = new Map((await dev.users()).map((u) => [u.userId, u]));
    for (const m of master) {
      if (failed.has(m.userId)) continue;
      const d = after.get(m.userId);
      if (!d)
        failed.set(
          m.userId,
          'not on the device after the sync (the device acknowledged the write but did not keep it: run the sync again or restart the device)',
        );
      else {
        const fields = differingFields(m, d);
        if (fields.length > 0)
          failed.set(
            m.userId,
            `${fields.join(', ')} not kept by the device after the sync (run the sync again or restart the device)`,
          );
      }
    }
    for (const id of plan.deletes)
      if (!failed.has(id) && after.has(id))
        failed.set(id, 'still on the device after the delete (run the sync again or restart the device)');
    const listed = new Set(master.map((m) => m.userId));
    for (const w of plan.writes) {
      if (w.enabled !== false || failed.has(w.userId) || listed.has(w.userId)) continue;
      if (after.get(w.userId)?.enabled !== false)
        failed.set(w.userId, 'still enabled on the device after the sync (run the sync again or restart the device)');
    }
  }
  for (const c of plan.changes) if (!failed.has(c.userId)) bucket(c).push(c.userId);
  report.failed = [...failed].map(([userId, reason]) => ({ userId, reason }));
  return report;
}
