/**
 * End-to-end harness: a real Node-RED runtime (the node-red dev dependency) with the built PunchFlow package
 * and both dashboards, in a child process (scripts/node-red-embed.js, the same embedding `npm start` uses).
 *
 * Why a child process: RED.stop() is final for a process, and node-red-node-test-helper (the node tests,
 * which share the mocha process under `npm test`) patches the same node-red module. A child gives each
 * spec file its own clean runtime and keeps the two apart.
 *
 *   const rt = await startRuntime({ env: { PUNCHFLOW_FLEET: csv } });
 *   await rt.deploy(loadFlowFile('flows/demo.json'));
 *   rt.baseUrl, rt.adminUrl ('…/admin'), rt.uiUrl ('…/ui/'), rt.logs, rt.errorsSince(mark)
 *   await rt.stop();
 *
 * Needs `npm run build` first (dist/ is what Node-RED loads).
 */
import { ChildProcess, fork } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { sleep, until } from '../../support/wait';

export const REPO_ROOT = path.resolve(__dirname, '..', '..');
const EMBED = path.join(REPO_ROOT, 'scripts', 'node-red-embed.js');

/** Node-RED log levels: fatal 10, error 20, warn 30, info 40, debug 50, trace 60. */
export interface LogEntry {
  level: number;
  levelName: string;
  msg: string;
  type: string | null;
  id: string | null;
  name: string | null;
  z: string | null;
  timestamp: number;
}

/** One message delivery (postDeliver hook), when started with `deliveries: true`. Payloads over 20 kB are summarised. */
export interface Delivery {
  source: { id: string; type: string; port: number };
  destination: { id: string; type: string };
  topic: unknown;
  payload: unknown;
}

export type FlowNode = { id: string; type: string; [k: string]: unknown };

export interface RuntimeOptions {
  /** Editor and admin API root; default '/admin'. false: no editor and no admin API. */
  adminRoot?: string | false;
  /** Environment for the runtime (for `${VAR}` in node properties); setEnv() changes it later. */
  env?: Record<string, string>;
  /** Record every message delivery in `deliveries`. Default false. */
  deliveries?: boolean;
  /** User directory; default a fresh temporary one, removed by stop(). */
  userDir?: string;
  /** Flows written to the flow file before start (default none). */
  flows?: FlowNode[];
  /** Lowest level captured in `logs`: 'info' (default), 'debug', 'trace'. */
  captureLevel?: 'info' | 'debug' | 'trace';
  /** Extra Node-RED settings (JSON-serialisable). */
  settings?: Record<string, unknown>;
  /** How long to wait for start, ms. Default 30000. */
  startTimeoutMs?: number;
  /** Node binary for the runtime; default PUNCHFLOW_E2E_NODE, else the Node running the tests. */
  nodeBin?: string;
}

export interface DeployResult {
  rev: string;
  /** Log entries written while deploying and settling. */
  logs: LogEntry[];
}

type ChildMsg =
  | { type: 'ready'; port: number; baseUrl: string; adminUrl: string | null; uiUrl: string }
  | { type: 'failed'; error: string }
  | { type: 'log'; entry: LogEntry }
  | ({ type: 'deliver' } & Delivery)
  | { type: 'env-set'; seq: number }
  | { type: 'stopped' };

export class E2eRuntime {
  readonly logs: LogEntry[] = [];
  readonly deliveries: Delivery[] = [];
  /** The child's own stdout/stderr (Node-RED console logging is off unless NODE_RED_E2E_CONSOLE is set). */
  output = '';
  baseUrl = '';
  /** '…/admin' (no trailing slash), or null without the admin API. */
  adminUrl: string | null = null;
  uiUrl = '';
  port = 0;
  private exited: Promise<number | null>;
  private envSeq = 0;
  private readonly envWaiters = new Map<number, () => void>();
  private stopped = false;

  constructor(
    private readonly child: ChildProcess,
    readonly userDir: string,
    private readonly ownUserDir: boolean,
  ) {
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
    child.stdout?.on('data', (d: Buffer) => (this.output += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (this.output += d.toString()));
    child.on('message', (m: ChildMsg) => {
      if (m.type === 'log') this.logs.push(m.entry);
      else if (m.type === 'deliver')
        this.deliveries.push({ source: m.source, destination: m.destination, topic: m.topic, payload: m.payload });
      else if (m.type === 'env-set') this.envWaiters.get(m.seq)?.();
    });
  }

  /** Resolves when the runtime is listening and flows are loaded. */
  ready(timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`Node-RED did not start within ${timeoutMs} ms\n${this.output}`)),
        timeoutMs,
      );
      const onMsg = (m: ChildMsg) => {
        if (m.type === 'ready') {
          clearTimeout(timer);
          this.child.off('message', onMsg);
          Object.assign(this, { port: m.port, baseUrl: m.baseUrl, adminUrl: m.adminUrl, uiUrl: m.uiUrl });
          resolve();
        } else if (m.type === 'failed') {
          clearTimeout(timer);
          reject(new Error(`Node-RED failed to start: ${m.error}`));
        }
      };
      this.child.on('message', onMsg);
      void this.exited.then((code) => {
        clearTimeout(timer);
        reject(new Error(`Node-RED exited (code ${code}) before it was ready\n${this.output}`));
      });
    });
  }

  /** A position in `logs`, for logsSince / errorsSince. */
  mark(): number {
    return this.logs.length;
  }

  logsSince(mark: number): LogEntry[] {
    return this.logs.slice(mark);
  }

  /** Entries at level error or fatal since the mark. */
  errorsSince(mark: number): LogEntry[] {
    return this.logsSince(mark).filter((e) => e.level <= 20 && e.level > 1);
  }

  waitForLog(pred: (e: LogEntry) => boolean, timeoutMs: number, fromMark = 0): Promise<LogEntry> {
    return until(() => this.logs.slice(fromMark).find(pred), timeoutMs, 'a log entry', 50);
  }

  /** Sets (string) or removes (null) environment variables of the runtime; used by the next deploy. */
  async setEnv(vars: Record<string, string | null>): Promise<void> {
    const seq = ++this.envSeq;
    const done = new Promise<void>((resolve) => this.envWaiters.set(seq, resolve));
    this.child.send({ type: 'env', seq, vars });
    await Promise.race([done, sleep(5000).then(() => Promise.reject(new Error('runtime did not confirm setEnv')))]);
    this.envWaiters.delete(seq);
  }

  /** A request to the admin API (path relative to adminUrl, e.g. '/nodes'). JSON in and out. */
  async admin<T = unknown>(
    method: string,
    p: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<{ status: number; body: T }> {
    if (!this.adminUrl) throw new Error('this runtime has no admin API (adminRoot: false)');
    const res = await fetch(this.adminUrl + p, {
      method,
      headers: {
        Accept: 'application/json',
        ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}),
        ...headers,
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      // not JSON: keep the text
    }
    return { status: res.status, body: parsed as T };
  }

  /**
   * Full deploy through the admin API (`POST /flows`, API v2, deployment type full), as the editor does.
   * Node credentials may ride on the nodes (`credentials: {…}`), as the editor sends them. Waits `settleMs`
   * (default 500) after the runtime answered, then returns the log entries written meanwhile.
   */
  async deploy(flows: FlowNode[], opts: { settleMs?: number } = {}): Promise<DeployResult> {
    const mark = this.mark();
    const current = await this.admin<{ rev: string }>('GET', '/flows', undefined, { 'Node-RED-API-Version': 'v2' });
    if (current.status !== 200) throw new Error(`GET /flows answered ${current.status}`);
    const res = await this.admin<{ rev: string }>(
      'POST',
      '/flows',
      { rev: current.body.rev, flows },
      {
        'Node-RED-API-Version': 'v2',
        'Node-RED-Deployment-Type': 'full',
      },
    );
    if (res.status !== 200) throw new Error(`deploy failed: ${res.status} ${JSON.stringify(res.body)}`);
    await sleep(opts.settleMs ?? 500);
    return { rev: res.body.rev, logs: this.logsSince(mark) };
  }

  /** Stops every flow (deploys an empty flow set). */
  async clearFlows(): Promise<void> {
    await this.deploy([], { settleMs: 0 });
  }

  /** Every node type the runtime knows and has enabled (GET /nodes), with the module that provides it. */
  async nodeTypes(): Promise<Map<string, string>> {
    const res = await this.admin<{ module: string; types: string[]; enabled: boolean; err?: string }[]>(
      'GET',
      '/nodes',
    );
    if (res.status !== 200) throw new Error(`GET /nodes answered ${res.status}`);
    const out = new Map<string, string>();
    for (const set of res.body) if (set.enabled && !set.err) for (const t of set.types) out.set(t, set.module);
    return out;
  }

  /** Node sets that failed to load (GET /nodes entries with `err`). */
  async failedNodeSets(): Promise<{ module: string; name: string; err: string }[]> {
    const res = await this.admin<{ module: string; name: string; err?: string }[]>('GET', '/nodes');
    return res.body.filter((s) => s.err).map((s) => ({ module: s.module, name: s.name, err: String(s.err) }));
  }

  /** A node's context store (admin API `GET /context/node/:id`), flattened to key → value. */
  async nodeContext(id: string): Promise<Record<string, unknown>> {
    const res = await this.admin<Record<string, Record<string, { msg: string }>>>('GET', `/context/node/${id}`);
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(res.body?.memory ?? {})) out[k] = v?.msg;
    return out;
  }

  /** SIGKILL, as a crash: nothing is flushed or closed, and the user directory stays for a restart on it. */
  async kill(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.child.kill('SIGKILL');
    await this.exited;
  }

  /** Stops flows and the runtime, then removes the temporary user directory. Idempotent. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.child.exitCode === null && this.child.connected) this.child.send({ type: 'stop' });
    const code = await Promise.race([this.exited, sleep(20_000).then(() => 'timeout' as const)]);
    if (code === 'timeout') {
      this.child.kill('SIGKILL');
      await this.exited;
    }
    if (this.ownUserDir) fs.rmSync(this.userDir, { recursive: true, force: true });
  }
}

/** Starts Node-RED in a child process and waits until it listens. */
export async function startRuntime(opts: RuntimeOptions = {}): Promise<E2eRuntime> {
  if (!fs.existsSync(path.join(REPO_ROOT, 'dist', 'nodes')))
    throw new Error('dist/ is missing: run `npm run build` first');
  const ownUserDir = !opts.userDir;
  const userDir = opts.userDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'punchflow-e2e-'));
  if (opts.flows) fs.writeFileSync(path.join(userDir, 'flows.json'), JSON.stringify(opts.flows, null, 2));
  const embed = {
    userDir,
    host: '127.0.0.1',
    port: 0,
    adminRoot: opts.adminRoot === undefined ? '/admin' : opts.adminRoot,
    consoleLevel: process.env.NODE_RED_E2E_CONSOLE || 'off',
    captureLevel: opts.captureLevel ?? 'info',
    deliveries: !!opts.deliveries,
    settings: opts.settings,
  };
  const child = fork(EMBED, [], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...(opts.env ?? {}), PUNCHFLOW_EMBED_OPTIONS: JSON.stringify(embed) },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    // The parent may run under ts-node: the child is plain JavaScript.
    execArgv: [],
    execPath: opts.nodeBin ?? (process.env.PUNCHFLOW_E2E_NODE || process.execPath),
  });
  const rt = new E2eRuntime(child, userDir, ownUserDir);
  try {
    await rt.ready(opts.startTimeoutMs ?? 30_000);
  } catch (err) {
    await rt.stop();
    throw err;
  }
  return rt;
}

/** A flow file as an array of nodes (a plain array, or the `{flows: […]}` form). */
export function loadFlowFile(file: string): FlowNode[] {
  const abs = path.isAbsolute(file) ? file : path.join(REPO_ROOT, file);
  const parsed: unknown = JSON.parse(fs.readFileSync(abs, 'utf8'));
  const list = Array.isArray(parsed) ? parsed : (parsed as { flows?: unknown }).flows;
  if (!Array.isArray(list)) throw new Error(`${file}: not an array of nodes`);
  return list as FlowNode[];
}

/** Every shipped flow: flows/*.json and examples/**\/*.json, relative to the repository root, sorted. */
export function shippedFlowFiles(): string[] {
  const out: string[] = [];
  const walk = (dir: string, deep: boolean) => {
    const abs = path.join(REPO_ROOT, dir);
    if (!fs.existsSync(abs)) return;
    for (const e of fs.readdirSync(abs, { withFileTypes: true })) {
      const rel = path.join(dir, e.name);
      // examples/flows/ is the build's copy of flows/ (for Import → Examples): the same flows, tested once.
      if (rel === path.join('examples', 'flows')) continue;
      if (e.isDirectory() && deep) walk(rel, deep);
      else if (e.isFile() && e.name.endsWith('.json')) out.push(rel);
    }
  };
  walk('flows', true);
  walk('examples', true);
  return out.sort();
}

/** Node types a flow uses that need a registered constructor (not tabs, groups, junctions or subflow instances of its own). */
export function flowNodeTypes(flow: FlowNode[]): Set<string> {
  const subflows = new Set(flow.filter((n) => n.type === 'subflow').map((n) => `subflow:${n.id}`));
  const structural = new Set(['tab', 'subflow', 'group', 'junction']);
  const out = new Set<string>();
  for (const n of flow) if (!structural.has(n.type) && !subflows.has(n.type)) out.add(n.type);
  return out;
}
