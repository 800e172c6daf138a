import type { DeviceStatusState } from '../record/status';

/**
 * The failure rules zk-poll applies to a device, for a kept connection: after `errorAfterFailures` failed
 * attempts in a row the device is in `error` (one alert), and once it has been failing for
 * `disableAfterMs` it is `disabled` and retried only every `disabledRetryMs` until it answers.
 */
export interface HealthPolicy {
  errorAfterFailures: number;
  disableAfterMs: number;
  disabledRetryMs: number;
}

export const DEFAULT_HEALTH: Readonly<HealthPolicy> = Object.freeze({
  errorAfterFailures: 5,
  disableAfterMs: 24 * 3600 * 1000,
  disabledRetryMs: 30 * 60 * 1000,
});

export interface FailureVerdict {
  state: Extract<DeviceStatusState, 'offline' | 'error' | 'disabled'>;
  /** Failed attempts in a row, this one included. */
  failures: number;
  /** True exactly once per streak: the attempt that crossed into `error`. */
  alert: boolean;
}

export class HealthTracker {
  private failures = 0;
  private failingSince: number | null = null;
  private alerted = false;

  constructor(private readonly policy: HealthPolicy) {}

  get failureCount(): number {
    return this.failures;
  }

  get disabled(): boolean {
    return this.failingSince !== null && this.lastNow - this.failingSince >= this.policy.disableAfterMs;
  }

  private lastNow = 0;

  failure(now: number): FailureVerdict {
    this.lastNow = now;
    this.failures++;
    if (this.failingSince === null) this.failingSince = now;
    if (this.disabled) return { state: 'disabled', failures: this.failures, alert: false };
    if (this.failures >= this.policy.errorAfterFailures) {
      const alert = !this.alerted;
      this.alerted = true;
      return { state: 'error', failures: this.failures, alert };
    }
    return { state: 'offline', failures: this.failures, alert: false };
  }

  success(): void {
    this.failures = 0;
    this.failingSince = null;
    this.alerted = false;
  }
}
