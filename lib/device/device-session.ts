import { EventEmitter } from 'events';
import { ZkClient, DeviceInfo, Logger } from '../client';
import { DeviceAttendance } from '../protocol/attendance';
import { AttendanceEvent } from '../protocol/events';
import { ZkError } from '../errors';
import { CanonicalResult, RecordSource, toCanonicalRecord } from '../record/canonical';
import { DeviceConfig, deviceKey } from './device-config';

export type DeviceState = 'online' | 'offline' | 'error' | 'busy';

export interface DeviceSessionOptions {
  logger?: Logger;
  /** Replaces the client factory (tests). */
  createClient?: (cfg: DeviceConfig) => ZkClient;
}

/**
 * One device's session: one connection at a time, every operation from every user serialised through one
 * queue, lazy (re)connect. A connection error discards the client so the next operation reconnects.
 * Emits 'state' (DeviceState, ZkError | null) on changes and 'disconnect' (ZkError | null) when a
 * connection ends.
 */
export class DeviceSession extends EventEmitter {
  readonly key: string;
  serial: string | null = null;
  lastInfo: DeviceInfo | null = null;
  state: DeviceState = 'offline';
  lastError: ZkError | null = null;
  private client: ZkClient | null = null;
  private tail: Promise<unknown> = Promise.resolve();
  private closed = false;
  private readonly logger: Logger;
  /** Operations waiting or running; the queue is how "one command at a time" holds across node types. */
  private queued = 0;

  constructor(
    readonly config: DeviceConfig,
    private readonly opts: DeviceSessionOptions = {},
  ) {
    super();
    this.key = deviceKey(config);
    this.logger = opts.logger ?? (() => undefined);
  }

  get label(): string {
    return this.config.name ? `${this.config.name} (${this.key})` : this.key;
  }

  get pending(): number {
    return this.queued;
  }

  /** The connected client, if any (for listeners such as live sessions). */
  get currentClient(): ZkClient | null {
    return this.client && this.client.connected ? this.client : null;
  }

  /** Runs `fn` with a connected client, after every operation queued before it. */
  run<T>(what: string, fn: (client: ZkClient) => Promise<T>): Promise<T> {
    if (this.closed)
      return Promise.reject(new ZkError('CONNECTION', `${this.label}: session closed (node removed or redeployed)`));
    this.queued++;
    const result = this.tail.then(() => this.execute(what, fn));
    // The queue continues whatever this operation's outcome.
    this.tail = result.then(
      () => undefined,
      () => undefined,
    );
    return result.finally(() => {
      this.queued--;
    });
  }

  /** Device info through the queue; remembers the serial. */
  info(): Promise<DeviceInfo> {
    return this.run('info', async (c) => {
      const info = await c.info();
      this.lastInfo = info;
      if (info.serial) this.serial = info.serial;
      return info;
    });
  }

  /** Serial, reading it once if not known yet. */
  async ensureSerial(): Promise<string> {
    if (this.serial) return this.serial;
    const info = await this.info();
    return info.serial ?? this.key;
  }

  /** The canonical record for this device, or the anomaly; never throws for device data. */
  canonical(
    rec: DeviceAttendance | AttendanceEvent,
    source: RecordSource,
    receivedAt?: string,
    notAfterMs?: number,
  ): CanonicalResult {
    const c = this.config;
    return toCanonicalRecord(rec, {
      deviceSn: this.serial ?? this.key,
      deviceName: c.name ?? this.lastInfo?.deviceName ?? null,
      site: c.site,
      deviceHost: this.key,
      tz: c.tz,
      source,
      receivedAt,
      directionMap: c.directionMap,
      directionOverride: c.directionOverride,
      notAfterMs,
    });
  }

  /** Closes the connection; later run() calls reject. Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    // Drop the connection first so a running operation fails fast instead of holding Node-RED's close.
    await this.dropClient(null);
    await this.tail;
    await this.dropClient(null);
  }

  /** Ends the current connection (e.g. after a heartbeat failure); the next run() reconnects. */
  async disconnect(reason: ZkError | null): Promise<void> {
    await this.dropClient(reason);
  }

  private async execute<T>(what: string, fn: (client: ZkClient) => Promise<T>): Promise<T> {
    if (this.closed) throw new ZkError('CONNECTION', `${this.label}: session closed`);
    let client: ZkClient;
    try {
      client = await this.connectIfNeeded();
    } catch (err) {
      this.setState(err instanceof ZkError && err.code === 'BUSY' ? 'busy' : 'error', err as ZkError);
      throw err;
    }
    try {
      const r = await fn(client);
      this.setState('online', null);
      return r;
    } catch (err) {
      const e = err as ZkError;
      if (
        !client.connected ||
        (e instanceof ZkError && (e.code === 'TIMEOUT' || e.code === 'CONNECTION' || e.code === 'PROTOCOL'))
      ) {
        // The link is gone or out of step: start the next operation on a fresh connection.
        await this.dropClient(e);
      }
      this.setState(e instanceof ZkError && e.code === 'BUSY' ? 'busy' : 'error', e);
      this.logger('warn', `${what} on ${this.label} failed: ${e.message}`);
      throw err;
    }
  }

  private async connectIfNeeded(): Promise<ZkClient> {
    if (this.client && this.client.connected) return this.client;
    if (this.client) await this.dropClient(null);
    const c = this.opts.createClient
      ? this.opts.createClient(this.config)
      : new ZkClient({
          host: this.config.host,
          port: this.config.port,
          transport: this.config.transport,
          commKey: this.config.commKey,
          timeoutMs: this.config.timeoutMs,
          tz: this.config.tz,
          nameEncoding: this.config.nameEncoding,
          heartbeatMs: this.config.heartbeatMs,
          logger: this.logger,
        });
    this.client = c;
    try {
      await c.connect();
    } catch (err) {
      this.client = null;
      await c.close();
      throw err;
    }
    return c;
  }

  private async dropClient(reason: ZkError | null): Promise<void> {
    const c = this.client;
    this.client = null;
    if (!c) return;
    await c.close();
    this.emit('disconnect', reason);
    if (reason) this.setState('offline', reason);
  }

  private setState(state: DeviceState, err: ZkError | null): void {
    if (err) this.lastError = err;
    if (state === this.state && !err) return;
    this.state = state;
    this.emit('state', state, err);
  }
}

/**
 * One session per host:port in the process, shared by every node that talks to that device
 * (docs/architecture.md §1: one connection at a time per device). Reference counted; the last release closes it.
 */
export class SessionRegistry {
  private readonly sessions = new Map<string, { session: DeviceSession; refs: number }>();

  acquire(config: DeviceConfig, opts?: DeviceSessionOptions): DeviceSession {
    const key = deviceKey(config);
    const entry = this.sessions.get(key);
    if (entry) {
      entry.refs++;
      // One connection per device: a second configuration for the same address shares the first one's
      // session, so differing connection settings would be silently ignored. Say so.
      const a = entry.session.config;
      const differs = (['transport', 'commKey', 'timeoutMs'] as const).filter((k) => a[k] !== config[k]);
      if (differs.length > 0) {
        opts?.logger?.(
          'warn',
          `${key} is already connected with other ${differs.join(', ')} settings; the first configuration is used for this device's one connection`,
          { key, differs },
        );
      }
      return entry.session;
    }
    const session = new DeviceSession(config, opts);
    this.sessions.set(key, { session, refs: 1 });
    return session;
  }

  async release(session: DeviceSession): Promise<void> {
    const entry = this.sessions.get(session.key);
    if (!entry || entry.session !== session) return;
    entry.refs--;
    if (entry.refs > 0) return;
    this.sessions.delete(session.key);
    await session.close();
  }

  /** The live session for a device, if some node holds one (does not take a reference). */
  find(key: string): DeviceSession | null {
    return this.sessions.get(key)?.session ?? null;
  }

  get size(): number {
    return this.sessions.size;
  }
}

/** The process-wide registry the nodes share. */
export const sessionRegistry = new SessionRegistry();
