/** A push server on a loopback port with a temp journal, and a raw HTTP client, for the push specs. */
import * as fs from 'fs';
import * as http from 'http';
import * as os from 'os';
import * as path from 'path';
import { PushJournal, PushJournalWriter, JournalEntry } from '../../lib/push/journal';
import { listenPush, PushListener } from '../../lib/push/listener';
import { PushHooks, PushServer, CommandOutcome, DeviceOptions, Rejection, RawTable } from '../../lib/push/server';
import { pushDefaults, PushServerSettings } from '../../lib/push/settings';
import { PushState } from '../../lib/push/state';
import type { PushStatusEvent } from '../../lib/push/devices';
import type { BadLine } from '../../lib/push/attlog';
import type { AllowedDevice } from '../../lib/push/allow-list';

export interface Seen {
  statuses: PushStatusEvent[];
  bad: BadLine[];
  tables: RawTable[];
  commands: CommandOutcome[];
  options: DeviceOptions[];
  rejected: Rejection[];
  entries: JournalEntry[];
  errors: Error[];
}

export interface Running {
  server: PushServer;
  listener: PushListener;
  journal: PushJournal;
  state: PushState;
  url: string;
  dir: string;
  seen: Seen;
  close(): Promise<void>;
}

export function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'punchflow-push-'));
}

/** Starts a server; `wrap` may replace the journal writer (failure injection). The pump collects entries. */
export async function startPush(
  partial: Partial<PushServerSettings> = {},
  opts: { dir?: string; wrap?: (j: PushJournal) => PushJournalWriter; now?: () => number } = {},
): Promise<Running> {
  const dir = opts.dir ?? tempDir();
  const seen: Seen = {
    statuses: [],
    bad: [],
    tables: [],
    commands: [],
    options: [],
    rejected: [],
    entries: [],
    errors: [],
  };
  const hooks: PushHooks = {
    status: (e) => seen.statuses.push(e),
    badLines: (_sn, b) => seen.bad.push(...b),
    table: (t) => seen.tables.push(t),
    command: (c) => seen.commands.push(c),
    options: (o) => seen.options.push(o),
    rejected: (r) => seen.rejected.push(r),
    error: (e) => seen.errors.push(e),
  };
  const state = await PushState.open(path.join(dir, 'state.json'), { saveDelayMs: 50 });
  const journal = await PushJournal.open(path.join(dir, 'journal'));
  journal.start((e) => void seen.entries.push(e));
  const server = new PushServer(pushDefaults(partial), opts.wrap ? opts.wrap(journal) : journal, state, hooks, {
    now: opts.now,
  });
  const listener = await listenPush(server, 0, '127.0.0.1');
  return {
    server,
    listener,
    journal,
    state,
    dir,
    seen,
    url: `http://127.0.0.1:${listener.port}`,
    close: async () => {
      server.stopSweeps();
      await listener.close();
      await journal.close();
      await state.close();
    },
  };
}

export interface RawReply {
  status: number;
  body: string;
  headers: http.IncomingHttpHeaders;
}

/** One request on a fresh connection (no agent), so a test controls exactly what is sent. */
export function send(
  base: string,
  method: string,
  pathAndQuery: string,
  body?: string | Buffer,
  headers: Record<string, string | number> = {},
): Promise<RawReply> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : Buffer.isBuffer(body) ? body : Buffer.from(body, 'utf8');
    const h: Record<string, string | number> = { ...headers };
    if (data && h['Content-Type'] === undefined) h['Content-Type'] = 'text/plain';
    if (data) h['Content-Length'] = data.length;
    const req = http.request(`${base}${pathAndQuery}`, { method, headers: h, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), headers: res.headers }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(data);
  });
}

export function devices(...sns: Array<string | [string, string]>): Map<string, AllowedDevice> {
  const m = new Map<string, AllowedDevice>();
  for (const x of sns) {
    if (Array.isArray(x)) m.set(x[0], { sn: x[0], name: null, site: null, tz: x[1] });
    else m.set(x, { sn: x, name: null, site: null, tz: null });
  }
  return m;
}
