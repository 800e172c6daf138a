/**
 * Runs one poll cycle over a fleet: at most `concurrency` devices at once (one slow branch must not hold up
 * the other 119), devices in backoff skipped until due, a per-device deadline, and health bookkeeping
 * (health.ts). What a device's poll does is the caller's worker; results stream out as devices finish so
 * records are sent without waiting for the slowest device.
 */
import { setMaxListeners } from 'events';
import { DeviceHealth, HealthOptions, HealthTracker } from './health';

export interface SchedulerOptions extends HealthOptions {
  /** Devices polled at the same time. Default 16. */
  concurrency?: number;
  /** Deadline for one device's whole poll (0 = none). Default 0: the client's per-command timeouts apply. */
  deviceTimeoutMs?: number;
  /** Timer functions for the deadline (tests). */
  setTimer?: (fn: () => void, ms: number) => unknown;
  clearTimer?: (handle: unknown) => void;
}

export interface CycleEntry<T> {
  key: string;
  item: T;
}

export type Worker<T, R> = (item: T, key: string, signal: AbortSignal) => Promise<R>;

export interface DeviceResult<T, R> {
  key: string;
  item: T;
  status: 'ok' | 'failed' | 'skipped';
  value?: R;
  error?: Error;
  health: DeviceHealth;
  /** The one alert of a failure streak (the device just reached `failuresToError`). */
  alert: boolean;
  /** The device answered after being in error/disabled. */
  recovered: boolean;
  retryInMs?: number;
}

export interface CycleOptions<T, R> {
  /** Also poll devices whose backoff has not expired. */
  force?: boolean;
  /** Stops starting devices and aborts the running ones (node close). */
  signal?: AbortSignal;
  /** Called as each device finishes (awaited: a slow consumer slows the cycle rather than piling up). */
  onResult?: (r: DeviceResult<T, R>) => void | Promise<void>;
  onProgress?: (done: number, total: number) => void;
}

export interface CycleSummary {
  total: number;
  ok: number;
  failed: number;
  skipped: number;
  aborted: boolean;
  ms: number;
}

export class DeviceTimeoutError extends Error {
  constructor(
    readonly key: string,
    ms: number,
  ) {
    super(`${key}: no complete poll within ${Math.round(ms / 1000)} s (check the network path and the device's load)`);
    this.name = 'DeviceTimeoutError';
  }
}

export class FleetScheduler {
  readonly health: HealthTracker;
  readonly concurrency: number;
  private readonly deviceTimeoutMs: number;
  private readonly now: () => number;
  private readonly setTimer: (fn: () => void, ms: number) => unknown;
  private readonly clearTimer: (handle: unknown) => void;

  constructor(opts: SchedulerOptions = {}) {
    this.health = new HealthTracker(opts);
    this.concurrency = Math.max(1, Math.floor(opts.concurrency ?? 16));
    this.deviceTimeoutMs = opts.deviceTimeoutMs ?? 0;
    this.now = opts.now ?? Date.now;
    this.setTimer = opts.setTimer ?? ((fn, ms) => setTimeout(fn, ms));
    this.clearTimer = opts.clearTimer ?? ((h) => clearTimeout(h as NodeJS.Timeout));
  }

  async runCycle<T, R>(
    entries: readonly CycleEntry<T>[],
    worker: Worker<T, R>,
    opts: CycleOptions<T, R> = {},
  ): Promise<CycleSummary> {
    const started = this.now();
    const summary: CycleSummary = { total: entries.length, ok: 0, failed: 0, skipped: 0, aborted: false, ms: 0 };
    this.health.retain(entries.map((e) => e.key));
    // Each running device listens to the cycle's signal: up to `concurrency` listeners is expected, not a leak.
    if (opts.signal) setMaxListeners(this.concurrency + 10, opts.signal);
    let next = 0;
    let done = 0;
    const finish = async (r: DeviceResult<T, R>) => {
      summary[r.status === 'ok' ? 'ok' : r.status === 'failed' ? 'failed' : 'skipped']++;
      done++;
      await opts.onResult?.(r);
      opts.onProgress?.(done, entries.length);
    };
    const lane = async () => {
      while (next < entries.length) {
        if (opts.signal?.aborted) {
          summary.aborted = true;
          return;
        }
        const entry = entries[next++];
        if (!opts.force && !this.health.isDue(entry.key, this.now())) {
          await finish({
            key: entry.key,
            item: entry.item,
            status: 'skipped',
            health: { ...this.health.get(entry.key) },
            alert: false,
            recovered: false,
          });
          continue;
        }
        await finish(await this.runOne(entry, worker, opts.signal));
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.concurrency, entries.length) }, lane));
    if (opts.signal?.aborted) summary.aborted = true;
    summary.ms = this.now() - started;
    return summary;
  }

  private async runOne<T, R>(
    entry: CycleEntry<T>,
    worker: Worker<T, R>,
    outer?: AbortSignal,
  ): Promise<DeviceResult<T, R>> {
    const ac = new AbortController();
    const onOuter = () => ac.abort(outer?.reason);
    outer?.addEventListener('abort', onOuter, { once: true });
    let timer: unknown = null;
    try {
      const work = worker(entry.item, entry.key, ac.signal);
      let value: R;
      if (this.deviceTimeoutMs > 0) {
        const ms = this.deviceTimeoutMs;
        const deadline = new Promise<never>((_, reject) => {
          timer = this.setTimer(() => {
            const err = new DeviceTimeoutError(entry.key, ms);
            // Reject first: a worker that settles as soon as it is aborted must not win the race.
            reject(err);
            ac.abort(err);
          }, ms);
        });
        // On a deadline the worker is told to stop (abort) and its late result is ignored.
        work.catch(() => undefined);
        value = await Promise.race([work, deadline]);
      } else {
        value = await work;
      }
      const recovered = this.health.recordSuccess(entry.key);
      return {
        key: entry.key,
        item: entry.item,
        status: 'ok',
        value,
        health: { ...this.health.get(entry.key) },
        alert: false,
        recovered,
      };
    } catch (err) {
      const e = err instanceof Error ? err : new Error(String(err));
      const v = this.health.recordFailure(entry.key, e);
      return {
        key: entry.key,
        item: entry.item,
        status: 'failed',
        error: e,
        health: v.health,
        alert: v.alert,
        recovered: false,
        retryInMs: v.retryInMs,
      };
    } finally {
      if (timer !== null) this.clearTimer(timer);
      outer?.removeEventListener('abort', onOuter);
    }
  }
}
