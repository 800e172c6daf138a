/**
 * A simulated device in push (ADMS) mode: the client side of docs/adms.md, as firmware behaves. It asks
 * for its options (start-up), uploads its attendance log in batches after its own cursor (the Stamp), keeps
 * a batch until the server answers 200 with `OK` (otherwise waits ErrorDelay and sends the same batch
 * again), polls `getrequest` every Delay and runs the commands it gets, answering on `devicecmd`.
 */
import * as http from 'http';
import { AttendanceInput, UserInput, WallClock } from '../protocol';
import { wallClockInZone } from './clock';
import { generatePunches, generateUsers } from './generate';
import { Prng } from './prng';
import { getProfile } from './profiles';
import { pushRequest } from './push-http';

export interface PushDeviceOptions {
  /** Server address: `http://host:port` (the device adds `/iclock`) or a URL with its own base path. */
  url: string;
  serial: string;
  tz?: string;
  seed?: number;
  users?: number;
  /** Records held at start (the backlog the device uploads first). */
  records?: number;
  /**
   * The instant the backlog is generated back from (default: now). Two devices with the same seed and the
   * same instant hold the same records, whenever they are built.
   */
  backlogUntilMs?: number;
  /** Lines per ATTLOG post. Default 100. */
  batchSize?: number;
  /** Override the server's Delay (heartbeat) in ms; default: what the start-up reply says. */
  pollMs?: number;
  /** Override the server's ErrorDelay in ms. */
  errorDelayMs?: number;
  /** Sent as `pushcommkey` on the start-up request. */
  token?: string;
  agent?: http.Agent;
  timeoutMs?: number;
  /** Called after each ATTLOG post with its round trip and whether the server said OK. */
  onPost?: (ms: number, ok: boolean, lines: number) => void;
  /** Called when the server refuses the device or cannot be reached (the device keeps its data and retries). */
  onTrouble?: (t: PushTrouble) => void;
}

export type PushTrouble =
  | { serial: string; kind: 'refused'; status: number; reply: string; retryMs: number }
  | { serial: string; kind: 'unreachable'; message: string; retryMs: number };

export interface PushDeviceStats {
  handshakes: number;
  posts: number;
  /** Posts not answered 200 `OK` (sent again later). */
  failedPosts: number;
  recordsAcked: number;
  polls: number;
  commands: number;
  /** Commands run, by their first words (`DATA UPDATE USERINFO`, `CHECK`…): proves what was, or was not, sent. */
  commandsSeen: Record<string, number>;
}

export interface ServerOptionsSeen {
  delaySec: number | null;
  errorDelaySec: number | null;
  timeZone: string | null;
  realtime: boolean;
  transFlag: string | null;
  raw: Record<string, string>;
}

const pad = (n: number): string => (n < 10 ? '0' : '') + n;
const fmtTime = (w: WallClock): string =>
  `${w.year}-${pad(w.month)}-${pad(w.day)} ${pad(w.hour)}:${pad(w.minute)}:${pad(w.second)}`;
const wallKey = (w: WallClock): string => fmtTime(w);

export function attlogLine(r: AttendanceInput): string {
  return `${r.userId}\t${fmtTime(r.time)}\t${r.state}\t${r.verify}\t${r.workCode ?? 0}\t0\t0`;
}

export class PushDevice {
  readonly serial: string;
  readonly tz: string;
  readonly users: UserInput[];
  /** Every record the device holds, oldest first. */
  readonly records: AttendanceInput[];
  readonly stats: PushDeviceStats = {
    handshakes: 0,
    posts: 0,
    failedPosts: 0,
    recordsAcked: 0,
    polls: 0,
    commands: 0,
    commandsSeen: {},
  };
  options: ServerOptionsSeen | null = null;
  /** Upload cursor: records before it were acknowledged. */
  private cursor = 0;
  /** Records asked for again (DATA QUERY ATTLOG), sent before new ones. */
  private resend: AttendanceInput[] = [];
  private results: string[] = [];
  /** Users the device holds disabled (by PIN). */
  readonly disabled = new Set<string>();
  /** Fingerprint templates by PIN, then finger: flag and the opaque bytes. */
  readonly templates = new Map<string, Map<number, { flag: number; data: Buffer }>>();
  /** Table posts a command produced (DATA QUERY USERINFO), sent before the command's result. */
  private tablePosts: { table: string; body: string }[] = [];
  private readonly base: URL;
  private readonly agent: http.Agent;
  private readonly ownAgent: boolean;
  private readonly abort = new AbortController();
  private wake: (() => void) | null = null;
  private running: Promise<void> | null = null;
  private needHandshake = true;
  private readyResolve: (() => void) | null = null;
  /** Resolves after the first accepted start-up request. */
  readonly ready: Promise<void>;

  constructor(private readonly o: PushDeviceOptions) {
    this.serial = o.serial;
    this.tz = o.tz ?? 'UTC';
    const u = new URL(o.url);
    if (u.pathname === '/' || u.pathname === '') u.pathname = '/iclock';
    u.pathname = u.pathname.replace(/\/+$/, '');
    this.base = u;
    this.ownAgent = !o.agent;
    this.agent = o.agent ?? new http.Agent({ keepAlive: true, maxSockets: 2 });
    const rng = new Prng(o.seed ?? 1);
    this.users = generateUsers(rng.fork(1), o.users ?? 20, getProfile('tft'), 'utf8');
    this.records = generatePunches(
      rng.fork(2),
      this.users,
      o.records ?? 0,
      wallClockInZone(o.backlogUntilMs ?? Date.now(), this.tz),
    );
    this.ready = new Promise((r) => (this.readyResolve = r));
  }

  now(): WallClock {
    return wallClockInZone(Date.now(), this.tz);
  }

  /** Records acknowledged by the server so far (cursor). */
  get acked(): number {
    return this.cursor;
  }

  /** A new punch now (or at `at`); uploaded at once when the server asked for Realtime=1. */
  punch(userId?: string, at?: WallClock, state = 0): AttendanceInput {
    const r: AttendanceInput = {
      uid: null,
      userId: userId ?? this.users[0]?.userId ?? '1',
      verify: 1,
      state,
      time: at ?? this.now(),
      workCode: 0,
    };
    this.records.push(r);
    this.poke();
    return r;
  }

  start(): void {
    if (!this.running) this.running = this.loop();
  }

  async stop(): Promise<void> {
    this.abort.abort();
    this.poke();
    await this.running?.catch(() => undefined);
    if (this.ownAgent) this.agent.destroy();
  }

  private poke(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      if (this.abort.signal.aborted) return resolve();
      const t = setTimeout(() => {
        this.wake = null;
        resolve();
      }, ms);
      this.wake = () => {
        clearTimeout(t);
        resolve();
      };
    });
  }

  private url(endpoint: string, params: Record<string, string>): URL {
    const u = new URL(this.base.toString());
    u.pathname = `${this.base.pathname}/${endpoint}`;
    u.searchParams.set('SN', this.serial);
    for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v);
    return u;
  }

  private get errorDelayMs(): number {
    return this.o.errorDelayMs ?? (this.options?.errorDelaySec ?? 30) * 1000;
  }

  private get pollMs(): number {
    return this.o.pollMs ?? (this.options?.delaySec ?? 10) * 1000;
  }

  private async loop(): Promise<void> {
    let nextPoll = 0;
    while (!this.abort.signal.aborted) {
      try {
        if (this.needHandshake) {
          if (!(await this.handshake())) {
            await this.sleep(this.errorDelayMs);
            continue;
          }
          nextPoll = 0;
        }
        if (this.resend.length > 0 || this.cursor < this.records.length) {
          if (!(await this.upload())) await this.sleep(this.errorDelayMs);
          continue;
        }
        if (Date.now() >= nextPoll) {
          nextPoll = Date.now() + this.pollMs;
          await this.poll();
          continue;
        }
        await this.sleep(Math.max(1, nextPoll - Date.now()));
      } catch (err) {
        if (this.abort.signal.aborted) break;
        // Network failure: like firmware, wait ErrorDelay and start again from the start-up request.
        this.needHandshake = true;
        this.o.onTrouble?.({
          serial: this.serial,
          kind: 'unreachable',
          message: (err as Error).message,
          retryMs: this.errorDelayMs,
        });
        await this.sleep(this.errorDelayMs);
      }
    }
  }

  private request(url: URL, method: 'GET' | 'POST', body: string | null) {
    return pushRequest(url, method, body, this.agent, this.o.timeoutMs ?? 30_000, this.abort.signal);
  }

  private async handshake(): Promise<boolean> {
    const params: Record<string, string> = { options: 'all', pushver: '2.4.1', language: '69' };
    if (this.o.token) params.pushcommkey = this.o.token;
    const r = await this.request(this.url('cdata', params), 'GET', null);
    // Refused (UNKNOWN DEVICE), or try later (RETRY): stay offline, keep the data.
    if (r.status !== 200 || /^(UN|RETRY)/.test(r.body.trimStart())) {
      this.o.onTrouble?.({
        serial: this.serial,
        kind: 'refused',
        status: r.status,
        reply: r.body.trim().split(/\r?\n/)[0].slice(0, 100),
        retryMs: this.errorDelayMs,
      });
      return false;
    }
    const raw: Record<string, string> = {};
    for (const line of r.body.split(/\r\n|\n|\r/)) {
      const eq = line.indexOf('=');
      if (eq > 0) raw[line.slice(0, eq).trim()] = line.slice(eq + 1).trim();
    }
    const num = (k: string): number | null =>
      raw[k] !== undefined && /^-?\d+(\.\d+)?$/.test(raw[k]) ? Number(raw[k]) : null;
    this.options = {
      delaySec: num('Delay'),
      errorDelaySec: num('ErrorDelay'),
      timeZone: raw.TimeZone ?? null,
      realtime: raw.Realtime === '1',
      transFlag: raw.TransFlag ?? null,
      raw,
    };
    this.stats.handshakes++;
    this.needHandshake = false;
    this.readyResolve?.();
    this.readyResolve = null;
    return true;
  }

  private async upload(): Promise<boolean> {
    const size = this.o.batchSize ?? 100;
    const fromResend = this.resend.length > 0;
    const batch = fromResend ? this.resend.slice(0, size) : this.records.slice(this.cursor, this.cursor + size);
    const body = batch.map(attlogLine).join('\n') + '\n';
    const t0 = performance.now();
    const r = await this.request(
      this.url('cdata', { table: 'ATTLOG', Stamp: String(this.cursor + batch.length) }),
      'POST',
      body,
    );
    const ok = r.status === 200 && /^OK/.test(r.body.trimStart());
    this.o.onPost?.(performance.now() - t0, ok, batch.length);
    this.stats.posts++;
    if (!ok) {
      this.stats.failedPosts++;
      return false;
    }
    if (fromResend) this.resend.splice(0, batch.length);
    else {
      this.cursor += batch.length;
      this.stats.recordsAcked += batch.length;
    }
    return true;
  }

  private async poll(): Promise<void> {
    const info = `Ver 8.0.4.3-PF,${this.users.length},0,${this.records.length},127.0.0.1,10,0,0,0,010`;
    const r = await this.request(this.url('getrequest', { INFO: info }), 'GET', null);
    this.stats.polls++;
    if (r.status !== 200) return;
    for (const line of r.body.split(/\r\n|\n|\r/)) {
      const m = /^C:(\d+):(.*)$/.exec(line);
      if (m) this.results.push(this.execute(Number(m[1]), m[2]));
    }
    while (this.tablePosts.length > 0) {
      const t = this.tablePosts[0];
      const res = await this.request(this.url('cdata', { table: t.table, Stamp: '9999' }), 'POST', t.body);
      if (res.status !== 200) return;
      this.tablePosts.shift();
    }
    if (this.results.length > 0) {
      const body = this.results.join('\n') + '\n';
      const res = await this.request(this.url('devicecmd', {}), 'POST', body);
      // Results leave the device only on a success reply (firmware keeps and resends them otherwise).
      if (res.status === 200) this.results = [];
    }
  }

  /** Runs one command; returns its result line. */
  private execute(id: number, cmd: string): string {
    this.stats.commands++;
    const name = cmd.split(/[\s]/)[0] ?? '';
    const head = cmd
      .split(/\s/)
      .slice(0, /^DATA\s/i.test(cmd) ? 3 : 1)
      .join(' ')
      .toUpperCase();
    this.stats.commandsSeen[head] = (this.stats.commandsSeen[head] ?? 0) + 1;
    const res = (rc: number, extra = ''): string => `ID=${id}&Return=${rc}&CMD=${name}${extra}`;
    const range = (): [string, string] => {
      const s = /StartTime=([^\t]+)/.exec(cmd)?.[1]?.trim() ?? '0000';
      const e = /EndTime=([^\t]+)/.exec(cmd)?.[1]?.trim() ?? '9999';
      return [s, e];
    };
    if (/^CHECK$/i.test(cmd) || /^REBOOT$/i.test(cmd)) {
      this.needHandshake = true;
      return res(0);
    }
    if (/^INFO$/i.test(cmd)) return res(0, `&UserCount=${this.users.length}&AttLogCount=${this.records.length}`);
    if (/^LOG$/i.test(cmd)) return res(0);
    if (/^DATA QUERY ATTLOG\b/i.test(cmd)) {
      const [s, e] = range();
      this.resend.push(...this.records.filter((r) => wallKey(r.time) >= s && wallKey(r.time) <= e));
      return res(0);
    }
    if (/^VERIFY SUM ATTLOG\b/i.test(cmd)) {
      const [s, e] = range();
      return res(0, `&AttlogCount=${this.records.filter((r) => wallKey(r.time) >= s && wallKey(r.time) <= e).length}`);
    }
    const user = this.userCommand(cmd);
    if (user !== null) return res(user);
    if (/^CLEAR LOG$/i.test(cmd)) {
      this.records.splice(0, this.records.length);
      this.cursor = 0;
      return res(0);
    }
    return res(-22);
  }

  /** Fields of a `KEY=value\tKEY=value` command tail. */
  private static fields(text: string): Record<string, string> {
    const out: Record<string, string> = {};
    for (const part of text.split('\t')) {
      const eq = part.indexOf('=');
      if (eq > 0) out[part.slice(0, eq).trim()] = part.slice(eq + 1);
    }
    return out;
  }

  /** `USER PIN=…` line as the device uploads it in OPERLOG. */
  userLine(u: UserInput): string {
    const card = u.cardNo ? String(u.cardNo) : '';
    const dis = this.disabled.has(u.userId) ? '\tDisable=1' : '';
    return `USER PIN=${u.userId}\tName=${u.name ?? ''}\tPri=${(u.privilege ?? 0) & 0x0e}\tPasswd=${u.password ?? ''}\tCard=${card}\tGrp=${u.group ?? 1}\tTZ=0000000000000000${dis}`;
  }

  /** User and template maintenance (docs/adms.md §5); the return code, or null when `cmd` is none of them. */
  private userCommand(cmd: string): number | null {
    const m = /^DATA\s+(UPDATE|DELETE|QUERY)\s+(USERINFO|FINGERTMP)\b\s*(.*)$/i.exec(cmd);
    if (!m) return null;
    const [verb, table, rest] = [m[1].toUpperCase(), m[2].toUpperCase(), m[3]];
    const f = PushDevice.fields(rest);
    if (verb === 'QUERY' && table === 'USERINFO') {
      this.tablePosts.push({ table: 'OPERLOG', body: this.users.map((u) => this.userLine(u)).join('\n') + '\n' });
      return 0;
    }
    const pin = f.PIN;
    if (!pin || !/^[\x21-\x7e]{1,24}$/.test(pin)) return -1002;
    const at = this.users.findIndex((u) => u.userId === pin);
    if (verb === 'DELETE' && table === 'USERINFO') {
      if (at >= 0) this.users.splice(at, 1);
      this.disabled.delete(pin);
      this.templates.delete(pin);
      return 0;
    }
    if (verb === 'UPDATE' && table === 'USERINFO') {
      const card = f.Card === undefined || f.Card === '' ? 0 : Number(f.Card);
      if (!Number.isInteger(card) || card < 0 || card > 0xffffffff) return -1002;
      const u: UserInput = {
        uid: at >= 0 ? this.users[at].uid : this.users.reduce((mx, x) => Math.max(mx, x.uid), 0) + 1,
        userId: pin,
        name: f.Name ?? '',
        privilege: Number(f.Pri ?? 0) & 0x0e,
        password: f.Passwd ?? '',
        cardNo: card,
        group: Number(f.Grp ?? 1),
      };
      if (at >= 0) this.users[at] = u;
      else this.users.push(u);
      if (f.Disable === '1') this.disabled.add(pin);
      else this.disabled.delete(pin);
      return 0;
    }
    if (verb === 'UPDATE' && table === 'FINGERTMP') {
      const finger = Number(f.FID);
      const data = Buffer.from(f.TMP ?? '', 'base64');
      if (at < 0) return -1;
      if (
        !Number.isInteger(finger) ||
        finger < 0 ||
        finger > 9 ||
        data.length === 0 ||
        Number(f.Size) !== (f.TMP ?? '').length
      )
        return -1002;
      const mine = this.templates.get(pin) ?? new Map<number, { flag: number; data: Buffer }>();
      mine.set(finger, { flag: Number(f.Valid ?? 1), data });
      this.templates.set(pin, mine);
      return 0;
    }
    return -1;
  }
}
