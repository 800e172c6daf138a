import { EventEmitter } from 'events';
import type { DeviceSession } from '../device';
import type { LiveSession, Logger } from '../client';
import type { AttendanceEvent, RawEvent, ZkEvent } from '../protocol/events';
import type { AttendanceRecord, RecordAnomaly } from '../record/canonical';
import type { DeviceStatusEvent, DeviceStatusState } from '../record/status';
import { ZkError } from '../errors';
import { DeviceCursor, MAX_LIVE_IDS, advanceCursor } from '../fleet/cursor';
import { atCapacity, pollIncremental, PollOutcome } from '../fleet/incremental';
import { HealthOptions, HealthTracker } from '../fleet/health';
import { cursorKeyOf, statusAfterFailure, statusAfterPoll } from '../fleet/device-poll';
import { RecentIds } from './recent-ids';

/** Where cursors live: CursorStore satisfies this (the same store and keys as zk-poll). */
export interface CursorAccess {
  get(key: string): DeviceCursor | null;
  /** `lagging`: a lazy save of a cursor that may lag (see CursorStore.set). */
  set(key: string, cursor: DeviceCursor, lagging?: boolean): Promise<void>;
}

/**
 * What to do the very first time a device is seen (no saved cursor): 'now' emits only punches from now on
 * (the log is read once to find its end), 'all' emits the whole log as gap-fill. Later reconnects always
 * fill the gap since the last emitted record.
 */
export type FirstStart = 'now' | 'all';

export interface LiveCaptureOptions {
  cursors: CursorAccess;
  /** Cursor key; default the device serial, else host:port (zk-poll's cursorKeyOf, so both agree). */
  cursorKey?: (session: DeviceSession) => string;
  firstStart?: FirstStart;
  /**
   * Reconnect backoff and the failure rules, shared with zk-poll (lib/fleet/health). Live defaults: 5 s
   * doubling to 5 min, jitter 0.2 (it only shortens a delay), error after 5 failures in a row, retried only
   * hourly after 24 h of failures. `now` and `random` are injectable for tests.
   */
  health?: HealthOptions;
  /** Pass non-attendance events on ('raw'). Default false. */
  emitRaw?: boolean;
  logger?: Logger;
  /**
   * Checking the device's record count on a long-lived link (see checkCount): after this many punches came
   * out live since the last download, at most once per `everyMs`. Defaults 20 and 60,000 ms.
   */
  countCheck?: { afterLiveIds?: number; everyMs?: number };
  /**
   * A live punch moves the cursor in memory; the file follows at most this often and on stop(), so a steady
   * stream of punches costs no fsync of its own (SD cards). A crash loses only cursor progress: the gap fill
   * after the restart reads the device from the saved cursor and emits those punches again, and every sink
   * is idempotent on the record id. Gap fills and downloads save at once. A device punches far less often
   * than a fleet does (one punch a minute is a busy door), so the interval is long enough to span several of
   * one device's punches. Default 60,000 ms; 0 saves each punch.
   */
  cursorSaveMs?: number;
}

export const DEFAULT_CURSOR_SAVE_MS = 60_000;

export const LIVE_HEALTH_DEFAULTS: Readonly<HealthOptions> = Object.freeze({
  backoffBaseMs: 5000,
  backoffMaxMs: 300000,
  jitter: 0.2,
});

/** Why the capture is waiting, for the node's status text ("retry in 40s"). */
export interface RetryInfo {
  delayMs: number;
  error: ZkError | Error | null;
  state: DeviceStatusState;
  failures: number;
  /** True once per failure streak: the attempt that reached the error threshold (raise one alert). */
  alert: boolean;
}

export interface LiveCaptureEvents {
  record: [record: AttendanceRecord];
  anomaly: [anomaly: RecordAnomaly];
  raw: [event: RawEvent];
  status: [event: DeviceStatusEvent];
  connecting: [];
  retry: [info: RetryInfo];
}

/**
 * Realtime capture from one device: registers for events on the device's shared session, turns each punch
 * into a canonical record, and keeps doing so across link failures. After every (re)connect it runs the
 * incremental poll from the cursor it advanced on every record it emitted, so what happened while the link
 * was down comes out once (as `source: 'poll'`), and nothing already emitted comes out again.
 *
 * Listeners must not throw; a throwing listener is logged and does not stop the capture.
 */
export class LiveCapture extends EventEmitter<LiveCaptureEvents> {
  private readonly health: HealthTracker;
  private readonly recent = new RecentIds();
  private readonly logger: Logger;
  private readonly now: () => number;
  private stopped = false;
  private started = false;
  private loopDone: Promise<void> = Promise.resolve();
  private live: LiveSession | null = null;
  private cursor: DeviceCursor | null = null;
  private cursorLoaded = false;
  /** Live events that arrive while a gap fill runs: released after it, minus what it already emitted. */
  private held: ZkEvent[] | null = null;
  private saves: Promise<void> = Promise.resolve();
  /** The lazy save waiting to run (see cursorSaveMs), or null when the file is up to date with the memory. */
  private saveTimer: NodeJS.Timeout | null = null;
  private linkLost: ((err: ZkError | null) => void) | null = null;
  private sleepTimer: NodeJS.Timeout | null = null;
  private wakeSleep: (() => void) | null = null;
  private statusState: DeviceStatusState | null = null;
  private lastSeen: Date | null = null;
  private lastAttempt: Date | null = null;
  /** The count check in progress (stop() waits for it), or null. */
  private countCheck: Promise<void> | null = null;
  private lastCountCheck = 0;

  constructor(
    readonly session: DeviceSession,
    private readonly opts: LiveCaptureOptions,
  ) {
    super();
    const health = { ...LIVE_HEALTH_DEFAULTS, ...stripUndefined(opts.health ?? {}) };
    this.health = new HealthTracker(health);
    this.logger = opts.logger ?? (() => undefined);
    this.now = health.now ?? Date.now;
  }

  get running(): boolean {
    return this.started && !this.stopped;
  }

  /** True while a live registration is up. */
  get linked(): boolean {
    return this.live !== null;
  }

  /** The cursor as advanced so far (for tests and status). */
  get currentCursor(): DeviceCursor | null {
    return this.cursor;
  }

  /** Starts connecting in the background. Idempotent. */
  start(): void {
    if (this.started || this.stopped) return;
    this.started = true;
    this.loopDone = this.loop().catch((err: Error) => {
      // The loop handles its own failures; reaching here is a bug, which must still not crash Node-RED.
      this.logger('error', `live capture of ${this.session.label} stopped unexpectedly: ${err.message}`);
    });
  }

  /** Ends a backoff wait now (e.g. the user fixed the network and asks to reconnect). No-op when linked. */
  retryNow(): void {
    this.cancelSleep();
  }

  /**
   * Unregisters, cancels any pending retry and waits for the work in progress and cursor saves to finish.
   * Leaves the device session (and its connection) to its owner. Idempotent.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    this.cancelSleep();
    this.linkLost?.(null);
    await this.loopDone;
    await this.countCheck;
    await this.dropLive();
    if (this.saveTimer) this.save(); // the lagging cursor goes to disk on a clean stop
    await this.saves;
  }

  // ---- the connection loop ----------------------------------------------------------------------

  private async loop(): Promise<void> {
    let delay = 0;
    while (!this.stopped) {
      if (delay > 0) await this.sleep(delay);
      if (this.stopped) break;
      this.safeEmit('connecting');
      this.lastAttempt = new Date(this.now());
      let link: { lost: Promise<ZkError | null> };
      try {
        link = await this.connectAndCatchUp();
      } catch (err) {
        await this.dropLive();
        if (this.stopped) break;
        delay = this.onFailure(err as Error);
        continue;
      }
      const err = await link.lost;
      if (this.stopped) break;
      await this.dropLive();
      // A drop counts as the first failure of a streak: the first reconnect waits the initial delay (a
      // rebooting device needs the time, and a link that drops right after connecting must not become a
      // tight loop), and the 24 h rule counts from the moment the link was lost.
      delay = this.onFailure(err ?? new ZkError('CONNECTION', `${this.session.label}: the live connection closed`));
    }
  }

  /**
   * Registers for events, then fills the gap. Resolves with a promise (wrapped, so awaiting this does not
   * wait for it) that settles when the link is lost or stop() is called; throws if registration or the gap
   * fill fails.
   */
  private async connectAndCatchUp(): Promise<{ lost: Promise<ZkError | null> }> {
    // info() first: the serial names the records and the cursor, and the counts feed the status event.
    await this.session.info();
    this.loadCursor();
    if (this.stopped) throw new ZkError('CONNECTION', `${this.session.label}: stopped`);
    const live = await this.session.run('live', (client) => client.live({ resolveUsers: true }));
    this.live = live;
    const lost = new Promise<ZkError | null>((resolve) => {
      this.linkLost = resolve;
    });
    live.on('event', this.onEvent);
    live.on('error', this.onLiveError);
    live.once('close', this.onLiveClose);
    if (!live.active) this.onLiveClose(null);
    if (this.stopped) throw new ZkError('CONNECTION', `${this.session.label}: stopped`);
    // Registered before the gap fill: a punch made from here on arrives live (held until the fill is done)
    // or is in the download, or both; the ids sort that out. Nothing falls between the two.
    this.held = [];
    let gap: { outcome: PollOutcome; emitted: number; skippedLog: boolean };
    try {
      gap = await this.fillGap();
    } catch (err) {
      // Not released: the cursor did not move past them, so the next gap fill finds them on the device.
      this.held = null;
      throw err;
    }
    const held = this.held ?? [];
    this.held = null;
    // When the log was skipped (first start, 'now'), the cursor sits at its end, which may include punches
    // that also arrived live after registration: those are new for this node, so only ids it emitted count.
    for (const e of held) this.handleEvent(e, gap.skippedLog);
    this.lastSeen = new Date(this.now());
    this.health.recordSuccess(this.session.key);
    const status = statusAfterPoll(this.session, gap.outcome, this.lastSeen, this.lastAttempt ?? this.lastSeen);
    this.setStatus({ ...status, newRecords: gap.emitted });
    return { lost };
  }

  /** Emits what the device logged after the cursor; returns the poll and how many records it emitted. */
  private async fillGap(): Promise<{ outcome: PollOutcome; emitted: number; skippedLog: boolean }> {
    const firstEver = this.cursor === null;
    const outcome: PollOutcome = await pollIncremental(this.session, this.cursor, { source: 'poll' });
    if (this.stopped) throw new ZkError('CONNECTION', `${this.session.label}: stopped`);
    if (firstEver && (this.opts.firstStart ?? 'now') === 'now') {
      // Mark the end of the log without emitting it: zk-live reports punches from now on.
      this.cursor = outcome.cursor;
      if (outcome.cursorChanged) this.save();
      return { outcome, emitted: 0, skippedLog: true };
    }
    let emitted = 0;
    for (const a of outcome.anomalies) this.safeEmit('anomaly', a);
    for (const r of outcome.records) {
      if (this.recent.has(r.id)) continue;
      this.recent.add(r.id);
      this.safeEmit('record', r);
      emitted++;
    }
    // The poll's cursor covers every record it returned, and carries the device count it saw.
    this.cursor = outcome.cursor;
    if (outcome.cursorChanged) this.save();
    return { outcome, emitted, skippedLog: false };
  }

  // ---- live events ------------------------------------------------------------------------------

  private readonly onEvent = (e: ZkEvent): void => {
    if (this.stopped) return;
    if (this.held) {
      this.held.push(e);
      return;
    }
    this.handleEvent(e);
  };

  private readonly onLiveError = (): void => {
    // Reported again through 'close' with the same error; this listener exists so the LiveSession emits it.
  };

  private readonly onLiveClose = (err: ZkError | null): void => {
    const resolve = this.linkLost;
    this.linkLost = null;
    resolve?.(err);
  };

  private handleEvent(e: ZkEvent, ignoreCursor = false): void {
    if (e.kind === 'raw') {
      if (this.opts.emitRaw) this.safeEmit('raw', e);
      return;
    }
    this.handleAttendance(e, ignoreCursor);
  }

  private handleAttendance(e: AttendanceEvent, ignoreCursor: boolean): void {
    const receivedAt = new Date(this.now()).toISOString();
    const result = this.session.canonical(e, 'live', receivedAt, this.notAfterMs());
    this.lastSeen = new Date(this.now());
    if (!result.ok) {
      this.safeEmit('anomaly', result.anomaly);
      return;
    }
    const r = result.record;
    // A repeat (the device resending an event, or a record the gap fill already emitted) goes nowhere.
    if (this.recent.has(r.id) || (!ignoreCursor && !this.isNew(r))) return;
    this.recent.add(r.id);
    this.safeEmit('record', r);
    this.cursor = advanceCursor(this.cursor, r);
    this.saveSoon();
    this.checkCount();
  }

  /**
   * On a link that stays up for days, the cursor's liveIds would only grow (a download resets them). So now
   * and then the device's record count is read (one small command): if every punch it logged since the
   * last download came out live, the count moves up and the ids go. If it logged more than arrived, an
   * event was lost on the way: the gap is filled now rather than at the next reconnect.
   */
  private checkCount(): void {
    const c = this.cursor;
    const afterIds = this.opts.countCheck?.afterLiveIds ?? 20;
    const everyMs = this.opts.countCheck?.everyMs ?? 60_000;
    if (!c?.liveIds || c.liveIds.length < afterIds || c.count < 0 || this.countCheck || this.held || !this.live) return;
    if (this.now() - this.lastCountCheck < everyMs) return;
    this.lastCountCheck = this.now();
    const asked = c;
    this.countCheck = this.session
      .run('count check', (client) => client.freeSizes())
      .then(async (sizes) => {
        const cur = this.cursor;
        // Any event meanwhile makes a new cursor object: the count and the ids no longer describe one moment.
        if (this.stopped || cur !== asked || !cur.liveIds) return;
        const sent = cur.liveIds.length;
        if (atCapacity(sizes) || (sizes.records === cur.count + sent && sent < MAX_LIVE_IDS)) {
          // All accounted for (or a full log that wraps in place, where positions say nothing): re-anchor.
          const { liveIds: _dropped, ...rest } = cur;
          this.cursor = { ...rest, count: sizes.records, updatedAt: new Date(this.now()).toISOString() };
          this.save();
          return;
        }
        this.logger(
          'info',
          `${this.session.label}: the device logged ${sizes.records - cur.count} punches since the last download, ${sent} came live; filling the gap`,
        );
        await this.fillGapOnline();
      })
      .catch((err: Error) => this.logger('debug', `count check of ${this.session.label}: ${err.message}`))
      .finally(() => {
        this.countCheck = null;
      });
  }

  /** The reconnect's gap fill, while linked: live events are held meanwhile and handled after it. */
  private async fillGapOnline(): Promise<void> {
    this.held = [];
    try {
      await this.fillGap();
    } finally {
      const held = this.held ?? [];
      this.held = null;
      for (const e of held) this.handleEvent(e);
    }
  }

  /**
   * Past the cursor, or earlier but never seen: a live punch stamped before the cursor (a clock stepped back)
   * is still a new punch; only the recent-id set can call it a repeat.
   */
  private isNew(r: AttendanceRecord): boolean {
    const c = this.cursor;
    if (!c || c.lastLocalTime === null || r.localTime !== c.lastLocalTime) return true;
    return !c.idsAtLast.includes(r.id);
  }

  /** Records later than the device clock plus the configured tolerance are anomalies (as in polling). */
  private notAfterMs(): number {
    const drift = this.session.lastInfo?.clockDriftSec ?? 0;
    const tolerance = this.session.config.futureToleranceSec ?? 86400;
    return this.now() + (drift + tolerance) * 1000;
  }

  // ---- failures, status -------------------------------------------------------------------------

  /** Books a failure (fleet health rules), reports it, and returns the wait before the next attempt. */
  private onFailure(err: Error): number {
    const verdict = this.health.recordFailure(this.session.key, err);
    const status = statusAfterFailure(
      this.session,
      verdict.health,
      err,
      this.lastAttempt ?? new Date(this.now()),
      this.lastSeen,
    );
    const busy = err instanceof ZkError && err.code === 'BUSY' && status.state === 'offline';
    this.setStatus(busy ? { ...status, state: 'busy' } : status);
    const delay = verdict.retryInMs;
    this.logger(
      'warn',
      `live capture of ${this.session.label}: ${err.message}; retry in ${Math.round(delay / 1000)} s`,
      {
        failures: verdict.health.consecutiveFailures,
      },
    );
    this.safeEmit('retry', {
      delayMs: delay,
      error: err,
      state: status.state,
      failures: verdict.health.consecutiveFailures,
      alert: verdict.alert,
    });
    return delay;
  }

  /**
   * A status event on every change of state, and on every successful (re)connect (with the gap count). So a
   * streak yields one 'offline', one 'error' (the alert) and one 'disabled', not one event per attempt.
   */
  private setStatus(event: DeviceStatusEvent): void {
    if (event.state === this.statusState && event.state !== 'online') return;
    this.statusState = event.state;
    this.safeEmit('status', event);
  }

  // ---- plumbing ---------------------------------------------------------------------------------

  private key(): string {
    return (this.opts.cursorKey ?? cursorKeyOf)(this.session);
  }

  /** Loads the saved cursor once the serial (part of the key) is known. */
  private loadCursor(): void {
    if (this.cursorLoaded) return;
    this.cursor = this.opts.cursors.get(this.key());
    this.cursorLoaded = true;
  }

  /** Saves within cursorSaveMs (one save for the punches meanwhile); at once when that is 0. */
  private saveSoon(): void {
    const ms = Math.max(0, this.opts.cursorSaveMs ?? DEFAULT_CURSOR_SAVE_MS);
    if (ms === 0) return this.save();
    if (this.saveTimer || this.stopped) return;
    this.saveTimer = setTimeout(() => this.save(true), ms);
    this.saveTimer.unref(); // exiting without stop() is a crash, which the lag is safe against
  }

  /** Saves in order; a failed save is logged (the next one carries the same information). */
  private save(lagging = false): void {
    if (this.saveTimer) clearTimeout(this.saveTimer);
    this.saveTimer = null;
    const key = this.key();
    const cursor = this.cursor;
    if (!cursor) return;
    this.saves = this.saves
      .then(() => this.opts.cursors.set(key, cursor, lagging))
      .catch((err: Error) => {
        this.logger('warn', `cursor of ${this.session.label} not saved: ${err.message}`);
      });
  }

  private async dropLive(): Promise<void> {
    const live = this.live;
    this.live = null;
    this.linkLost = null;
    if (!live) return;
    live.off('event', this.onEvent);
    live.off('error', this.onLiveError);
    live.off('close', this.onLiveClose);
    await live.stop().catch(() => undefined);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.wakeSleep = resolve;
      this.sleepTimer = setTimeout(() => {
        this.sleepTimer = null;
        this.wakeSleep = null;
        resolve();
      }, ms);
    });
  }

  private cancelSleep(): void {
    if (this.sleepTimer) clearTimeout(this.sleepTimer);
    this.sleepTimer = null;
    const wake = this.wakeSleep;
    this.wakeSleep = null;
    wake?.();
  }

  private safeEmit<K extends keyof LiveCaptureEvents>(event: K, ...args: LiveCaptureEvents[K]): void {
    try {
      (this.emit as (e: K, ...a: LiveCaptureEvents[K]) => boolean)(event, ...args);
    } catch (err) {
      this.logger(
        'error',
        `a ${String(event)} listener of the live capture of ${this.session.label} threw: ${(err as Error).message}`,
      );
    }
  }
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  const out: Partial<T> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  return out;
}
