/**
 * Waiting in tests and benches: the one sleep and the one polling wait. No mocha globals, so bench/ may use it
 * (everything in support/ is shared by test/ and bench/, which is why it lives outside test/).
 */

/** Resolves after `ms`. For pacing and for letting time pass on purpose; to wait for something, use `until`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Polls `cond` every `everyMs` until it returns a truthy value, and resolves with that value; throws naming
 * `what` after `ms` (generous: only a failing test waits it out). `cond` may be async (a query, a request).
 */
export async function until<T>(
  cond: () => T | Promise<T>,
  ms = 20000,
  what = 'condition',
  everyMs = 10,
): Promise<NonNullable<T>> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await cond();
    if (v) return v as NonNullable<T>;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}
