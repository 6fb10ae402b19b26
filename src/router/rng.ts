/**
 * A small seeded random source for routing decisions, so that a test (or a replayed benchmark) makes the
 * same choices every run, like a load balancer's "random" mode with a fixed seed.
 *
 * Algorithm: mulberry32 (util/mulberry32.ts; 32-bit state, period 2^32): plenty for picking among workers
 * and cheap enough to call on every request. Not for anything cryptographic.
 */
import { Mulberry32 } from '../util/mulberry32.ts';

export { Mulberry32 };

export interface RouterRng {
  /** Uniform float in [0, 1). */
  next(): number;
  /** Uniform integer in [0, n). */
  nextInt(n: number): number;
}

/** A seeded generator, or an unpredictable one when no seed is given (production default). */
export function createRng(seed?: number): RouterRng {
  return new Mulberry32(seed ?? Math.floor(Math.random() * 0x100000000));
}
