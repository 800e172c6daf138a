/**
 * Reconnect delays for a kept connection: exponential from `initialMs` up to `maxMs`, with jitter so a
 * fleet of devices that dropped together (a branch router rebooting) does not reconnect in lockstep.
 */
export interface BackoffOptions {
  /** Delay before the first reconnect attempt. Default 5 s. */
  initialMs: number;
  /** Cap. Default 5 min. */
  maxMs: number;
  /** Spread as a fraction of the delay: 0.2 = ±20 %. Default 0.2. */
  jitter: number;
}

export const DEFAULT_BACKOFF: Readonly<BackoffOptions> = Object.freeze({ initialMs: 5000, maxMs: 300000, jitter: 0.2 });

/**
 * Delay before reconnect attempt `attempt` (0 = the first after a drop). `random` returns [0, 1) and is
 * injectable so tests get exact schedules. Never below 1 ms, never above maxMs (jitter included), so the
 * cap is a promise the user can rely on.
 */
export function backoffDelay(attempt: number, opts: BackoffOptions, random: () => number = Math.random): number {
  const initial = Math.max(1, opts.initialMs);
  const max = Math.max(initial, opts.maxMs);
  // 2^attempt overflows to Infinity long after it passed the cap; min() keeps the result finite.
  const base = Math.min(max, initial * Math.pow(2, Math.max(0, attempt)));
  const spread = Math.min(1, Math.max(0, opts.jitter));
  const factor = 1 + spread * (2 * random() - 1);
  return Math.max(1, Math.min(max, Math.round(base * factor)));
}

/** Fills defaults and rejects nonsense (negative, non-numeric) with the field named. */
export function normaliseBackoff(input: Partial<BackoffOptions> = {}): BackoffOptions {
  const pick = (v: number | undefined, d: number, name: string, min: number, maxV: number): number => {
    if (v === undefined || Number.isNaN(v)) return d;
    if (!Number.isFinite(v) || v < min || v > maxV) throw new RangeError(`${name} must be from ${min} to ${maxV}`);
    return v;
  };
  const initialMs = pick(input.initialMs, DEFAULT_BACKOFF.initialMs, 'reconnect delay', 1, 86400000);
  const maxMs = pick(input.maxMs, Math.max(DEFAULT_BACKOFF.maxMs, initialMs), 'maximum reconnect delay', 1, 86400000);
  const jitter = pick(input.jitter, DEFAULT_BACKOFF.jitter, 'jitter', 0, 1);
  return { initialMs, maxMs: Math.max(initialMs, maxMs), jitter };
}
