/**
 * The master user list a sync starts from (typically rows of an HR table): checked entry by entry, with
 * errors that name the entry and the field, because a half-applied list is worse than none. A field left
 * out of an entry is not managed (the device keeps its value; a new user gets the device default).
 */

export interface MasterUser {
  userId: string;
  name?: string;
  cardNo?: number;
  /** Level without the disabled bit: 0 user, 2 enroller, 6 admin, 14 super admin. */
  privilege?: number;
  enabled: boolean;
  password?: string;
  group?: number;
}

export interface ListProblem {
  index: number;
  userId: string | null;
  field: string | null;
  message: string;
}

export class UserListError extends Error {
  readonly code = 'BAD_INPUT';
  constructor(readonly problems: ListProblem[]) {
    const shown = problems
      .slice(0, 5)
      .map((p) => p.message)
      .join('; ');
    super(
      `user list refused, nothing was written: ${shown}${problems.length > 5 ? `; and ${problems.length - 5} more` : ''}`,
    );
    this.name = 'UserListError';
  }
}

export const PRIVILEGE_LEVELS: Readonly<Record<string, number>> = {
  user: 0,
  normal: 0,
  enroller: 2,
  admin: 6,
  manager: 6,
  superadmin: 14,
  'super admin': 14,
  super_admin: 14,
};
const LEVEL_VALUES = [0, 2, 6, 14];
const FIELDS = ['userId', 'name', 'card', 'cardNo', 'privilege', 'enabled', 'password', 'group'];

/** A PIN: printable ASCII without spaces, up to the 24 bytes of the device's field. */
const PIN_RE = /^[\x21-\x7e]{1,24}$/;
// eslint-disable-next-line no-control-regex
const CONTROL_RE = /[\u0000-\u001f\u007f]/;

function levelOf(v: unknown): number | undefined {
  if (typeof v === 'number' && LEVEL_VALUES.includes(v)) return v;
  if (typeof v === 'string') {
    const t = v.trim().toLowerCase();
    if (t in PRIVILEGE_LEVELS) return PRIVILEGE_LEVELS[t];
    if (/^\d+$/.test(t) && LEVEL_VALUES.includes(Number(t))) return Number(t);
  }
  return undefined;
}

function boolOf(v: unknown): boolean | undefined {
  if (typeof v === 'boolean') return v;
  // MySQL returns BOOL columns as 0/1.
  if (v === 0 || v === 1) return v === 1;
  if (typeof v === 'string') {
    const t = v.trim().toLowerCase();
    if (['true', '1', 'yes'].includes(t)) return true;
    if (['false', '0', 'no'].includes(t)) return false;
  }
  return undefined;
}

function wholeOf(v: unknown, max: number): number | undefined {
  const n = typeof v === 'string' && /^\s*\d+\s*$/.test(v) ? Number(v) : v;
  return typeof n === 'number' && Number.isInteger(n) && n >= 0 && n <= max ? n : undefined;
}

/** Checks and normalises `list`; throws UserListError listing every problem (entry, userId and field). */
export function parseMasterList(list: unknown, what = 'msg.payload'): MasterUser[] {
  if (!Array.isArray(list)) {
    throw new UserListError([
      {
        index: -1,
        userId: null,
        field: null,
        message: `${what} must be an array of users ({userId, name, card, privilege, enabled})`,
      },
    ]);
  }
  const problems: ListProblem[] = [];
  const out: MasterUser[] = [];
  const seen = new Map<string, number>();
  list.forEach((entry: unknown, index) => {
    const where = `${what}[${index}]`;
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
      problems.push({
        index,
        userId: null,
        field: null,
        message: `${where}: expected an object such as {"userId": "1001", "name": "Ana"}`,
      });
      return;
    }
    const e = entry as Record<string, unknown>;
    const rawId = e.userId;
    const userId =
      typeof rawId === 'number' && Number.isSafeInteger(rawId) && rawId >= 0
        ? String(rawId)
        : typeof rawId === 'string'
          ? rawId.trim()
          : null;
    const label = userId ? `${where} (userId ${userId})` : where;
    const bad = (field: string, message: string) =>
      problems.push({ index, userId, field, message: `${label}: ${field} ${message}` });
    for (const k of Object.keys(e))
      if (!FIELDS.includes(k)) bad(k, `is not a known field; expected ${FIELDS.join(', ')}`);
    if (userId === null || !PIN_RE.test(userId)) {
      bad('userId', 'must be the PIN: 1 to 24 characters, letters, digits or punctuation, no spaces');
    } else if (seen.has(userId)) {
      bad('userId', `is a duplicate of entry ${seen.get(userId)}`);
    } else seen.set(userId, index);
    const u: MasterUser = { userId: userId ?? '', enabled: true };
    if (e.name !== undefined) {
      if (e.name === null) u.name = '';
      else if (typeof e.name !== 'string') bad('name', 'must be a string');
      else if (CONTROL_RE.test(e.name)) bad('name', 'contains a tab, line break or control character');
      else if (e.name.trim().length > 24)
        bad('name', `is ${e.name.trim().length} characters long; the device holds 24 bytes`);
      else u.name = e.name.trim();
    }
    if (e.card !== undefined && e.cardNo !== undefined) bad('card', 'and cardNo are both given: use one');
    const card = e.card !== undefined ? e.card : e.cardNo;
    const cardField = e.card !== undefined ? 'card' : 'cardNo';
    if (card !== undefined) {
      const n = card === null || card === '' ? 0 : wholeOf(card, 0xffffffff);
      if (n === undefined) bad(cardField, 'must be a card number from 0 to 4294967295 (0 or null: no card)');
      else u.cardNo = n;
    }
    if (e.privilege !== undefined && e.privilege !== null) {
      const p = levelOf(e.privilege);
      if (p === undefined) bad('privilege', 'must be user, enroller, admin or superadmin (or 0, 2, 6, 14)');
      else u.privilege = p;
    }
    if (e.enabled !== undefined && e.enabled !== null) {
      const b = boolOf(e.enabled);
      if (b === undefined) bad('enabled', 'must be true or false');
      else u.enabled = b;
    }
    if (e.password !== undefined) {
      if (e.password === null) u.password = '';
      else if (typeof e.password !== 'string' && typeof e.password !== 'number') bad('password', 'must be a string');
      else if (!/^[\x21-\x7e]{0,8}$/.test(String(e.password))) bad('password', 'must be up to 8 characters, no spaces');
      else u.password = String(e.password);
    }
    if (e.group !== undefined && e.group !== null) {
      const g = wholeOf(e.group, 255);
      if (g === undefined) bad('group', 'must be a whole number from 0 to 255');
      else u.group = g;
    }
    out.push(u);
  });
  if (problems.length > 0) throw new UserListError(problems);
  return out;
}
