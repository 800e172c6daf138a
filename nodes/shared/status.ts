/**
 * Every node's status line: one type, and one throttle that shows at most one update per `minGapMs` (500 ms)
 * and always the last one (node-red-nodes#515: a status per post, per punch or per batch hangs the editor).
 */

export type NodeStatus = { fill: 'green' | 'red' | 'yellow' | 'grey' | 'blue'; shape: 'dot' | 'ring'; text: string };

/** Where a status goes: a Node-RED node, or a recorder in a test. */
export interface StatusTarget {
  status(s: NodeStatus): void;
}

/** A status, or how to compute it when it is shown (a view that renders many devices computes it once). */
export type StatusSource = NodeStatus | (() => NodeStatus);

export class ThrottledStatus {
  private last = Number.NEGATIVE_INFINITY;
  private timer: NodeJS.Timeout | null = null;
  private next: StatusSource | null = null;
  private closed = false;

  constructor(
    private readonly target: StatusTarget,
    private readonly minGapMs = 500,
    private readonly now: () => number = Date.now,
  ) {}

  /** Shows `st` now when the last update is old enough (or `force`), else once the gap has passed. */
  set(st: StatusSource, force = false): void {
    if (this.closed) return;
    this.next = st;
    const wait = this.minGapMs - (this.now() - this.last);
    if (force || wait <= 0) {
      if (this.timer) clearTimeout(this.timer);
      this.timer = null;
      this.show();
      return;
    }
    // One trailing update carries whatever changed meanwhile.
    if (!this.timer) {
      this.timer = setTimeout(() => {
        this.timer = null;
        if (!this.closed) this.show();
      }, wait);
    }
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private show(): void {
    const st = this.next;
    if (!st) return;
    this.next = null;
    this.last = this.now();
    this.target.status(typeof st === 'function' ? st() : st);
  }
}

export const fmtCount = (n: number): string => n.toLocaleString('en-US');
