/**
 * The polling cycle of zk-poll, without Node-RED: an interval timer, a queue of cycles (one at a time), the
 * per-device poll (session, cursor, incremental download), the hand-over of records before the cursor is
 * saved, and the failure bookkeeping (FleetScheduler). The node drives it the way zk-live drives LiveCapture:
 * settings in, events out. bench/fleet runs the same class.
 */
import { EventEmitter } from 'events';
import type { Logger } from '../client';
import { DeviceConfig, DeviceSession, deviceKey, sessionRegistry } from '../device';
import { ZkConnectionError } from '../errors';
import type { AttendanceRecord, RecordAnomaly } from '../record/canonical';
import type { DeviceStatusEvent } from '../record/status';
import type { CursorStore } from './cursor-store';
import {
  DeviceDescription,
  DevicePoll,
  describeDevice,
  pollDevice,
  statusAfterFailure,
  statusAfterPoll,
} from './device-poll';
import type { DeviceHealth } from './health';
import { DeviceResult, FleetScheduler, SchedulerOptions } from './scheduler';
import type { PollWindow } from './window';

/** What a cycle is asked to do. A timer tick is `{devices: null, dryRun: false, force: false}`. */
export interface CycleRequest {
  /** The devices of this cycle; null = the poller's own (its fleet, or its one session). */
  devices: DeviceConfig[] | null;
  /** A backfill window: re-fetches it without moving the cursor. */
  window?: PollWindow;
  /** Poll and report what would be emitted, send no records, save no cursor. */
  dryRun: boolean;
  /** Also poll devices whose backoff has not expired. */
  force: boolean;
}

export interface CycleTotals {
  ok: number;
  failed: number;
  newRecords: number;
  /** Devices whose log was downloaded (the others were unchanged: a count check only). */
  downloads: number;
  failures: string[];
  /** One device in the cycle (the status text then speaks of that device). */
  single: boolean;
  dryRun: boolean;
}

/** Who a message is about: `topic` is the serial when known, else host:port. */
export interface DeviceTag {
  topic: string;
  device: Record<string, unknown>;
}

export interface RecordsEvent extends DeviceTag {
  records: AttendanceRecord[];
}

export interface StatusEvent extends DeviceTag {
  status: DeviceStatusEvent;
  /** In a dry run: the records the poll would have emitted. */
  wouldEmit?: AttendanceRecord[];
  backfill?: PollWindow;
}

export interface AnomalyEvent extends DeviceTag {
  anomalies: RecordAnomaly[];
}

/** The one alert of a failure streak (the device just reached `failuresToError`). */
export interface AlertEvent extends DeviceTag {
  /** The device's name and host, for a log line. */
  name: string;
  status: DeviceStatusEvent;
  health: DeviceHealth;
  error: Error;
}

export type ProgressEvent =
  { kind: 'devices'; done: number; total: number } | { kind: 'download'; records: number; total: number };

export interface FleetPollerEvents {
  /** A chunk of new records of one device (at most `chunkSize`). The cursor is saved after the listeners return. */
  records: [e: RecordsEvent];
  /** A device's status after its poll, or after its failure. */
  status: [e: StatusEvent];
  anomaly: [e: AnomalyEvent];
  alert: [e: AlertEvent];
  progress: [e: ProgressEvent];
  /** A cycle finished (not sent while stopping). */
  cycle: [t: CycleTotals];
  /** A cycle had no devices and `emptyIsIdle` is set (a shard that owns none of a small fleet). */
  idle: [];
  /** A timer cycle failed as a whole (requests reject instead). */
  cycleError: [err: Error];
}

export interface FleetPollerOptions extends Omit<SchedulerOptions, 'now'> {
  store: CursorStore;
  /** The poller's own devices (ignored when `session` is given). */
  fleet?: DeviceConfig[];
  /** One device's shared session, owned by the caller (zk-poll with a zk-device): polled instead of a fleet. */
  session?: DeviceSession;
  /** Milliseconds between timer cycles; 0 = only on request. */
  intervalMs?: number;
  /** Records per `records` event. Default 5000. */
  chunkSize?: number;
  /** An empty device list is not an error: emit `idle` instead of failing the cycle. */
  emptyIsIdle?: boolean;
  /** Logger of the sessions the poller opens (fleet mode). */
  sessionLogger?: Logger;
  /** Timers of the interval (tests). */
  timers?: { set: (fn: () => void, ms: number) => unknown; clear: (handle: unknown) => void };
}

function chunks<T>(list: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < list.length; i += size) out.push(list.slice(i, i + size));
  return out;
}

/**
 * Listeners run synchronously inside the cycle; a `records` listener that returns has handed the records on,
 * so the cursor moves after it. Cycles run one after another; a timer tick while a cycle runs is dropped
 * (the next tick comes).
 */
export class FleetPoller extends EventEmitter<FleetPollerEvents> {
  readonly scheduler: FleetScheduler;
  private readonly store: CursorStore;
  private readonly fleet: DeviceConfig[];
  private readonly session: DeviceSession | null;
  private readonly intervalMs: number;
  private readonly chunkSize: number;
  private readonly emptyIsIdle: boolean;
  private readonly sessionLogger: Logger | undefined;
  private readonly timers: NonNullable<FleetPollerOptions['timers']>;
  /** Serials learnt per device key: a fresh session per cycle need not ask again. */
  private readonly serials = new Map<string, string>();
  private readonly lastSeen = new Map<string, Date>();
  private readonly abort = new AbortController();
  private chain: Promise<void> = Promise.resolve();
  private timer: unknown = null;
  private running = 0;
  private started = false;
  private stopping = false;

  constructor(opts: FleetPollerOptions) {
    super();
    this.store = opts.store;
    this.fleet = opts.fleet ?? [];
    this.session = opts.session ?? null;
    this.intervalMs = opts.intervalMs ?? 0;
    this.chunkSize = Math.max(1, Math.floor(opts.chunkSize ?? 5000));
    this.emptyIsIdle = opts.emptyIsIdle ?? false;
    this.sessionLogger = opts.sessionLogger;
    this.timers = opts.timers ?? {
      set: (fn, ms) => setTimeout(fn, ms),
      clear: (h) => clearTimeout(h as NodeJS.Timeout),
    };
    this.scheduler = new FleetScheduler(opts);
  }

  /** True from stop() on: events of devices still finishing are dropped, except their records. */
  get closing(): boolean {
    return this.stopping;
  }

  /** Starts the interval: a first cycle at once, then one every `intervalMs`. No-op with interval 0. Idempotent. */
  start(): void {
    if (this.started || this.stopping) return;
    this.started = true;
    this.schedule(0);
  }

  /** Queues a cycle; resolves with its totals once it ran. Rejects when the cycle cannot run at all. */
  request(req: CycleRequest): Promise<CycleTotals> {
    const result = this.chain.then(() =>
      this.stopping ? Promise.reject(new Error('the poller is stopping')) : this.runCycle(req),
    );
    this.chain = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }

  /** Stops the timer, aborts running devices (their links are dropped), waits for the queue, flushes cursors. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.timer !== null) this.timers.clear(this.timer);
    this.timer = null;
    this.abort.abort(new Error('poller stopped'));
    await this.chain;
    await this.store.flush();
  }

  private schedule(ms: number): void {
    if (this.stopping || this.intervalMs <= 0) return;
    this.timer = this.timers.set(() => {
      this.timer = null;
      if (this.running > 0) return this.schedule(this.intervalMs);
      this.request({ devices: null, dryRun: false, force: false })
        .catch((err: Error) => {
          if (!this.stopping) this.emit('cycleError', err);
        })
        .finally(() => this.schedule(this.intervalMs));
    }, ms);
  }

  private async runCycle(req: CycleRequest): Promise<CycleTotals> {
    const devices = req.devices ?? (this.session ? [this.session.config] : this.fleet);
    const single = devices.length === 1;
    const totals: CycleTotals = {
      ok: 0,
      failed: 0,
      newRecords: 0,
      downloads: 0,
      failures: [],
      single,
      dryRun: req.dryRun,
    };
    if (devices.length === 0 && this.emptyIsIdle && !this.session) {
      if (!this.stopping) this.emit('idle');
      return totals;
    }
    if (devices.length === 0)
      throw new Error('no devices to poll (the device list is empty; give msg.devices or fill in the list)');
    const entries = devices.map((cfg) => ({ key: deviceKey(cfg), item: cfg }));
    this.running++;
    try {
      await this.scheduler.runCycle(entries, (cfg, key, signal) => this.pollOne(cfg, key, signal, req, single), {
        force: req.force,
        signal: this.abort.signal,
        onProgress: single ? undefined : (done, total) => this.emit('progress', { kind: 'devices', done, total }),
        onResult: (r) => {
          if (r.status === 'ok' && r.value) {
            totals.ok++;
            totals.newRecords += r.value.outcome.records.length;
            if (r.value.outcome.downloaded) totals.downloads++;
          } else if (r.status === 'failed') {
            totals.failed++;
            if (!this.stopping) this.onFailure(r, totals);
          }
        },
      });
    } finally {
      this.running--;
    }
    if (!this.stopping) this.emit('cycle', totals);
    return totals;
  }

  /** One device: poll, emit its records, then save the cursor, then its status. */
  private async pollOne(
    cfg: DeviceConfig,
    key: string,
    signal: AbortSignal,
    req: CycleRequest,
    single: boolean,
  ): Promise<DevicePoll> {
    const own = this.session !== null;
    const session = this.session ?? sessionRegistry.acquire(cfg, { logger: this.sessionLogger });
    if (!own && session.serial === null && this.serials.has(key)) session.serial = this.serials.get(key) ?? null;
    const onAbort = () =>
      void session.disconnect(
        new ZkConnectionError(`${session.label}: poll stopped (node closed, redeployed, or the device timeout passed)`),
      );
    signal.addEventListener('abort', onAbort, { once: true });
    const started = new Date();
    try {
      const poll = await pollDevice(session, this.store, {
        source: 'poll',
        window: req.window,
        onProgress: single
          ? (p) => this.emit('progress', { kind: 'download', records: p.records, total: p.totalRecords })
          : undefined,
      });
      if (signal.aborted) throw signal.reason instanceof Error ? signal.reason : new Error('poll aborted');
      if (session.serial) this.serials.set(key, session.serial);
      const { outcome } = poll;
      const now = new Date();
      this.lastSeen.set(key, now);
      const tag: DeviceTag = { topic: session.serial ?? session.key, device: describeDevice(session) };
      if (!req.dryRun)
        for (const chunk of chunks(outcome.records, this.chunkSize)) this.emit('records', { ...tag, records: chunk });
      // Saved only after the records were handed on: a crash in between repeats records, never loses them.
      if (!req.dryRun && outcome.cursorChanged) await this.store.set(poll.key, outcome.cursor);
      const status: StatusEvent = { ...tag, status: statusAfterPoll(session, outcome, now, started) };
      if (req.dryRun) status.wouldEmit = outcome.records;
      if (req.window) status.backfill = req.window;
      this.emit('status', status);
      if (outcome.anomalies.length > 0) this.emit('anomaly', { ...tag, anomalies: outcome.anomalies });
      return poll;
    } finally {
      signal.removeEventListener('abort', onAbort);
      if (!own) await sessionRegistry.release(session);
    }
  }

  private describeFailed(cfg: DeviceConfig, key: string): DeviceDescription {
    if (this.session) return this.session;
    return { serial: this.serials.get(key) ?? null, key, config: cfg, lastInfo: null };
  }

  private onFailure(r: DeviceResult<DeviceConfig, DevicePoll>, totals: CycleTotals): void {
    const err = r.error ?? new Error('unknown failure');
    const d = this.describeFailed(r.item, r.key);
    const name = d.config.name ? `${d.config.name} (${d.key})` : d.key;
    totals.failures.push(`${name}: ${err.message}`);
    const status = statusAfterFailure(d, r.health, err, new Date(), this.lastSeen.get(r.key) ?? null);
    const tag: DeviceTag = { topic: d.serial ?? d.key, device: describeDevice(d) };
    this.emit('status', { ...tag, status });
    if (r.alert)
      this.emit('alert', { ...tag, name, status: { ...status, state: 'error' }, health: r.health, error: err });
  }
}
