/** Polls `cond` every 10 ms until it holds; throws naming `what` after `ms` (generous: only a failing test waits it out). */
export async function until(cond: () => boolean, ms = 20000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
