import { EventEmitter } from 'events';
import { Session } from './session';
import { ZkEvent } from '../protocol/events';
import { ZkError } from '../errors';

export interface LiveSessionDeps {
  session: Session;
  label: string;
  heartbeatMs: number;
  /** Sends the cheap liveness command (GET_TIME) with the given timeout. */
  heartbeat(timeoutMs: number): Promise<unknown>;
  /** Turns event registration off (REG_EVENT 0). */
  unregister(): Promise<unknown>;
  /** Fills in user ids for bodies that carry only a uid. */
  resolve(e: ZkEvent): ZkEvent;
}

/** A device sends at most a few events between REG_EVENT and the caller's listener; this only bounds memory. */
const MAX_EARLY_EVENTS = 10_000;

/**
 * Realtime events on a kept connection. Emits 'event' (ZkEvent), 'error' (ZkError: the link died) and
 * then 'close'. A heartbeat runs every heartbeatMs/2 while the link is quiet, with a timeout of
 * heartbeatMs/2, so a silently dead link is reported within one heartbeat period of its last sign of life.
 */
export class LiveSession extends EventEmitter {
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  /** Events that came before anyone listened (the caller attaches after live() resolved): kept, not lost. */
  private early: ZkEvent[] | null = [];
  private readonly onEvent = (e: ZkEvent) => {
    const ev = this.deps.resolve(e);
    if (this.early && this.listenerCount('event') === 0) {
      if (this.early.length < MAX_EARLY_EVENTS) this.early.push(ev);
      return;
    }
    this.emit('event', ev);
  };
  private readonly onClose = (err: ZkError | null) => this.end(err);

  constructor(private readonly deps: LiveSessionDeps) {
    super();
    this.on('newListener', (name: string) => {
      if (name !== 'event' || !this.early) return;
      const early = this.early;
      this.early = null;
      // After on() returned (the listener is in place), before any further packet can be read.
      if (early.length > 0) process.nextTick(() => early.forEach((e) => this.emit('event', e)));
    });
    deps.session.on('event', this.onEvent);
    deps.session.on('close', this.onClose);
    this.schedule();
  }

  get active(): boolean {
    return !this.stopped;
  }

  /** Unregisters (best effort) and stops the heartbeat. The connection stays open for other commands. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.detach();
    this.stopped = true;
    if (!this.deps.session.isClosed) await this.deps.unregister().catch(() => undefined);
    this.emit('close', null);
  }

  private get half(): number {
    return Math.max(1, Math.floor(this.deps.heartbeatMs / 2));
  }

  /** Next beat half a period after the last sign of life (or after now, if that has passed). */
  private schedule(): void {
    if (this.stopped) return;
    const due = Math.max(1, this.deps.session.lastPacketAt + this.half - Date.now());
    this.timer = setTimeout(() => this.beat(this.half), Math.min(due, this.half));
  }

  private beat(half: number): void {
    this.timer = null;
    if (this.stopped) return;
    const s = this.deps.session;
    // Anything heard recently (an event, a reply to another command) proves the link alive.
    if (Date.now() - s.lastPacketAt < half - 1 || !s.idle) {
      this.schedule();
      return;
    }
    this.deps.heartbeat(half).then(
      () => this.schedule(),
      (err: ZkError) => {
        // The session treats a silent device as gone: close it, which reports through onClose.
        s.close(err);
      },
    );
  }

  private detach(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.deps.session.off('event', this.onEvent);
    this.deps.session.off('close', this.onClose);
  }

  private end(err: ZkError | null): void {
    if (this.stopped) return;
    this.detach();
    this.stopped = true;
    // 'error' only with a listener: an unheard 'error' would throw out of a socket handler.
    if (err && this.listenerCount('error') > 0) this.emit('error', err);
    this.emit('close', err);
  }
}
