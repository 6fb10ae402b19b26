/**
 * A small seeded pseudo-random generator, one per request: like giving each TCP connection its own sequence
 * number space, a request's random draws never depend on which other requests share its batch, so the same
 * seed gives the same tokens whatever the load.
 *
 * Algorithm: xoshiro128** (Blackman & Vigna, 2018): 128 bits of state, period 2^128 − 1, passes BigCrush,
 * and uses only 32-bit integer operations, which JavaScript does natively (`Math.imul`, `>>>`). The state is
 * filled from the seed with splitmix32, the recommended way to spread a small seed over a larger state (and
 * never all zeros, the one forbidden state).
 */
import { randomBytes } from 'node:crypto';

export interface Rng {
  /** Uniform float in [0, 1), 32 bits of randomness. */
  nextFloat(): number;
}

/** splitmix32: a stateless-looking mixer; each call advances `state` by the golden-ratio constant. */
function splitmix32(state: { s: number }): number {
  state.s = (state.s + 0x9e3779b9) | 0;
  let z = state.s;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

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
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/** The generator for a request: seeded when the request gave a seed, otherwise from the OS entropy pool. */
export function createRng(seed: number | undefined): Rng {
  return new Xoshiro128(
    seed ?? randomBytes(4).readUInt32LE(0) + randomBytes(2).readUInt16LE(0) * 0x100000000,
  );
}
