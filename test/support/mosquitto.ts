/**
 * A throwaway Mosquitto broker (Debian's `mosquitto`) for the MQTT tests: 127.0.0.1 on a free port, a
 * config and a persistence directory under the temp dir, optional password file. stop() ends it the way
 * a service manager does (SIGTERM: it saves its database), kill() with SIGKILL; start() again on the same
 * port resumes from what was saved. Killed synchronously when the test process exits (mocha --exit).
 * No mocha globals here, so benches can use it too.
 */
import { ChildProcess, execFileSync, spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { canConnect, freePort } from '../../support/ports';
import { sleep } from '../../support/wait';

export function findMosquitto(): string | null {
  const candidates = [
    process.env.PUNCHFLOW_MOSQUITTO,
    '/usr/sbin/mosquitto',
    '/usr/bin/mosquitto',
    '/usr/local/sbin/mosquitto',
  ];
  for (const c of candidates) if (c && fs.existsSync(c)) return c;
  return null;
}

export interface MosquittoOptions {
  /** username → password; when set, anonymous clients are refused. */
  users?: Record<string, string>;
  /** Extra config lines. */
  config?: string[];
}

export class MosquittoBroker {
  readonly host = '127.0.0.1';
  port = 0;
  readonly dir: string;
  private child: ChildProcess | null = null;
  private exited: Promise<void> = Promise.resolve();
  private output = '';
  private readonly onExit = (): void => {
    this.child?.kill('SIGKILL');
    fs.rmSync(this.dir, { recursive: true, force: true });
  };

  private constructor(
    private readonly bin: string,
    private readonly opts: MosquittoOptions,
  ) {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'punchflow-mosquitto-'));
    process.once('exit', this.onExit);
  }

  static async create(opts: MosquittoOptions = {}): Promise<MosquittoBroker> {
    const bin = findMosquitto();
    if (!bin) throw new Error('mosquitto not found (apt-get install mosquitto)');
    const b = new MosquittoBroker(bin, opts);
    for (let attempt = 1; ; attempt++) {
      b.port = await freePort();
      try {
        await b.start();
        return b;
      } catch (err) {
        if (attempt >= 3) {
          await b.destroy();
          throw err;
        }
      }
    }
  }

  get url(): string {
    return `mqtt://${this.host}:${this.port}`;
  }

  get running(): boolean {
    return this.child !== null;
  }

  private writeConfig(): string {
    const lines = [
      `listener ${this.port} ${this.host}`,
      'persistence true',
      `persistence_location ${this.dir}/`,
      'autosave_interval 1',
      // Every queued message kept for an offline persistent session (the sink instances' sessions).
      'max_queued_messages 0',
      'log_dest stderr',
      'log_type error',
      'log_type warning',
    ];
    if (this.opts.users) {
      const pwFile = path.join(this.dir, 'passwd');
      fs.writeFileSync(pwFile, '');
      for (const [u, p] of Object.entries(this.opts.users)) execFileSync('mosquitto_passwd', ['-b', pwFile, u, p]);
      lines.push('allow_anonymous false', `password_file ${pwFile}`);
    } else {
      lines.push('allow_anonymous true');
    }
    lines.push(...(this.opts.config ?? []));
    const file = path.join(this.dir, 'mosquitto.conf');
    fs.writeFileSync(file, lines.join('\n') + '\n');
    return file;
  }

  /** Starts (or restarts) the broker on its port and waits until it accepts connections. */
  async start(): Promise<void> {
    if (this.child) return;
    const conf = this.writeConfig();
    // Mosquitto drops privileges to 'mosquitto' when started as root unless told otherwise; the temp dir is ours.
    if (process.getuid?.() === 0) fs.appendFileSync(conf, 'user root\n');
    const child = spawn(this.bin, ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.output = '';
    child.stderr?.on('data', (d: Buffer) => (this.output = (this.output + d.toString()).slice(-4000)));
    this.child = child;
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    void this.exited.then(() => {
      if (this.child === child) this.child = null;
    });
    const end = Date.now() + 10_000;
    for (;;) {
      if (!this.child) throw new Error(`mosquitto exited at start: ${this.output}`);
      if (await canConnect(this.host, this.port)) return;
      if (Date.now() > end) throw new Error(`mosquitto did not listen on ${this.port} within 10 s: ${this.output}`);
      await sleep(50);
    }
  }

  /** SIGTERM, as a service manager stops it: the broker saves its persistence file first. */
  async stop(): Promise<void> {
    if (!this.child) return;
    this.child.kill('SIGTERM');
    await this.exited;
  }

  async kill(): Promise<void> {
    if (!this.child) return;
    this.child.kill('SIGKILL');
    await this.exited;
  }

  async destroy(): Promise<void> {
    await this.kill();
    process.off('exit', this.onExit);
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
