/**
 * User and template maintenance for push (ADMS) devices through the command queue, behind the same
 * UserDevice/TemplateDevice interface a TCP device offers, so lib/users plans, applies and reads back a push
 * device exactly like the others. Reading users is `DATA QUERY USERINFO` (the device posts `USER PIN=…`
 * lines on cdata OPERLOG, then answers the command); writing is `DATA UPDATE USERINFO`, `DATA DELETE
 * USERINFO PIN=…` (never by uid: some firmware deletes every user then) and `DATA UPDATE FINGERTMP`.
 * Commands are fed in windows so the device's queue limit holds; results come back through onCommand.
 */
import type {
  DeviceUser,
  FingerTemplate,
  TemplateDevice,
  UserDevice,
  UserDeleteReport,
  UserWrite,
  UserWriteFailure,
  UserWriteReport,
} from '../users/types';
import { isValidSerial } from './allow-list';
import { MAX_QUEUED_PER_DEVICE } from './commands';
import type { CommandOutcome } from './server';

/** Where commands go: CommandBook.enqueue (the texts are built here from checked values). */
export interface CommandPort {
  enqueue(sn: string, command: string): Promise<{ id: number }>;
}

export interface PushUserOptions {
  /** How long a device may answer nothing before it is reported (its commands stay queued). Default 120 s. */
  answerTimeoutMs?: number;
  /** Commands in flight per device. Default half the queue limit. */
  window?: number;
}

// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u001f\u007f]/;

/** A value that goes between tabs: a tab or line break would start a second field or command. */
function field(name: string, v: string): string {
  if (UNSAFE.test(v)) throw new Error(`${name} contains a tab, line break or control character`);
  return v;
}

/** `DATA UPDATE USERINFO` with every field (firmware may clear fields that are left out). */
export function userInfoCommand(u: DeviceUser): string {
  const parts = [
    `PIN=${field('userId', u.userId)}`,
    `Name=${field('name', u.name)}`,
    `Pri=${u.privilege & 0x0e}`,
    `Passwd=${field('password', u.password)}`,
    `Card=${u.cardNo === 0 ? '' : String(u.cardNo >>> 0)}`,
    `Grp=${u.group}`,
  ];
  // Firmware with an access-control user table honours Disable; any other keeps the user enabled, which
  // the read-back after the sync reports as not kept.
  if (!u.enabled) parts.push('Disable=1');
  return `DATA UPDATE USERINFO ${parts.join('\t')}`;
}

export const deleteUserCommand = (userId: string): string => `DATA DELETE USERINFO PIN=${field('userId', userId)}`;

export function templateCommand(t: FingerTemplate): string {
  const tmp = t.data.toString('base64');
  return `DATA UPDATE FINGERTMP PIN=${field('userId', t.userId)}\tFID=${t.finger}\tSize=${tmp.length}\tValid=${t.flag}\tTMP=${tmp}`;
}

function kv(line: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of line.split('\t')) {
    const eq = part.indexOf('=');
    if (eq > 0) out[part.slice(0, eq).trim()] = part.slice(eq + 1).trim();
  }
  return out;
}

/** Card as devices print it: decimal, or bracketed hex (`[00A1B2C3]`). */
function cardOf(v: string | undefined): number {
  if (!v) return 0;
  const hex = /^\[([0-9A-Fa-f]{1,8})\]$/.exec(v);
  const n = hex ? parseInt(hex[1], 16) : /^\d{1,10}$/.test(v) ? Number(v) : 0;
  return n <= 0xffffffff ? n : 0;
}

/** `USER PIN=…\tName=…` lines of an OPERLOG or USERINFO post (other lines are skipped). */
export function parseUserLines(text: string): DeviceUser[] {
  const out: DeviceUser[] = [];
  for (const raw of text.split(/\r\n|\n|\r/)) {
    const m = /^\s*(?:USER\s+)?(PIN=.*)$/.exec(raw);
    if (!m) continue;
    const f = kv(m[1]);
    if (!f.PIN) continue;
    const level = Number(f.Pri ?? 0) & 0x0e;
    const enabled = f.Disable !== '1';
    out.push({
      uid: 0,
      userId: f.PIN,
      name: f.Name ?? '',
      privilege: level | (enabled ? 0 : 1),
      enabled,
      password: f.Passwd ?? '',
      cardNo: cardOf(f.Card),
      group: /^\d{1,3}$/.test(f.Grp ?? '') ? Number(f.Grp) : 1,
    });
  }
  return out;
}

interface Waiter {
  resolve: (o: CommandOutcome) => void;
}

export class PushUserCommands {
  private readonly waiters = new Map<string, Waiter>();
  private readonly collecting = new Map<string, DeviceUser[]>();
  private readonly timeoutMs: number;
  private readonly window: number;
  private closed = false;

  constructor(
    private readonly port: CommandPort,
    opts: PushUserOptions = {},
  ) {
    this.timeoutMs = opts.answerTimeoutMs ?? 120_000;
    this.window = Math.max(1, Math.min(opts.window ?? MAX_QUEUED_PER_DEVICE / 2, MAX_QUEUED_PER_DEVICE));
  }

  /** Every command outcome of the zk-push server; true when it was one of ours (reported in the sync report). */
  onCommand(c: CommandOutcome): boolean {
    const w = this.waiters.get(`${c.deviceSn}|${c.id}`);
    if (!w) return false;
    this.waiters.delete(`${c.deviceSn}|${c.id}`);
    w.resolve(c);
    return true;
  }

  /** Text of an OPERLOG/USERINFO post: the answer to a user query in progress. */
  onUserLines(sn: string, text: string): void {
    this.collecting.get(sn)?.push(...parseUserLines(text));
  }

  close(): void {
    this.closed = true;
    for (const [key, w] of this.waiters) {
      const [sn, id] = key.split('|');
      w.resolve({ deviceSn: sn, id: Number(id), command: null, state: 'timeout', returnCode: null, result: null });
    }
    this.waiters.clear();
  }

  /**
   * Queues `commands` (at most `window` unanswered at a time); outcome per command, in order. Gives up when the
   * device answers nothing for `idleMs`: a big sync takes many polls, so the wait is for progress, not a total.
   */
  private async run(sn: string, commands: string[], idleMs: number): Promise<(CommandOutcome | null)[]> {
    const out: (CommandOutcome | null)[] = new Array(commands.length).fill(null);
    let next = 0;
    let timer: NodeJS.Timeout | null = null;
    let expired = false;
    let onExpiry: () => void = () => undefined;
    const expiry = new Promise<null>((resolve) => {
      onExpiry = () => resolve(null);
    });
    const arm = (): void => {
      if (timer) clearTimeout(timer);
      timer = setTimeout(() => {
        expired = true;
        onExpiry();
      }, idleMs);
    };
    const lane = async (): Promise<void> => {
      while (next < commands.length && !expired && !this.closed) {
        const i = next++;
        const { id } = await this.port.enqueue(sn, commands[i]);
        const answer = new Promise<CommandOutcome>((resolve) => this.waiters.set(`${sn}|${id}`, { resolve }));
        const got = await Promise.race([answer, expiry]);
        if (got === null) this.waiters.delete(`${sn}|${id}`);
        else arm();
        out[i] = got;
      }
    };
    arm();
    try {
      await Promise.all(Array.from({ length: Math.min(this.window, commands.length) }, lane));
    } finally {
      if (timer) clearTimeout(timer);
    }
    return out;
  }

  private why(sn: string, o: CommandOutcome | null, timeoutMs: number): string {
    if (o === null)
      return `no answer from push device ${sn} for ${timeoutMs / 1000} s (is it polling? the command stays queued and runs when it does)`;
    if (o.state === 'timeout') return `push device ${sn} took the command but never answered it`;
    return `push device ${sn} answered Return=${o.returnCode ?? '?'} (${o.returnCode === -1002 ? 'syntax not supported by this firmware' : 'refused'})`;
  }

  /** The device as lib/users sees it; `answerTimeoutMs` overrides the default wait for its answers. */
  device(sn: string, opts: { answerTimeoutMs?: number } = {}): UserDevice & TemplateDevice {
    if (!isValidSerial(sn)) throw new Error(`${JSON.stringify(sn)} is not a push device serial number`);
    const ms = opts.answerTimeoutMs ?? this.timeoutMs;
    const run = (commands: string[]) => this.run(sn, commands, ms);
    const why = (o: CommandOutcome | null) => this.why(sn, o, ms);
    const users = async (): Promise<DeviceUser[]> => {
      if (this.collecting.has(sn)) throw new Error(`push device ${sn}: a user query is already running`);
      const got: DeviceUser[] = [];
      this.collecting.set(sn, got);
      try {
        const [o] = await run(['DATA QUERY USERINFO']);
        if (!o || o.state !== 'answered' || o.returnCode !== 0) throw new Error(`reading users: ${why(o)}`);
        // A user listed twice (two posts) counts once, the last one.
        return [...new Map(got.map((u) => [u.userId, u])).values()];
      } finally {
        this.collecting.delete(sn);
      }
    };
    const failure = (userId: string, o: CommandOutcome | null): UserWriteFailure => ({
      userId,
      reason: why(o),
      code: 'DEVICE_ERROR',
    });
    const upsertUsers = async (writes: UserWrite[]): Promise<UserWriteReport> => {
      const current = new Map((await users()).map((u) => [u.userId, u]));
      const report: UserWriteReport = { written: [], failed: [] };
      const full: DeviceUser[] = [];
      for (const w of writes) {
        const c = current.get(w.userId);
        const enabled = w.enabled ?? c?.enabled ?? true;
        const level = w.privilege ?? (c ? c.privilege & 0x0e : 0);
        const u: DeviceUser = {
          uid: 0,
          userId: w.userId,
          name: w.name ?? c?.name ?? '',
          privilege: level | (enabled ? 0 : 1),
          enabled,
          password: w.password ?? c?.password ?? '',
          cardNo: w.cardNo ?? c?.cardNo ?? 0,
          group: w.group ?? c?.group ?? 1,
        };
        try {
          userInfoCommand(u);
          full.push(u);
        } catch (err) {
          report.failed.push({ userId: w.userId, reason: (err as Error).message, code: 'BAD_INPUT' });
        }
      }
      const outcomes = await run(full.map(userInfoCommand));
      full.forEach((u, i) => {
        const o = outcomes[i];
        if (o && o.state === 'answered' && o.returnCode === 0) report.written.push(u);
        else report.failed.push(failure(u.userId, o));
      });
      return report;
    };
    const deleteUsers = async (ids: string[]): Promise<UserDeleteReport> => {
      const outcomes = await run(ids.map(deleteUserCommand));
      const report: UserDeleteReport = { deleted: [], notFound: [], failed: [] };
      ids.forEach((id, i) => {
        const o = outcomes[i];
        if (o && o.state === 'answered' && o.returnCode === 0) report.deleted.push(id);
        else report.failed.push(failure(id, o));
      });
      return report;
    };
    const setUserTemplates = async (userId: string, ts: FingerTemplate[]): Promise<void> => {
      const outcomes = await run(ts.map((t) => templateCommand({ ...t, userId })));
      const bad = outcomes.findIndex((o) => !o || o.state !== 'answered' || o.returnCode !== 0);
      if (bad >= 0) throw new Error(`finger ${ts[bad].finger}: ${why(outcomes[bad])}`);
    };
    const templates = async (): Promise<FingerTemplate[]> => {
      // Push devices upload templates only on their own schedule: copying compares against nothing.
      return [];
    };
    return { users, upsertUsers, deleteUsers, setUserTemplates, templates };
  }
}

/** What a zk-push node offers zk-users on its node object: its device's user commands and known serials. */
export interface PushUserHost {
  pushUsers?: { commands: PushUserCommands; known(): string[] };
}
