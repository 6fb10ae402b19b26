/**
 * The project's seeded pseudo-random generators, behind one interface. Like `srand(seed)`: anything that must
 * make the same "random" choices on every run (a seeded request's sampled tokens, a seeded router's tie
 * breaks, a fuzz test's inputs, a benchmark's workload) takes an `Rng` built here. Not for anything
 * cryptographic.
 *
 * Two algorithms, because two kinds of stream are already recorded and must not move:
 *
 * - `xoshiro128**` (Blackman & Vigna, 2018; the default): 128 bits of state, period 2^128 − 1, passes
 *   BigCrush, 32-bit integer operations only (`Math.imul`, `>>>`). One per request in the engine's sampler,
 *   like giving each TCP connection its own sequence-number space: a request's draws never depend on which
 *   other requests share its batch, so the same seed gives the same tokens whatever the load. The seeded
 *   sampling tests pin its stream.
 * - `mulberry32`: 32 bits of state, period 2^32, a few operations per draw. Plenty for picking among workers;
 *   the router's seeded policies, `bench:router`'s workloads, lab 3.3's shared-prefix workload and the fuzz
 *   tests were all recorded with it, so moving them to xoshiro would change every seeded routing figure.
 */
import { pooledRandomBytes } from './entropy-pool.ts';

export interface Rng {
  /** Uniform float in [0, 1), 32 bits of randomness. */
  nextFloat(): number;
  /** Uniform integer in [0, n). */
  nextInt(n: number): number;
}

export type PrngAlgorithm = 'xoshiro128**' | 'mulberry32';

/**
 * A generator for `seed`, or, without one, seeded from the OS entropy pool (48 bits): unpredictable, the
 * production default for unseeded requests and routers.
 */
export function createRng(seed?: number, algorithm: PrngAlgorithm = 'xoshiro128**'): Rng {
  const s = seed ?? pooledRandomBytes(6).readUIntLE(0, 6);
  return algorithm === 'mulberry32' ? new Mulberry32(s) : new Xoshiro128(s);
}

/** splitmix32: a stateless-looking mixer; each call advances `state` by the golden-ratio constant. */
function splitmix32(state: { s: number }): number {
  state.s = (state.s + 0x9e3779b9) | 0;
  let z = state.s;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/**
 * xoshiro128**. The state is filled from the seed with splitmix32, the recommended way to spread a small seed
 * over a larger state (and never all zeros, the one forbidden state).
 */
export class Xoshiro128 implements Rng {
  private readonly s = new Uint32Array(4); // (4) the 128-bit state

  /**
   * @param seed any finite number; integers up to 2^53 use all their bits (the high and low 32-bit halves
   *   are both mixed in), so seeds 1 and 2^32 + 1 differ.
   */
  constructor(seed: number) {
    const lo = seed >>> 0; // low 32 bits (two's complement for negatives)
    const hi = Math.floor(seed / 0x100000000) >>> 0; // high bits
    const mix = { s: lo ^ Math.imul(hi, 0x27d4eb2d) };
    for (let i = 0; i < 4; i++) this.s[i] = splitmix32(mix) ^ (i === 0 ? hi : 0);
    if ((this.s[0] | this.s[1] | this.s[2] | this.s[3]) === 0) this.s[0] = 1;
  }

  /** Next 32-bit output as an unsigned integer. */
  nextUint32(): number {
    const s = this.s;
    const result = Math.imul(rotl(Math.imul(s[1], 5), 7), 9) >>> 0;
    const t = s[1] << 9;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  }

  nextFloat(): number {
    return this.nextUint32() / 0x100000000;
  }

  nextInt(n: number): number {
    return Math.floor(this.nextFloat() * n);
  }
}

/** mulberry32: one 32-bit counter, advanced by a constant and scrambled on every draw. */
export class Mulberry32 implements Rng {
  private state: number;

  constructor(seed: number) {
    // Fold the high bits of a large seed into the 32-bit state so seeds 1 and 2^32 + 1 differ.
    this.state = (seed >>> 0) ^ Math.imul(Math.floor(seed / 0x100000000) >>> 0, 0x9e3779b1);
  }

  nextFloat(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) | 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  nextInt(n: number): number {
    return Math.floor(this.nextFloat() * n);
  }
}
