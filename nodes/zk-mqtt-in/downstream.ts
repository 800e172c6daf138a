/**
 * Knows when a message a node sent has been fully handled downstream: every node it reached (and every
 * message those sent on while carrying the same mark) called done(). Built on Node-RED's messaging hooks:
 * `preDeliver` counts a delivery, `onComplete` counts it handled. zk-sink calls done() only once the
 * records are synced into its outbox, so "handled" there means "safe on disk".
 *
 * Nodes in between must keep the message's properties when they pass it on (core nodes and zk-dedupe do);
 * a node that builds a fresh message drops the mark, and its completion then looks final.
 */

export const MARK = '_zkAck';

interface Entry {
  pending: number;
  error: Error | null;
  settle: (err: Error | null) => void;
  timer: NodeJS.Timeout;
}

export interface HookEvent {
  msg?: Record<string, unknown> | null;
  error?: unknown;
  node?: { id?: string; node?: { type?: string; name?: string } };
}

export class DownstreamTracker {
  private readonly open = new Map<string, Entry>();
  private seq = 0;

  constructor(private readonly prefix: string) {}

  /** A new mark for one message; `settled` resolves when every delivery of it was handled, rejects on an error or timeout. */
  begin(timeoutMs: number): { mark: string; settled: Promise<void> } {
    const mark = `${this.prefix}:${++this.seq}`;
    let settle!: (err: Error | null) => void;
    const settled = new Promise<void>((resolve, reject) => {
      settle = (err) => (err ? reject(err) : resolve());
    });
    const timer = setTimeout(
      () => this.finish(mark, new Error(`not handled downstream within ${Math.round(timeoutMs / 1000)} s`)),
      timeoutMs,
    );
    this.open.set(mark, { pending: 0, error: null, settle, timer });
    return { mark, settled };
  }

  /** After the node's own send(): nothing delivered means nothing is wired, which is not "safe". */
  sent(mark: string): void {
    const e = this.open.get(mark);
    if (e && e.pending === 0)
      this.finish(mark, new Error('output 1 is not wired to anything: the records would be lost'));
  }

  onDeliver(ev: HookEvent): void {
    const e = this.entryOf(ev);
    if (e) e.pending++;
  }

  onComplete(ev: HookEvent): void {
    const mark = markOf(ev);
    const e = mark ? this.open.get(mark) : undefined;
    if (!mark || !e) return;
    if (ev.error && !e.error) {
      const who = ev.node?.node?.name || ev.node?.node?.type || ev.node?.id || 'a node';
      e.error = new Error(`${who}: ${(ev.error as Error).message ?? String(ev.error)}`);
    }
    e.pending--;
    if (e.pending <= 0) this.finish(mark, e.error);
  }

  /** Fails every open message (node closing): none is acknowledged, the broker sends them again. */
  abortAll(reason: string): void {
    for (const mark of [...this.open.keys()]) this.finish(mark, new Error(reason));
  }

  get size(): number {
    return this.open.size;
  }

  private entryOf(ev: HookEvent): Entry | undefined {
    const mark = markOf(ev);
    return mark ? this.open.get(mark) : undefined;
  }

  private finish(mark: string, err: Error | null): void {
    const e = this.open.get(mark);
    if (!e) return;
    this.open.delete(mark);
    clearTimeout(e.timer);
    e.settle(err);
  }
}

function markOf(ev: HookEvent): string | undefined {
  const m = ev?.msg?.[MARK];
  return typeof m === 'string' ? m : undefined;
}
