/**
 * A node's own status line, at most every 500 ms and the last one always shown (node-red-nodes#515: a status
 * per post or per batch hangs the editor). Used by zk-push and zk-sink.
 */
import type { Node } from 'node-red';

export type NodeStatus = { fill: 'green' | 'red' | 'yellow' | 'grey' | 'blue'; shape: 'dot' | 'ring'; text: string };

export class ThrottledStatus {
  private last = 0;
  private timer: NodeJS.Timeout | null = null;
  private next: NodeStatus | null = null;
  private closed = false;

  constructor(private readonly node: Node) {}

  set(st: NodeStatus, force = false): void {
    if (this.closed) return;
    this.next = st;
    const wait = 500 - (Date.now() - this.last);
    if (force || wait <= 0) {
      if (this.timer) clearTimeout(this.timer);
      this.timer = null;
      this.last = Date.now();
      this.node.status(st);
      return;
    }
    if (!this.timer) {
      this.timer = setTimeout(() => {
        this.timer = null;
        this.last = Date.now();
        if (this.next && !this.closed) this.node.status(this.next);
      }, wait);
    }
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}

export const fmtCount = (n: number): string => n.toLocaleString('en-US');
