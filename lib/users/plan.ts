/**
 * The difference between a master list and one device's user table: which users to add, update, disable
 * or delete. Pure, so a dry run and the real run compute the same thing, and a second run over an equal
 * table plans nothing (no write is sent).
 */
import type { MasterUser } from './master-list';
import type { DeviceUser, UserWrite } from './types';

/** What happens to device users that are not in the list. */
export type MissingPolicy = 'disable' | 'leave' | 'delete';
export const MISSING_POLICIES: readonly MissingPolicy[] = ['disable', 'leave', 'delete'];

export type SyncAction = 'add' | 'update' | 'disable' | 'delete';

export interface PlannedChange {
  userId: string;
  action: SyncAction;
  /** Fields that differ (update/disable), e.g. ['name', 'cardNo']. */
  fields: string[];
}

export interface SyncPlan {
  /** Everything written in one upsert: adds, updates and disables (each with only what it changes). */
  writes: UserWrite[];
  deletes: string[];
  changes: PlannedChange[];
  unchanged: string[];
}

/** Level bits of the raw privilege byte (bit 0 is "disabled"). */
export const levelOf = (raw: number): number => raw & 0x0e;

/** Managed fields of `m` that differ from the device's `d`. */
export function differingFields(m: MasterUser, d: DeviceUser): string[] {
  const f: string[] = [];
  if (m.name !== undefined && m.name !== d.name) f.push('name');
  if (m.cardNo !== undefined && m.cardNo !== d.cardNo) f.push('cardNo');
  if (m.privilege !== undefined && m.privilege !== levelOf(d.privilege)) f.push('privilege');
  if (m.enabled !== d.enabled) f.push('enabled');
  if (m.password !== undefined && m.password !== d.password) f.push('password');
  if (m.group !== undefined && m.group !== d.group) f.push('group');
  return f;
}

function toWrite(m: MasterUser): UserWrite {
  const w: UserWrite = { userId: m.userId, enabled: m.enabled };
  if (m.name !== undefined) w.name = m.name;
  if (m.cardNo !== undefined) w.cardNo = m.cardNo;
  if (m.privilege !== undefined) w.privilege = m.privilege;
  if (m.password !== undefined) w.password = m.password;
  if (m.group !== undefined) w.group = m.group;
  return w;
}

export function planSync(master: MasterUser[], device: DeviceUser[], missing: MissingPolicy): SyncPlan {
  const plan: SyncPlan = { writes: [], deletes: [], changes: [], unchanged: [] };
  const onDevice = new Map(device.map((d) => [d.userId, d]));
  const listed = new Set<string>();
  for (const m of master) {
    listed.add(m.userId);
    const d = onDevice.get(m.userId);
    if (!d) {
      plan.writes.push(toWrite(m));
      plan.changes.push({ userId: m.userId, action: 'add', fields: [] });
      continue;
    }
    const fields = differingFields(m, d);
    if (fields.length === 0) {
      plan.unchanged.push(m.userId);
      continue;
    }
    plan.writes.push(toWrite(m));
    plan.changes.push({ userId: m.userId, action: 'update', fields });
  }
  for (const d of device) {
    if (listed.has(d.userId)) continue;
    if (missing === 'delete') {
      plan.deletes.push(d.userId);
      plan.changes.push({ userId: d.userId, action: 'delete', fields: [] });
    } else if (missing === 'disable' && d.enabled) {
      plan.writes.push({ userId: d.userId, enabled: false });
      plan.changes.push({ userId: d.userId, action: 'disable', fields: ['enabled'] });
    } else plan.unchanged.push(d.userId);
  }
  return plan;
}
