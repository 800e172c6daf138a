/**
 * Per-device health for fleet polling: consecutive failures, exponential backoff with jitter, the `error`
 * state with one alert after N failures in a row, and the long-streak rule (a device failing for a day is
 * only tried every X minutes until it answers). Clock and randomness are injected so tests need no waiting.
 */
export type HealthState = 'ok' | 'backoff' | 'error' | 'disabled';

export interface HealthOptions {
  /** Failures in a row before the device is marked `error` and one alert is raised. Default 5. */
  failuresToError?: number;
  /** Backoff after the first failure; doubles per failure. Default 10 s. */
  backoffBaseMs?: number;
  /** Backoff cap. Default 30 min. */
  backoffMaxMs?: number;
  /** Fraction of the delay that is random (0…1): spreads retries of devices that failed together. Default 0.5. */
  jitter?: number;
  /** A failure streak this long disables regular retries. Default 24 h. */
  longStreakMs?: number;
  /** Retry period of a disabled device. Default 60 min. */
  longStreakRetryMs?: number;
  now?: () => number;
  /** Uniform [0, 1). Default Math.random. */
  random?: () => number;
}

export interface DeviceHealth {
  state: HealthState;
  consecutiveFailures: number;
  /** When the current failure streak started (ms), null when healthy. */
  firstFailureAt: number | null;
  /** Not tried before this (ms). 0 = due now. */
  nextAttemptAt: number;
  lastError: string | null;
  lastSuccessAt: number | null;
  /** The one alert of this streak has been raised. */
  alerted: boolean;
}

export interface FailureVerdict {
  health: DeviceHealth;
  /** True exactly once per streak: when the device reaches `failuresToError`. */
  alert: boolean;
  /** Milliseconds until the next attempt. */
  retryInMs: number;
}

const fresh = (): DeviceHealth => ({
  state: 'ok',
  consecutiveFailures: 0,
  firstFailureAt: null,
  nextAttemptAt: 0,
  lastError: null,
  lastSuccessAt: null,
  alerted: false,
});

export class HealthTracker {
  private readonly map = new Map<string, DeviceHealth>();
  private readonly o: Required<HealthOptions>;

  constructor(opts: HealthOptions = {}) {
    this.o = {
      failuresToError: opts.failuresToError ?? 5,
      backoffBaseMs: opts.backoffBaseMs ?? 10_000,
      backoffMaxMs: opts.backoffMaxMs ?? 30 * 60_000,
      jitter: Math.min(1, Math.max(0, opts.jitter ?? 0.5)),
      longStreakMs: opts.longStreakMs ?? 24 * 3600_000,
      longStreakRetryMs: opts.longStreakRetryMs ?? 60 * 60_000,
      now: opts.now ?? Date.now,
      random: opts.random ?? Math.random,
    };
  }

  get(key: string): DeviceHealth {
    let h = this.map.get(key);
    if (!h) {
      h = fresh();
      this.map.set(key, h);
    }
    return h;
  }

  isDue(key: string, now = this.o.now()): boolean {
    return now >= this.get(key).nextAttemptAt;
  }

  /** Success resets everything. Returns true when the device was in `error` or `disabled` (it recovered). */
  recordSuccess(key: string): boolean {
    const h = this.get(key);
    const recovered = h.state === 'error' || h.state === 'disabled';
    Object.assign(h, fresh(), { lastSuccessAt: this.o.now() });
    return recovered;
  }

  recordFailure(key: string, err: Error | string): FailureVerdict {
    const now = this.o.now();
    const h = this.get(key);
    h.consecutiveFailures++;
    h.firstFailureAt ??= now;
    h.lastError = typeof err === 'string' ? err : err.message;
    let delay: number;
    if (now - h.firstFailureAt >= this.o.longStreakMs) {
      h.state = 'disabled';
      delay = this.o.longStreakRetryMs;
    } else {
      h.state = h.consecutiveFailures >= this.o.failuresToError ? 'error' : 'backoff';
      delay = Math.min(this.o.backoffMaxMs, this.o.backoffBaseMs * 2 ** Math.min(30, h.consecutiveFailures - 1));
    }
    // Jitter only shortens the delay, so the cap and the long-streak period remain upper bounds.
    delay = Math.round(delay * (1 - this.o.jitter * this.o.random()));
    h.nextAttemptAt = now + delay;
    const alert = h.consecutiveFailures >= this.o.failuresToError && !h.alerted;
    if (alert) h.alerted = true;
    return { health: { ...h }, alert, retryInMs: delay };
  }

  /** Forgets devices no longer in the fleet. */
  retain(keys: Iterable<string>): void {
    const keep = new Set(keys);
    for (const k of [...this.map.keys()]) if (!keep.has(k)) this.map.delete(k);
  }

  /** Earliest time any known device is due, or null when none waits. */
  nextDueAt(): number | null {
    let min: number | null = null;
    for (const h of this.map.values())
      if (h.nextAttemptAt > 0 && (min === null || h.nextAttemptAt < min)) min = h.nextAttemptAt;
    return min;
  }
}
