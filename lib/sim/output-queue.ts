/**
 * Per-connection ordered output (docs/zk-protocol.md §11.1): responses leave strictly in the order they were queued,
 * one response completely written before the next starts. Each write unit is its own socket.write / datagram,
 * and the queue yields to the event loop (setImmediate, or interPacketGapMs) before every unit, so a client in
 * the same process sees one packet per read unless a write mode says otherwise. Every timer it starts is
 * tracked and released by close(), so stop() leaves nothing behind.
 */
import type { SimCounters, SimFaults } from './types';

/** Where the bytes go: TCP socket or UDP peer. */
export interface PacketSink {
  readonly transport: 'tcp' | 'udp';
  /** Cuts a response (unframed ZK packets) into write units under the current write mode. */
  units(packets: readonly Buffer[], faults: SimFaults): Buffer[];
  /** True when units() keeps packet boundaries (events may be slipped in between them). */
  keepsPacketBoundaries(faults: SimFaults): boolean;
  /** Resolves when the bytes were handed to the kernel (TCP), so the next unit never queues behind them. */
  write(unit: Buffer): Promise<void>;
  /** Graceful close after everything queued so far was written (EXIT; closeMidDownload 'fin'). */
  end(): void;
}

export interface Plan {
  packets: Buffer[];
  /** Wait before the first packet (replyDelayMs). */
  delayMs?: number;
  /** A 1504 response: counts toward closeMidDownload. */
  download?: boolean;
  /** A 1503 response: starts a new download for closeMidDownload accounting. */
  startsDownload?: boolean;
  /** Realtime event packets (counted in eventsSent). */
  event?: boolean;
  /** Runs after the last unit was written (close after EXIT, restart after RESTART). */
  after?: () => void;
}

interface Pending {
  cancel: () => void;
}

export class OutputQueue {
  private readonly plans: Plan[] = [];
  /** Events waiting to be slipped inside the next multi-packet response (eventTiming 'insideResponse'). */
  private readonly urgent: Buffer[] = [];
  private readonly pending = new Set<Pending>();
  private running = false;
  private closed = false;
  private stalled = false;
  private downloadBytes = 0;

  constructor(
    private readonly sink: PacketSink,
    private readonly faults: () => SimFaults,
    private readonly counters: SimCounters,
  ) {}

  push(plan: Plan): void {
    if (this.closed || this.stalled) return;
    this.plans.push(plan);
    void this.run();
  }

  pushInsideNextResponse(event: Buffer): void {
    if (!this.closed && !this.stalled) this.urgent.push(event);
  }

  get isStalled(): boolean {
    return this.stalled;
  }

  /** Timer helper for the connection (late replies, event resends): cancelled by close(). */
  later(ms: number, fn: () => void): void {
    if (this.closed) return;
    const p: Pending = { cancel: () => clearTimeout(t) };
    const t = setTimeout(() => {
      this.pending.delete(p);
      if (!this.closed) fn();
    }, ms);
    this.pending.add(p);
  }

  close(): void {
    this.closed = true;
    this.plans.length = 0;
    this.urgent.length = 0;
    for (const p of this.pending) p.cancel();
    this.pending.clear();
  }

  private wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      if (this.closed) return resolve();
      let p: Pending;
      if (ms > 0) {
        const t = setTimeout(() => {
          this.pending.delete(p);
          resolve();
        }, ms);
        p = {
          cancel: () => {
            clearTimeout(t);
            resolve();
          },
        };
      } else {
        const t = setImmediate(() => {
          this.pending.delete(p);
          resolve();
        });
        p = {
          cancel: () => {
            clearImmediate(t);
            resolve();
          },
        };
      }
      this.pending.add(p);
    });
  }

  /**
   * Waits for a write to leave, or for close(). Without it a large DATA packet that the kernel only partly
   * accepted would leave its tail in Node's buffer, and the next packet would reach the client in the same read.
   */
  private flushed(write: Promise<void>): Promise<void> {
    return new Promise((resolve) => {
      if (this.closed) return resolve();
      const p: Pending = { cancel: resolve };
      this.pending.add(p);
      void write.then(() => {
        this.pending.delete(p);
        resolve();
      });
    });
  }

  private async run(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      while (!this.closed && !this.stalled && this.plans.length > 0) {
        const plan = this.plans.shift() as Plan;
        if (plan.delayMs && plan.delayMs > 0) await this.wait(plan.delayMs);
        if (this.closed) break;
        await this.writePlan(plan);
      }
    } finally {
      this.running = false;
    }
  }

  private async writePlan(plan: Plan): Promise<void> {
    const f = this.faults();
    if (plan.startsDownload) this.downloadBytes = 0;
    const units = this.sink.units(plan.packets, f);
    const canSlipEvents = plan.packets.length >= 2 && this.sink.keepsPacketBoundaries(f);
    if (plan.event) this.counters.eventsSent += plan.packets.length;
    for (let i = 0; i < units.length; i++) {
      // Yield *before* every write: a write made while handling a request (poll phase) followed by one in
      // the same iteration's check phase would reach an in-process reader as a single read.
      await this.wait(f.interPacketGapMs ?? 0);
      if (this.closed || this.stalled) return;
      let unit = units[i];
      const cut = f.closeMidDownload;
      if (plan.download && cut && this.downloadBytes + unit.length > cut.afterBytes) {
        unit = unit.subarray(0, Math.max(0, cut.afterBytes - this.downloadBytes));
        if (unit.length > 0) void this.sink.write(unit);
        this.stalled = true;
        this.plans.length = 0;
        if (cut.mode === 'fin') this.sink.end();
        return;
      }
      if (plan.download) this.downloadBytes += unit.length;
      await this.flushed(this.sink.write(unit));
      if (canSlipEvents && i < units.length - 1) {
        while (this.urgent.length > 0 && !this.closed) {
          await this.wait(f.interPacketGapMs ?? 0);
          for (const u of this.sink.units([this.urgent.shift() as Buffer], f)) await this.flushed(this.sink.write(u));
          this.counters.eventsSent++;
        }
      }
    }
    if (!this.closed) plan.after?.();
  }
}
