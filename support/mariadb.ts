/**
 * A throwaway MariaDB for the MySQL sink tests and bench/sink (docs/targets.md §5.7): the Debian server binaries,
 * a fresh data directory under the temp dir, TCP on 127.0.0.1 with a free port, a database and a real
 * password user (mysql2 talks TCP + password, as customers' installs do; root stays on the socket).
 *
 * No mocha globals here (support/ is shared with bench/). Spec files call `sharedMariaDb()` in a `before` hook:
 * one server per process (start-up is ~1 s in CI), stopped by `stopSharedMariaDb()` from a root-level
 * `after` and, as a safety net, killed synchronously when the process exits (mocha --exit).
 */
import { ChildProcess, spawn, execFile } from 'child_process';
import { randomBytes } from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { promisify } from 'util';
import * as mysql from 'mysql2/promise';
import { freePort } from './ports';
import { sleep } from './wait';

const execFileP = promisify(execFile);

export interface MariaDbBinaries {
  mariadbd: string;
  installDb: string;
}

export interface MariaDbOptions {
  /** Parent of the temp directory; default os.tmpdir(). */
  baseDir?: string;
  database?: string;
  user?: string;
  /** Extra mariadbd options, e.g. ['--max-allowed-packet=1M']. */
  serverArgs?: string[];
  /** How long start() waits for the server to accept connections. */
  startTimeoutMs?: number;
}

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function which(names: string[], extraDirs: string[]): string | null {
  const dirs = [...extraDirs, ...(process.env.PATH ?? '').split(path.delimiter).filter(Boolean)];
  for (const name of names) {
    for (const dir of dirs) {
      const file = path.join(dir, name);
      if (isExecutable(file)) return file;
    }
  }
  return null;
}

/** Finds the server and the installer; PUNCHFLOW_MARIADBD / PUNCHFLOW_MARIADB_INSTALL_DB override. */
export function findMariaDbBinaries(): MariaDbBinaries | null {
  const sbin = ['/usr/sbin', '/usr/local/sbin', '/usr/bin', '/usr/local/bin'];
  const mariadbd = process.env.PUNCHFLOW_MARIADBD ?? which(['mariadbd', 'mysqld'], sbin);
  const installDb = process.env.PUNCHFLOW_MARIADB_INSTALL_DB ?? which(['mariadb-install-db', 'mysql_install_db'], sbin);
  return mariadbd && installDb ? { mariadbd, installDb } : null;
}

// mariadbd refuses to run as root unless told to; as another user it runs as that user.
const runAs = (): string[] => (process.getuid?.() === 0 ? ['--user=root'] : []);

export class MariaDbServer {
  readonly host = '127.0.0.1';
  port = 0;
  readonly database: string;
  readonly user: string;
  readonly password = randomBytes(12).toString('hex');
  readonly dir: string;
  readonly socketPath: string;
  private readonly dataDir: string;
  private readonly errorLog: string;
  private child: ChildProcess | null = null;
  private exited: Promise<void> = Promise.resolve();
  private destroyed = false;
  private readonly onExit = (): void => this.destroySync();

  private constructor(
    private readonly bin: MariaDbBinaries,
    private readonly opts: MariaDbOptions,
  ) {
    this.database = opts.database ?? 'punchflow_test';
    this.user = opts.user ?? 'pf';
    this.dir = fs.mkdtempSync(path.join(opts.baseDir ?? os.tmpdir(), 'punchflow-mariadb-'));
    this.dataDir = path.join(this.dir, 'data');
    this.socketPath = path.join(this.dir, 'mysqld.sock');
    this.errorLog = path.join(this.dir, 'error.log');
    process.once('exit', this.onExit);
  }

  /** Installs a data directory, starts the server, creates the database and the user. */
  static async create(
    opts: MariaDbOptions = {},
    bin: MariaDbBinaries | null = findMariaDbBinaries(),
  ): Promise<MariaDbServer> {
    if (!bin) throw new Error('MariaDB server binaries not found (apt-get install mariadb-server)');
    const s = new MariaDbServer(bin, opts);
    try {
      await execFileP(
        bin.installDb,
        [
          '--no-defaults', // first, so no system my.cnf leaks in
          `--datadir=${s.dataDir}`,
          '--auth-root-authentication-method=normal', // root with an empty password, reachable only on our socket
          '--skip-test-db',
          '--skip-name-resolve',
          ...runAs(),
        ],
        { timeout: 60000 },
      );
      // Another process can take the port between freePort() and bind(): try a few.
      for (let attempt = 1; ; attempt++) {
        s.port = await freePort();
        try {
          await s.start();
          break;
        } catch (err) {
          if (attempt >= 3 || !/bind|address already in use/i.test(s.errorLogTail())) throw err;
        }
      }
      await s.rootQuery([
        `CREATE DATABASE \`${s.database}\` CHARACTER SET utf8mb4`,
        `CREATE USER '${s.user}'@'127.0.0.1' IDENTIFIED BY '${s.password}'`,
        `GRANT ALL ON \`${s.database}\`.* TO '${s.user}'@'127.0.0.1'`,
      ]);
      return s;
    } catch (err) {
      await s.destroy();
      throw err;
    }
  }

  get running(): boolean {
    return this.child !== null;
  }

  /** Connection options for mysql2 as the test user over TCP. */
  connectionOptions(): mysql.ConnectionOptions {
    return { host: this.host, port: this.port, user: this.user, password: this.password, database: this.database };
  }

  get url(): string {
    return `mysql://${this.user}:${this.password}@${this.host}:${this.port}/${this.database}`;
  }

  /** Starts (or restarts, after stop()) the server on the same data directory and port. */
  async start(): Promise<void> {
    if (this.destroyed) throw new Error('MariaDB server already destroyed');
    if (this.child) return;
    fs.rmSync(this.socketPath, { force: true });
    const child = spawn(
      this.bin.mariadbd,
      [
        '--no-defaults',
        `--datadir=${this.dataDir}`,
        `--socket=${this.socketPath}`,
        `--pid-file=${path.join(this.dir, 'mysqld.pid')}`,
        `--log-error=${this.errorLog}`,
        `--port=${this.port}`,
        '--bind-address=127.0.0.1',
        '--skip-name-resolve',
        ...runAs(),
        ...(this.opts.serverArgs ?? []),
      ],
      { stdio: 'ignore' },
    );
    // Not holding the event loop: the exit hook kills it if nobody stops it.
    child.unref();
    this.child = child;
    let exitedEarly = false;
    this.exited = new Promise((resolve) => {
      child.once('exit', () => {
        exitedEarly = true;
        if (this.child === child) this.child = null;
        resolve();
      });
    });
    const deadline = Date.now() + (this.opts.startTimeoutMs ?? 30000);
    for (;;) {
      if (exitedEarly) throw new Error(`mariadbd exited during start-up:\n${this.errorLogTail()}`);
      if (fs.existsSync(this.socketPath)) {
        try {
          const c = await mysql.createConnection({ socketPath: this.socketPath, user: 'root', password: '' });
          await c.end();
          return;
        } catch {
          // still starting
        }
      }
      if (Date.now() > deadline) {
        await this.stop();
        throw new Error(`mariadbd not ready after ${this.opts.startTimeoutMs ?? 30000} ms:\n${this.errorLogTail()}`);
      }
      await sleep(50);
    }
  }

  /** Stops the server: SIGTERM (clean shutdown) or SIGKILL (crash); resolves when the process is gone. */
  async stop(signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): Promise<void> {
    const child = this.child;
    if (!child) return;
    child.kill(signal);
    const forced = setTimeout(() => child.kill('SIGKILL'), 20000);
    await this.exited;
    clearTimeout(forced);
  }

  /** Stops the server and removes its directory. */
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    await this.stop().catch(() => undefined);
    this.destroyed = true;
    process.removeListener('exit', this.onExit);
    fs.rmSync(this.dir, { recursive: true, force: true });
  }

  /** Synchronous last resort for process exit: no clean shutdown, the data is thrown away anyway. */
  private destroySync(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    try {
      this.child?.kill('SIGKILL');
    } catch {
      // already gone
    }
    try {
      fs.rmSync(this.dir, { recursive: true, force: true });
    } catch {
      // files still held by the dying server: the temp dir is the OS's to clean
    }
  }

  /** Runs statements as root over the socket (setup and checks the test user may not do). */
  async rootQuery(statements: string[]): Promise<unknown[]> {
    const c = await mysql.createConnection({
      socketPath: this.socketPath,
      user: 'root',
      password: '',
      multipleStatements: false,
    });
    try {
      const out: unknown[] = [];
      for (const sql of statements) out.push((await c.query(sql))[0]);
      return out;
    } finally {
      await c.end();
    }
  }

  errorLogTail(lines = 20): string {
    try {
      return fs.readFileSync(this.errorLog, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
    } catch {
      return '(no error log)';
    }
  }
}

let shared: Promise<MariaDbServer | null> | null = null;

/**
 * The one server of this process, started on first use. Null (tests skip, reason printed) when the
 * binaries are missing, except under CI=true, where a missing server is a failure.
 */
export function sharedMariaDb(): Promise<MariaDbServer | null> {
  if (!shared) {
    const bin = findMariaDbBinaries();
    if (!bin) {
      const why = 'MariaDB server binaries not found (mariadbd, mariadb-install-db): apt-get install mariadb-server';
      if (process.env.CI === 'true') shared = Promise.reject(new Error(why));
      else {
        process.stderr.write(`skipping MySQL sink integration tests: ${why}\n`);
        shared = Promise.resolve(null);
      }
    } else {
      shared = MariaDbServer.create({}, bin);
    }
  }
  return shared;
}

export async function stopSharedMariaDb(): Promise<void> {
  const p = shared;
  shared = null;
  const s = await p?.catch(() => null);
  await s?.destroy();
}

/** A pool as the test user, with the connection settings the sink uses for reading back exact strings. */
export function testPool(server: MariaDbServer): mysql.Pool {
  return mysql.createPool({
    ...server.connectionOptions(),
    connectionLimit: 2,
    dateStrings: true,
    timezone: 'Z',
    charset: 'utf8mb4',
  });
}
