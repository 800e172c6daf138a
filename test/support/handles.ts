/**
 * Leak check: the kinds of active handles (sockets, servers, timers) after a test must be no more than
 * before it. Uses process.getActiveResourcesInfo(), so it sees what keeps the event loop alive.
 */
const WATCHED = ['TCPSocketWrap', 'TCPServerWrap', 'UDPWrap', 'Timeout', 'TCPWRAP', 'UDPWRAP'];

export function resourceCounts(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of process.getActiveResourcesInfo()) {
    if (WATCHED.includes(r)) out[r] = (out[r] ?? 0) + 1;
  }
  return out;
}

/** Waits (briefly) until no watched resource exceeds the baseline; returns the excess, {} when clean. */
export async function leakedSince(baseline: Record<string, number>, waitMs = 1000): Promise<Record<string, number>> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const now = resourceCounts();
    const excess: Record<string, number> = {};
    for (const [k, v] of Object.entries(now)) if (v > (baseline[k] ?? 0)) excess[k] = v - (baseline[k] ?? 0);
    if (Object.keys(excess).length === 0 || Date.now() > deadline) return excess;
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setTimeout(r, 10).unref());
  }
}

/**
 * Installs the leak check around every test of the enclosing describe. Both hooks measure after an await,
 * when mocha has armed its own timer for the running hook, so that timer is on both sides of the count.
 */
export function checkNoLeaks(waitMs = 2000): void {
  let baseline: Record<string, number> = {};
  beforeEach(async function () {
    await new Promise((r) => setImmediate(r));
    baseline = resourceCounts();
  });
  afterEach(async function () {
    await new Promise((r) => setImmediate(r));
    const excess = await leakedSince(baseline, waitMs);
    if (Object.keys(excess).length > 0) {
      throw new Error(`sockets, servers or timers left behind: ${JSON.stringify(excess)}`);
    }
  });
}
