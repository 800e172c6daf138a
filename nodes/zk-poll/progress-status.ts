/**
 * Status text for long work through the shared throttle (one update per 500 ms, the last always shown),
 * while the final summary and errors go out at once.
 */
import { fmtCount, NodeStatus, StatusTarget, ThrottledStatus } from '../shared/status';

export class ProgressStatus {
  private readonly throttle: ThrottledStatus;
  constructor(node: StatusTarget, minGapMs = 500, now: () => number = Date.now) {
    this.throttle = new ThrottledStatus(node, minGapMs, now);
  }

  devices(done: number, total: number): void {
    this.throttled(`${done}/${total} devices`);
  }

  download(records: number, total: number): void {
    this.throttled(`dl ${fmtCount(records)}/${fmtCount(total)}`);
  }

  summary(ok: number, failed: number, newRecords: number, single: boolean, dryRun: boolean): void {
    const fill: NodeStatus['fill'] = failed === 0 ? 'green' : ok === 0 ? 'red' : 'yellow';
    const what = dryRun ? 'would emit' : 'new';
    const text = single
      ? failed
        ? 'failed'
        : `online · ${fmtCount(newRecords)} ${what}`
      : failed
        ? `${ok} ok · ${failed} failed · ${fmtCount(newRecords)} ${what}`
        : `${ok} ok · ${fmtCount(newRecords)} ${what}`;
    this.throttle.set({ fill, shape: 'dot', text }, true);
  }

  error(text: string): void {
    this.throttle.set({ fill: 'red', shape: 'ring', text: text.slice(0, 40) }, true);
  }

  /** A fixed line shown at once (e.g. a shard that owns none of the list). */
  show(st: NodeStatus): void {
    this.throttle.set(st, true);
  }

  close(): void {
    this.throttle.close();
  }

  private throttled(text: string): void {
    this.throttle.set({ fill: 'blue', shape: 'dot', text });
  }
}
