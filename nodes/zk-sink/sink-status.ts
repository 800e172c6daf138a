/** zk-sink's status line: what waits in the queue, what was sent, and what the target holds (Access park). */
import type { DeliveryState } from '../../lib/sinks';
import { fmtCount, NodeStatus } from '../shared/status';
const fmtDelay = (ms: number): string =>
  ms >= 60_000 ? `${Math.round(ms / 60_000)}m` : `${Math.max(1, Math.round(ms / 1000))}s`;

/** `held`: records the target keeps to write later (Sink.held), shown so they are not mistaken for sent. */
export function statusFor(s: DeliveryState, sent: number, held = 0): NodeStatus {
  const parked = held > 0 ? ` · ${fmtCount(held)} parked` : '';
  if (s.state === 'retry')
    return { fill: 'red', shape: 'ring', text: `retry in ${fmtDelay(s.retryInMs)} · ${fmtCount(s.pending)}${parked}` };
  if (s.pending > 0) return { fill: 'yellow', shape: 'dot', text: `queued ${fmtCount(s.pending)}${parked}` };
  return { fill: held > 0 ? 'yellow' : 'green', shape: 'dot', text: `ok · ${fmtCount(sent)} sent${parked}` };
}
