import { strict as assert } from 'assert';
import { statusFor } from '../../nodes/zk-sink/sink-status';

describe('zk-sink status line', () => {
  it('shows what waits, what was sent, and what the target holds (parked), never mixing them up', () => {
    assert.deepEqual(statusFor({ state: 'idle', pending: 0 }, 12345), {
      fill: 'green',
      shape: 'dot',
      text: 'ok · 12,345 sent',
    });
    assert.deepEqual(statusFor({ state: 'idle', pending: 0 }, 10, 3), {
      fill: 'yellow',
      shape: 'dot',
      text: 'ok · 10 sent · 3 parked',
    });
    assert.deepEqual(statusFor({ state: 'sending', pending: 2500 }, 0), {
      fill: 'yellow',
      shape: 'dot',
      text: 'queued 2,500',
    });
    assert.deepEqual(statusFor({ state: 'sending', pending: 7 }, 0, 1), {
      fill: 'yellow',
      shape: 'dot',
      text: 'queued 7 · 1 parked',
    });
    assert.deepEqual(statusFor({ state: 'retry', pending: 40, retryInMs: 90_000, attempt: 3, error: 'down' }, 0, 2), {
      fill: 'red',
      shape: 'ring',
      text: 'retry in 2m · 40 · 2 parked',
    });
    assert.equal(
      statusFor({ state: 'retry', pending: 1, retryInMs: 200, attempt: 1, error: 'x' }, 0).text,
      'retry in 1s · 1',
    );
  });
});
