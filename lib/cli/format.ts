/**
 * Output formats of the `zk` command line: NDJSON for records (CSV: lib/record/csv.ts), a table or JSON lines for users,
 * a readable summary for device info. Pure string building; the caller writes.
 */
import { DeviceUser } from '../protocol/users';

export function ndjsonLine(value: unknown): string {
  return JSON.stringify(value) + '\n';
}

/** A user as printed: the device password is a secret, so only whether one is set. */
export interface PrintableUser {
  uid: number;
  userId: string;
  name: string;
  privilege: number;
  enabled: boolean;
  cardNo: number;
  group: number;
  hasPassword: boolean;
}

export function printableUser(u: DeviceUser): PrintableUser {
  return {
    uid: u.uid,
    userId: u.userId,
    name: u.name,
    privilege: u.privilege,
    enabled: u.enabled,
    cardNo: u.cardNo,
    group: u.group,
    hasPassword: u.password !== '',
  };
}

/** Privilege bits 1–3 are the level (0 user, 1 enroller, 3 manager, 7 admin); others shown as numbers. */
export function privilegeLabel(p: number): string {
  const level = (p >> 1) & 7;
  return ({ 0: 'user', 1: 'enroller', 3: 'manager', 7: 'admin' } as Record<number, string>)[level] ?? `level ${level}`;
}

/** Columns padded to the widest cell; control characters in device text are shown as '?'. */
export function textTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  // eslint-disable-next-line no-control-regex -- control characters are what it replaces
  const clean = (s: string) => s.replace(/[\u0000-\u001f\u007f]/g, '?');
  const all = [header, ...rows].map((r) => r.map(clean));
  const widths = header.map((_, i) => Math.max(...all.map((r) => [...(r[i] ?? '')].length)));
  return (
    all
      .map((r) =>
        r
          .map((c, i) => (i === r.length - 1 ? c : c + ' '.repeat(widths[i] - [...c].length)))
          .join('  ')
          .trimEnd(),
      )
      .join('\n') + '\n'
  );
}

export function usersTable(users: readonly DeviceUser[]): string {
  return textTable(
    ['UID', 'USER ID', 'NAME', 'ROLE', 'ENABLED', 'CARD', 'GROUP', 'PASSWORD'],
    users.map((u) => [
      String(u.uid),
      u.userId,
      u.name,
      privilegeLabel(u.privilege),
      u.enabled ? 'yes' : 'no',
      u.cardNo ? String(u.cardNo) : '',
      String(u.group),
      u.password !== '' ? 'set' : '',
    ]),
  );
}

/** Minimal shape of the client's DeviceInfo that the summary reads; extra fields are ignored. */
export interface InfoLike {
  host: string;
  transport: string;
  serial: string | null;
  deviceName: string | null;
  platform: string | null;
  firmware: string | null;
  mac: string | null;
  vendor?: string | null;
  counts: { users: number; records: number; fingers: number; faces: number | null };
  capacity: { users: number; records: number; fingers: number; faces: number | null };
  deviceTime: string | null;
  clockDriftSec: number | null;
  tz: string;
}

function usage(used: number, cap: number | null): string {
  if (cap === null || cap <= 0) return String(used);
  return `${used} of ${cap} (${Math.round((used / cap) * 100)}%)`;
}

function drift(sec: number | null): string {
  if (sec === null) return 'unknown (the device sent an impossible time)';
  if (sec === 0) return 'in step';
  return `${Math.abs(sec)} s ${sec > 0 ? 'ahead of' : 'behind'} this computer`;
}

export function infoSummary(i: InfoLike): string {
  const dash = (v: string | null | undefined) => (v === null || v === undefined || v === '' ? '-' : v);
  const rows: [string, string][] = [
    ['Device', `${i.host} over ${i.transport.toUpperCase()}`],
    ['Serial', dash(i.serial)],
    ['Name', dash(i.deviceName)],
    ['Vendor', dash(i.vendor)],
    ['Platform', dash(i.platform)],
    ['Firmware', dash(i.firmware)],
    ['MAC', dash(i.mac)],
    ['Users', usage(i.counts.users, i.capacity.users)],
    ['Records', usage(i.counts.records, i.capacity.records)],
    ['Fingerprints', usage(i.counts.fingers, i.capacity.fingers)],
  ];
  if (i.counts.faces !== null) rows.push(['Faces', usage(i.counts.faces, i.capacity.faces)]);
  rows.push(['Device time', `${dash(i.deviceTime)} (read in ${i.tz})`], ['Clock drift', drift(i.clockDriftSec)]);
  const w = Math.max(...rows.map(([k]) => k.length)) + 1;
  // eslint-disable-next-line no-control-regex -- control characters are what it replaces
  return rows.map(([k, v]) => `${(k + ':').padEnd(w)} ${v.replace(/[\u0000-\u001f\u007f]/g, '?')}`).join('\n') + '\n';
}
