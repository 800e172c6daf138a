import { Prng } from '../../lib/sim/prng';

/**
 * Test helpers: a seeded generator (so fuzz and property tests are reproducible from a seed) and hex
 * helpers for byte-exact comparisons against the vectors in docs/zk-protocol.md.
 */

/** The simulator's seeded generator (lib/sim/prng) with the draws tests want: ranges, booleans, bytes. */
export class Rng {
  private readonly prng: Prng;

  constructor(readonly seed: number) {
    this.prng = new Prng(seed);
  }

  /** Uniform u32. */
  u32(): number {
    return this.prng.nextU32();
  }

  /** Integer in [0, n). */
  int(n: number): number {
    return n <= 0 ? 0 : Math.floor((this.u32() / 0x1_0000_0000) * n);
  }

  /** Integer in [lo, hi] (inclusive). */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  bool(p = 0.5): boolean {
    return this.u32() / 0x1_0000_0000 < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }

  bytes(n: number): Buffer {
    const b = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) b[i] = this.u32() & 0xff;
    return b;
  }
}

/** `50 50 82 7D`-style upper-case hex, the notation the protocol doc uses. */
export function hex(buf: Uint8Array): string {
  return Buffer.from(buf.buffer, buf.byteOffset, buf.length)
    .toString('hex')
    .toUpperCase()
    .replace(/(..)(?!$)/g, '$1 ');
}

/** Parses doc-style hex (whitespace ignored). */
export function unhex(s: string): Buffer {
  const clean = s.replace(/\s+/g, '');
  if (!/^([0-9a-fA-F]{2})*$/.test(clean)) throw new Error(`bad hex: ${s}`);
  return Buffer.from(clean, 'hex');
}

/** Normalises doc hex for comparison with `hex()` output. */
export function normHex(s: string): string {
  return hex(unhex(s));
}
