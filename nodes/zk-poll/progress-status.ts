/**
 * Status text for long work, throttled: one update per 500 ms at most (per-row status updates hung the
 * editor in node-red-nodes#515), while the final summary always goes out at once.
 */
import { fmtCount } from '../shared/status';

export interface StatusSink {
  status(s: { fill?: 'red' | 'green' | 'yellow' | 'blue' | 'grey'; shape?: 'ring' | 'dot'; text?: string }): void;
}

export class ProgressStatus {
  private last = 0;
  constructor(private readonly node: StatusSink, private readonly minGapMs = 500, private readonly now: () => number = Date.now) {}

  devices(done: number, total: number): void {
    this.throttled(`${done}/${total} devices`);
  }

  download(records: number, total: number): void {
    this.throttled(`dl ${fmtCount(records)}/${fmtCount(total)}`);
  }

  summary(ok: number, failed: number, newRecords: number, single: boolean, dryRun: boolean): void {
    this.last = 0;
    const fill = failed === 0 ? 'green' : ok === 0 ? 'red' : 'yellow';
    const what = dryRun ? 'would emit' : 'new';
    const text = single
      ? failed ? 'failed' : `online · ${fmtCount(newRecords)} ${what}`
      : failed ? `${ok} ok · ${failed} failed · ${fmtCount(newRecords)} ${what}` : `${ok} ok · ${fmtCount(newRecords)} ${what}`;
    this.node.status({ fill, shape: 'dot', text });
  }

  error(text: string): void {
    this.last = 0;
    this.node.status({ fill: 'red', shape: 'ring', text: text.slice(0, 40) });
  }

  private throttled(text: string): void {
    const t = this.now();
    if (t - this.last < this.minGapMs) return;
    this.last = t;
    this.node.status({ fill: 'blue', shape: 'dot', text });
  }
}
