/**
 * A small seeded random source for routing decisions, so that a test (or a replayed benchmark) makes the
 * same choices every run, like a load balancer's "random" mode with a fixed seed.
 *
 * Algorithm: mulberry32 (32-bit state, period 2^32): plenty for picking among workers and cheap enough to
 * call on every request. Not for anything cryptographic.
 */

export interface RouterRng {
  /** Uniform float in [0, 1). */
  next(): number;
  /** Uniform integer in [0, n). */
  nextInt(n: number): number;
}

export class Mulberry32 implements RouterRng {
  private state: number;

  constructor(seed: number) {
    // Fold the high bits of a large seed into the 32-bit state so seeds 1 and 2^32 + 1 differ.
    this.state = (seed >>> 0) ^ Math.imul(Math.floor(seed / 0x100000000) >>> 0, 0x9e3779b1);
  }

  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) | 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  nextInt(n: number): number {
    return Math.floor(this.next() * n);
  }
}

/** A seeded generator, or an unpredictable one when no seed is given (production default). */
export function createRng(seed?: number): RouterRng {
  return new Mulberry32(seed ?? Math.floor(Math.random() * 0x100000000));
}
