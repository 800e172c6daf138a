/**
 * The node's status line for one device or a fleet of live connections: `online · 12 punches`,
 * `retry in 40s`, `118/120 online · 3,402 punches`, through the shared throttle (one update per 500 ms,
 * the last state always shows; the text is computed when it is shown).
 */
import type { DeviceStatusState } from '../../lib/record/status';
import { fmtCount, NodeStatus, StatusTarget, ThrottledStatus } from '../shared/status';

type LinkState = 'connecting' | DeviceStatusState;

interface DeviceView {
  state: LinkState;
  retryAt: number | null;
  error: string | null;
}

function wait(ms: number): string {
  const s = Math.max(1, Math.round(ms / 1000));
  return s < 120 ? `${s}s` : s < 7200 ? `${Math.round(s / 60)}m` : `${Math.round(s / 3600)}h`;
}

export class LiveStatusView {
  private readonly devices = new Map<string, DeviceView>();
  private punches = 0;
  private readonly throttle: ThrottledStatus;

  constructor(
    sink: StatusTarget,
    minGapMs = 500,
    private readonly now: () => number = Date.now,
  ) {
    this.throttle = new ThrottledStatus(sink, minGapMs, now);
  }

  add(key: string): void {
    this.devices.set(key, { state: 'connecting', retryAt: null, error: null });
    this.update();
  }

  remove(key: string): void {
    this.devices.delete(key);
    this.update();
  }

  connecting(key: string): void {
    this.patch(key, { state: 'connecting', retryAt: null });
  }

  state(key: string, state: DeviceStatusState, error: string | null): void {
    this.patch(key, { state, error, retryAt: state === 'online' ? null : (this.devices.get(key)?.retryAt ?? null) });
  }

  retry(key: string, delayMs: number, error: string | null): void {
    this.patch(key, { retryAt: this.now() + delayMs, error });
  }

  punch(): void {
    this.punches++;
    this.update();
  }

  /** A configuration problem: shown at once, and kept. */
  error(text: string): void {
    this.show({ fill: 'red', shape: 'ring', text: text.slice(0, 40) });
  }

  /** A fixed line shown at once (e.g. a shard that owns none of the list), until the next change. */
  show(st: NodeStatus): void {
    this.throttle.set(st, true);
  }

  close(): void {
    this.throttle.close();
  }

  private patch(key: string, p: Partial<DeviceView>): void {
    const v = this.devices.get(key);
    if (!v) return;
    Object.assign(v, p);
    this.update();
  }

  private update(): void {
    this.throttle.set(() => this.text());
  }

  /** Shows the current state now (e.g. 'no devices' before any list arrived). */
  render(): void {
    this.throttle.set(() => this.text(), true);
  }

  text(): NodeStatus {
    const views = [...this.devices.values()];
    const p = `${fmtCount(this.punches)} punch${this.punches === 1 ? '' : 'es'}`;
    if (views.length === 0) return { fill: 'grey', shape: 'ring', text: 'no devices' };
    if (views.length === 1) {
      const v = views[0];
      const retry = v.retryAt !== null ? ` · retry in ${wait(v.retryAt - this.now())}` : '';
      switch (v.state) {
        case 'online':
          return { fill: 'green', shape: 'dot', text: `online · ${p}` };
        case 'connecting':
          return { fill: 'blue', shape: 'ring', text: 'connecting' };
        case 'busy':
          return { fill: 'yellow', shape: 'ring', text: `busy${retry}` };
        case 'offline':
          return {
            fill: 'yellow',
            shape: 'ring',
            text: v.retryAt !== null ? `retry in ${wait(v.retryAt - this.now())}` : 'offline',
          };
        case 'disabled':
          return { fill: 'grey', shape: 'ring', text: `disabled${retry}` };
        case 'error':
          return { fill: 'red', shape: 'ring', text: `error: ${v.error ?? 'failed'}`.slice(0, 40) };
      }
    }
    const online = views.filter((v) => v.state === 'online').length;
    const fill = online === views.length ? 'green' : online === 0 ? 'red' : 'yellow';
    return { fill, shape: online === views.length ? 'dot' : 'ring', text: `${online}/${views.length} online · ${p}` };
  }
}
