/**
 * The server side of the ADMS/iclock push protocol (docs/adms.md): one request handler for Node's http
 * (and so for express), independent of Node-RED. Endpoints under the base path:
 *   GET  cdata        start-up: the option block
 *   POST cdata        ATTLOG → canonical records → journal (fsync) → `OK`; other tables accepted
 *   GET  getrequest   heartbeat: queued commands as `C:<id>:<cmd>` lines, else `OK`
 *   POST devicecmd    command results
 *   GET  ping, POST registry, GET/POST push   Push 3.x
 * Nothing a device sends can throw out of handle(): every failure becomes a 4xx/5xx reply and an event.
 */
import { createHash, timingSafeEqual } from 'crypto';
import type { IncomingMessage, ServerResponse } from 'http';
import type { AllowedDevice } from './allow-list';
import { isValidSerial } from './allow-list';
import { BadLine, parseAttlogBytes } from './attlog';
import { BodyError, contentTypeOk, decodeLenient, readBody } from './body';
import { CommandResult, checkCommand, parseCommandResults, parseOptionList } from './command-text';
import { CommandBook } from './commands';
import { DeviceBook, DeviceInfo, PushStatusEvent, infoFromFields, parseInfoParam, parseRegistryBody } from './devices';
import type { PushJournalWriter } from './journal';
import { handshakeReply, push3ConfigReply, timeZoneValue } from './options';
import type { PushServerSettings } from './settings';
import type { PushState, QueuedCommand } from './state';

export interface RawTable {
  deviceSn: string;
  table: string;
  /** Text tables as a string; binary ones (photos, templates) as a Buffer. */
  body: string | Buffer;
  receivedAt: string;
}

export interface CommandOutcome {
  deviceSn: string;
  id: number;
  command: string | null;
  state: 'queued' | 'answered' | 'timeout' | 'unmatched';
  returnCode: number | null;
  result: CommandResult | null;
  /** Why the server queued a command itself (e.g. CHECK after a change of the device's UTC offset). */
  reason?: string;
}

/** Device details a device posted as an options table (`table=options`), e.g. in answer to INFO. */
export interface DeviceOptions {
  deviceSn: string;
  /** Every key=value posted, `~` dropped from names (`DeviceName`, `FWVersion`, `UserCount`, `IPAddress`…). */
  options: Record<string, string>;
  receivedAt: string;
}

export interface Rejection {
  deviceSn: string | null;
  status: number;
  reason: string;
  remoteAddress: string | null;
  path: string;
}

export interface PushHooks {
  status?(e: PushStatusEvent): void;
  badLines?(sn: string, bad: BadLine[]): void;
  table?(t: RawTable): void;
  command?(c: CommandOutcome): void;
  /** An options post, whatever the "other tables" setting (it answers INFO on some firmware). */
  options?(o: DeviceOptions): void;
  /** A refused request (unknown serial, bad token, body limits…), at most once a minute per device and reason. */
  rejected?(r: Rejection): void;
  /** A serial not on the list was accepted (unknownDevices 'accept'); once per device and run. */
  unknownDevice?(sn: string, remoteAddress: string | null): void;
  /** Internal failures (journal write, state save). */
  error?(err: Error): void;
  /** Text of an OPERLOG or USERINFO post (user lines answer `DATA QUERY USERINFO`), whatever otherTables says. */
  userLines?(sn: string, text: string): void;
}

const ENDPOINTS = new Set([
  'cdata',
  'getrequest',
  'devicecmd',
  'ping',
  'registry',
  'push',
  'fdata',
  'querydata',
  'rtdata',
]);
const TEXT_TABLES = new Set(['ATTLOG', 'OPERLOG', 'OPLOG', 'USERINFO', 'OPTIONS']);

class Reply extends Error {
  constructor(
    readonly status: number,
    readonly body: string,
    readonly reason: string,
    readonly close = false,
  ) {
    super(reason);
  }
}

/** `::ffff:10.0.0.5` and `10.0.0.5` are one sender. */
const addressKey = (a: string | null): string => (a ?? '?').replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/i, '');

/** Past this many discarded bytes a sender is not a device: drop the connection. */
const DISCARD_LIMIT = 64 * 1024 * 1024;

/** Reads and drops what is left of a refused body (so the reply reaches the sender), within a limit. */
function discard(req: IncomingMessage): void {
  if (req.readableEnded) return;
  let n = 0;
  req.on('data', (c: Buffer) => {
    n += c.length;
    if (n > DISCARD_LIMIT) req.socket.destroy();
  });
  req.on('error', () => undefined);
  req.resume();
}

/** `/cdata.aspx` → `cdata` (old firmware appends .aspx). */
const endpointOf = (rest: string): string =>
  rest
    .replace(/^\/+/, '')
    .replace(/\.aspx$/i, '')
    .toLowerCase();

const sha = (s: string): string => createHash('sha256').update(s).digest('hex').slice(0, 32);

export class PushServer {
  readonly devices: DeviceBook;
  readonly commands: CommandBook;
  private readonly lastRejection = new Map<string, number>();
  /** Options posted while an INFO command was out: they go into that command's result when it is answered. */
  private readonly infoPosted = new Map<string, Record<string, string>>();
  /** Requests in progress per sender address. */
  private readonly busy = new Map<string, number>();
  private readonly unknownReported = new Set<string>();
  private readonly tokenHash: string | null;
  private sweepTimer: NodeJS.Timeout | null = null;
  /** Per device, the TimeZone value a CHECK was queued for (one CHECK per offset change, not one per sweep). */
  private readonly zoneCheckFor = new Map<string, number>();
  private readonly now: () => number;

  constructor(
    private readonly settings: PushServerSettings,
    private readonly journal: PushJournalWriter,
    private readonly state: PushState,
    private readonly hooks: PushHooks = {},
    opts: { now?: () => number } = {},
  ) {
    this.now = opts.now ?? Date.now;
    const offlineAfterMs = Math.max(30_000, settings.handshake.delaySec * 3000 + 10_000);
    this.devices = new DeviceBook((sn) => settings.devices.get(sn) ?? null, offlineAfterMs);
    this.commands = new CommandBook(state);
    this.tokenHash = settings.token ? sha(settings.token) : null;
  }

  /** Periodic work: offline detection and command timeouts. */
  startSweeps(everyMs = 5000): void {
    if (this.sweepTimer) return;
    this.sweepTimer = setInterval(() => this.sweep(), everyMs);
    this.sweepTimer.unref();
  }

  stopSweeps(): void {
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.sweepTimer = null;
  }

  sweep(nowMs = this.now()): void {
    for (const sn of this.devices.sweep(nowMs)) this.hooks.status?.(this.devices.status(sn));
    for (const t of this.commands.expire(nowMs, this.settings.commandTimeoutMs)) {
      this.hooks.command?.({
        deviceSn: t.sn,
        id: t.command.id,
        command: t.command.command,
        state: 'timeout',
        returnCode: null,
        result: null,
      });
    }
    this.checkZones(nowMs);
  }

  private zoneOf(sn: string): string {
    return this.settings.devices.get(sn)?.tz ?? this.settings.defaultTz;
  }

  /**
   * TimeZone goes out only in the start-up reply, so a device that stays connected across its zone's DST change
   * (or a changed zone in the device list) would keep the old offset until it restarts. CHECK makes it repeat
   * the start-up request and so read the new one.
   */
  private checkZones(nowMs: number): void {
    // Many devices share few zones: one offset lookup per zone and sweep.
    const offsets = new Map<string, number>();
    for (const d of this.state.all()) {
      if (d.timeZoneSent === undefined || d.timeZoneSent === null || !this.devices.isOnline(d.sn)) continue;
      const tz = this.zoneOf(d.sn);
      let value = offsets.get(tz);
      if (value === undefined) {
        value = timeZoneValue(tz, nowMs);
        offsets.set(tz, value);
      }
      if (value === d.timeZoneSent || this.zoneCheckFor.get(d.sn) === value) continue;
      this.zoneCheckFor.set(d.sn, value);
      if (d.commands.some((c) => c.state === 'queued' && /^CHECK$/i.test(c.command))) continue;
      const was = d.timeZoneSent;
      this.commands.enqueue(d.sn, 'CHECK').then(
        (c) =>
          this.hooks.command?.({
            deviceSn: d.sn,
            id: c.id,
            command: c.command,
            state: 'queued',
            returnCode: null,
            result: null,
            reason: `the UTC offset of ${tz} changed (TimeZone ${was} → ${value}): the device re-reads its options`,
          }),
        (err: Error) => {
          this.zoneCheckFor.delete(d.sn);
          this.hooks.error?.(
            new Error(`zk-push: device ${d.sn}: could not queue CHECK for its new UTC offset: ${err.message}`),
          );
        },
      );
    }
  }

  /** Remembers the TimeZone a device was told, so a later change of its offset can be noticed. */
  private zoneSent(sn: string, value: number): void {
    const d = this.state.get(sn);
    this.zoneCheckFor.delete(sn);
    if (d.timeZoneSent !== value) {
      d.timeZoneSent = value;
      this.state.changed();
    }
  }

  /** Queues a command from a flow; throws with the reason when refused. */
  async queueCommand(
    sn: unknown,
    command: unknown,
    allowDestructive: boolean,
  ): Promise<QueuedCommand & { deviceSn: string }> {
    if (!isValidSerial(sn)) throw new Error(`zk-push: ${JSON.stringify(sn)} is not a device serial number`);
    if (!this.settings.devices.has(sn) && !this.state.has(sn)) {
      throw new Error(`zk-push: device ${sn} is not on the device list and has never connected: check the serial`);
    }
    const c = checkCommand(command, allowDestructive);
    if (!c.ok) throw new Error(`zk-push: command for ${sn} refused: ${c.reason}`);
    return { ...(await this.commands.enqueue(sn, c.command)), deviceSn: sn };
  }

  /** Whether a request path is one of this server's endpoints (a shared HTTP server passes the rest on). */
  owns(url: string | undefined): boolean {
    const p = (url ?? '').split('?')[0];
    const base = this.settings.basePath;
    if (!p.startsWith(base + '/')) return false;
    return ENDPOINTS.has(endpointOf(p.slice(base.length)));
  }

  /** Time a request body may take (the listener's own request timeout must not cut in first). */
  get bodyTimeoutMs(): number {
    return this.settings.bodyTimeoutMs;
  }

  /** Requests being handled now (all addresses). */
  get requestsInProgress(): number {
    let n = 0;
    for (const v of this.busy.values()) n += v;
    return n;
  }

  /** Handles one request completely. Never rejects. */
  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const remote = req.socket?.remoteAddress ?? null;
    const addr = addressKey(remote);
    const inProgress = this.busy.get(addr) ?? 0;
    this.busy.set(addr, inProgress + 1);
    let sn: string | null = null;
    let path = '';
    try {
      // Bounds what one sender can hold (connections, body buffers) whatever it sends; a device told RETRY resends.
      if (inProgress >= this.settings.maxRequestsPerAddress) {
        throw new Reply(
          503,
          'RETRY',
          `more than ${this.settings.maxRequestsPerAddress} requests at once from ${addr} (devices behind one NAT or proxy share an address: raise the zk-push "Per address" setting)`,
          true,
        );
      }
      const url = new URL(req.url ?? '/', 'http://device.invalid');
      path = url.pathname;
      const rest = endpointOf(path.slice(this.settings.basePath.length));
      if (!ENDPOINTS.has(rest)) throw new Reply(404, 'NOT FOUND', `unknown endpoint ${path}`);
      const snParam = url.searchParams.get('SN') ?? url.searchParams.get('sn');
      if (!isValidSerial(snParam))
        throw new Reply(400, 'BAD SERIAL', `missing or malformed SN (${JSON.stringify((snParam ?? '').slice(0, 40))})`);
      sn = snParam;
      const listed = this.admit(sn, url, remote);
      const method = req.method ?? 'GET';
      const body = await this.route(rest, method, sn, listed, url, req, remote);
      this.send(res, 200, body);
    } catch (err) {
      discard(req);
      if (err instanceof Reply) {
        if (err.status >= 400)
          this.reject({ deviceSn: sn, status: err.status, reason: err.reason, remoteAddress: remote, path });
        this.send(res, err.status, err.body, err.close);
      } else if (err instanceof BodyError) {
        this.reject({ deviceSn: sn, status: err.status, reason: err.message, remoteAddress: remote, path });
        // A body that did not arrive in time: the sender is too slow to be worth its connection.
        this.send(res, err.status, err.status === 413 ? 'TOO LARGE' : 'BAD REQUEST', err.status === 408);
      } else {
        this.hooks.error?.(err as Error);
        this.send(res, 500, 'ERROR');
      }
    } finally {
      const n = (this.busy.get(addr) ?? 1) - 1;
      if (n > 0) this.busy.set(addr, n);
      else this.busy.delete(addr);
    }
  }

  /** Allow-list and token. Returns the list entry, or a stand-in for an accepted unknown serial. */
  private admit(sn: string, url: URL, remote: string | null): AllowedDevice {
    let listed = this.settings.devices.get(sn) ?? null;
    if (!listed) {
      if (this.settings.unknownDevices === 'reject')
        throw new Reply(403, 'UNKNOWN DEVICE', `serial ${sn} is not on the device list`);
      listed = { sn, name: null, site: null, tz: null };
      if (!this.unknownReported.has(sn)) {
        this.unknownReported.add(sn);
        this.hooks.unknownDevice?.(sn, remote);
      }
    }
    if (this.tokenHash) {
      const given = url.searchParams.get('pushcommkey') ?? url.searchParams.get('token');
      if (given !== null) {
        const a = Buffer.from(sha(given));
        const b = Buffer.from(this.tokenHash);
        if (!timingSafeEqual(a, b)) throw new Reply(401, 'UNAUTHORIZED', `device ${sn}: wrong token`);
        const d = this.state.get(sn);
        if (d.tokenHash !== this.tokenHash) {
          d.tokenHash = this.tokenHash;
          this.state.changed();
        }
      } else if (!this.state.has(sn) || this.state.get(sn).tokenHash !== this.tokenHash) {
        // Firmware sends the key on the start-up request; later requests ride on that proof.
        throw new Reply(401, 'UNAUTHORIZED', `device ${sn}: no token (set the push comm key on the device)`);
      }
    }
    return listed;
  }

  private async route(
    endpoint: string,
    method: string,
    sn: string,
    dev: AllowedDevice,
    url: URL,
    req: IncomingMessage,
    remote: string | null,
  ): Promise<string> {
    switch (endpoint) {
      case 'cdata':
        if (method === 'GET') return this.handshake(sn, remote, url);
        if (method === 'POST') return this.upload(sn, dev, url, req, remote);
        break;
      case 'getrequest':
        if (method === 'GET' || method === 'POST') {
          if (method === 'POST') await readBody(req, this.settings.maxBodyBytes, this.settings.bodyTimeoutMs);
          this.heard(sn, remote, parseInfoParam(url.searchParams.get('INFO')));
          return this.commands.take(sn, this.settings.commandsPerPoll).body;
        }
        break;
      case 'devicecmd':
        if (method === 'POST') return this.commandResults(sn, req, remote);
        break;
      case 'ping':
        this.heard(sn, remote);
        return 'OK';
      case 'registry':
        if (method === 'POST') {
          const text = decodeLenient(await this.body(req)) ?? '';
          this.devices.seen(sn, remote, parseRegistryBody(text));
          this.state.get(sn);
          this.hooks.status?.(this.devices.status(sn));
          return `RegistryCode=${sha(`punchflow:${sn}`)}`;
        }
        break;
      case 'push': {
        this.heard(sn, remote);
        const now = this.now();
        this.zoneSent(sn, timeZoneValue(this.zoneOf(sn), now));
        return push3ConfigReply(this.zoneOf(sn), this.settings.handshake, now);
      }
      default:
        // fdata, querydata, rtdata: accepted so the device does not retry forever; not interpreted.
        if (method === 'POST') await readBody(req, this.settings.maxBodyBytes, this.settings.bodyTimeoutMs);
        this.heard(sn, remote);
        return 'OK';
    }
    throw new Reply(405, 'METHOD NOT ALLOWED', `${method} ${endpoint}`);
  }

  /** Any request is a sign of life; a device back from offline (or with new info) gets a status event. */
  private heard(sn: string, remote: string | null, info: DeviceInfo | null = null): void {
    if (this.devices.seen(sn, remote, info)) this.hooks.status?.(this.devices.status(sn));
  }

  private handshake(sn: string, remote: string | null, url: URL): string {
    const d = this.state.get(sn);
    this.devices.seen(sn, remote, { pushVersion: url.searchParams.get('pushver') });
    this.hooks.status?.(this.devices.status(sn));
    const attlog = d.attlogStamp ?? (this.settings.history === 'new' ? '9999' : null);
    const now = this.now();
    this.zoneSent(sn, timeZoneValue(this.zoneOf(sn), now));
    return handshakeReply(
      sn,
      this.zoneOf(sn),
      { attlog, operlog: d.operlogStamp ?? '9999', photo: null },
      this.settings.handshake,
      now,
    );
  }

  private async body(req: IncomingMessage): Promise<Buffer> {
    if (!contentTypeOk(req.headers['content-type']))
      throw new BodyError(
        415,
        `content type ${JSON.stringify(req.headers['content-type'])} is not accepted (send text/plain)`,
      );
    return readBody(req, this.settings.maxBodyBytes, this.settings.bodyTimeoutMs);
  }

  private async upload(
    sn: string,
    dev: AllowedDevice,
    url: URL,
    req: IncomingMessage,
    remote: string | null,
  ): Promise<string> {
    const table = (url.searchParams.get('table') ?? '').toUpperCase();
    if (!/^[A-Z0-9_]{1,32}$/.test(table))
      throw new Reply(400, 'BAD TABLE', `missing or malformed table (${JSON.stringify(table.slice(0, 40))})`);
    const raw = await this.body(req);
    const stamp = url.searchParams.get('Stamp') ?? url.searchParams.get('stamp');
    const cleanStamp = stamp !== null && /^\d{1,20}$/.test(stamp) ? stamp : null;
    const receivedAt = new Date().toISOString();
    const codePage = dev.codePage ?? this.settings.codePage;
    if (table === 'ATTLOG') {
      // Never refused for its content: bad lines (control characters, bytes not in the code page, bad dates)
      // are reported and the rest stored, or the device would send the same post forever.
      const { records, bad } = await parseAttlogBytes(
        raw,
        {
          deviceSn: sn,
          deviceName: dev.name,
          site: dev.site ?? this.settings.defaultSite,
          deviceHost: null,
          tz: dev.tz ?? this.settings.defaultTz,
          source: 'push',
          receivedAt,
          notAfterMs: Date.now() + this.settings.futureToleranceMs,
        },
        codePage,
      );
      if (records.length > 0) {
        try {
          // Durable before OK: the device deletes nothing, but it moves its cursor on our OK.
          await this.journal.append({ deviceSn: sn, stamp: cleanStamp, receivedAt, records });
        } catch (err) {
          this.hooks.error?.(
            new Error(`zk-push: journal write failed, device ${sn} will resend: ${(err as Error).message}`),
          );
          throw new Reply(503, 'RETRY', `journal write failed: ${(err as Error).message}`);
        }
      }
      const d = this.state.get(sn);
      if (cleanStamp !== null && d.attlogStamp !== cleanStamp) {
        d.attlogStamp = cleanStamp;
        this.state.changed();
      }
      this.devices.seen(sn, remote, null);
      this.devices.posted(sn, records.length, bad.length, cleanStamp);
      if (bad.length > 0) this.hooks.badLines?.(sn, bad);
      this.hooks.status?.(this.devices.status(sn));
      return 'OK';
    }
    const text = TEXT_TABLES.has(table) ? decodeLenient(raw, codePage) : null;
    if (TEXT_TABLES.has(table) && text === null)
      throw new Reply(400, 'BAD REQUEST', `device ${sn}: ${table} body contains NUL bytes`);
    if ((table === 'OPERLOG' || table === 'USERINFO') && text !== null) this.hooks.userLines?.(sn, text);
    if (table === 'OPERLOG' && cleanStamp !== null) {
      const d = this.state.get(sn);
      if (d.operlogStamp !== cleanStamp) {
        d.operlogStamp = cleanStamp;
        this.state.changed();
      }
    }
    if (table === 'OPTIONS' && text !== null) {
      const options = parseOptionList(text);
      this.heard(sn, remote, infoFromFields(options));
      if (this.commands.pending(sn).some((c) => c.state === 'sent' && /^INFO$/i.test(c.command)))
        this.infoPosted.set(sn, options);
      this.hooks.options?.({ deviceSn: sn, options, receivedAt });
    } else {
      this.heard(sn, remote);
    }
    if (this.settings.otherTables === 'pass')
      this.hooks.table?.({ deviceSn: sn, table, body: text ?? raw, receivedAt });
    return 'OK';
  }

  private async commandResults(sn: string, req: IncomingMessage, remote: string | null): Promise<string> {
    const text = decodeLenient(await this.body(req));
    if (text === null) throw new Reply(400, 'BAD REQUEST', `device ${sn}: devicecmd body contains NUL bytes`);
    const results = parseCommandResults(text);
    let info: DeviceInfo | null = null;
    for (const r of results) {
      if (/^INFO$/i.test(r.cmd) && this.infoPosted.has(sn)) {
        // Details the device posted as options for this INFO; its own answer's fields win.
        r.fields = { ...this.infoPosted.get(sn), ...r.fields };
        this.infoPosted.delete(sn);
      }
      info = infoFromFields(r.fields) ?? info;
    }
    this.heard(sn, remote, info);
    const { answered, unmatched } = this.commands.answer(sn, results);
    for (const a of answered) {
      this.hooks.command?.({
        deviceSn: sn,
        id: a.command.id,
        command: a.command.command,
        state: 'answered',
        returnCode: Number.isNaN(a.result.returnCode) ? null : a.result.returnCode,
        result: a.result,
      });
    }
    for (const u of unmatched) {
      this.hooks.command?.({
        deviceSn: sn,
        id: u.id,
        command: null,
        state: 'unmatched',
        returnCode: Number.isNaN(u.returnCode) ? null : u.returnCode,
        result: u,
      });
    }
    return 'OK';
  }

  private reject(r: Rejection): void {
    const key = `${r.deviceSn ?? r.remoteAddress}|${r.status}`;
    const now = Date.now();
    if ((this.lastRejection.get(key) ?? 0) > now - 60_000) return;
    if (this.lastRejection.size > 10_000) this.lastRejection.clear();
    this.lastRejection.set(key, now);
    this.hooks.rejected?.(r);
  }

  private send(res: ServerResponse, status: number, body: string, close = false): void {
    if (res.headersSent || res.writableEnded) return;
    // Firmware sets its clock from Date on text/plain replies; some sites must not have that.
    res.sendDate = this.settings.sendDate;
    const headers: Record<string, string | number> = {
      'Content-Type': 'text/plain',
      'Content-Length': Buffer.byteLength(body),
      'Cache-Control': 'no-store',
    };
    // The connection ends after the reply, with whatever of the body was still to come.
    if (close) headers.Connection = 'close';
    res.writeHead(status, headers);
    res.end(body);
  }
}
