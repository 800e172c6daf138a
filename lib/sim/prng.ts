/**
 * Small seeded PRNG (splitmix32-style mixing of a Weyl sequence). Not cryptographic: it only has to be fast
 * and reproducible so that a seed always yields the same users, punches, session ids and packet losses.
 */
export class Prng {
  private state: number;

  constructor(seed: number) {
    this.state = (seed | 0) ^ 0x9e3779b9;
  }

  /** Uniform u32. */
  nextU32(): number {
    this.state = (this.state + 0x9e3779b9) | 0;
    let z = this.state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) >>> 0;
  }

  /** Uniform float in [0, 1). */
  next(): number {
    return this.nextU32() / 4294967296;
  }

  /** Integer in [min, max] (inclusive). */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)];
  }

  /** A derived, independent generator (so adding draws in one place does not shift another's sequence). */
  fork(salt: number): Prng {
    return new Prng((this.nextU32() ^ Math.imul(salt, 0x27d4eb2d)) | 0);
  }
}
