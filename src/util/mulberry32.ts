/**
 * mulberry32: a tiny seeded pseudo-random generator (32-bit state, period 2^32), like `srand(seed)` for
 * anything that must make the same "random" choices on every run: routing picks, fuzz inputs. Cheap enough
 * to call per request; not for anything cryptographic.
 */
export class Mulberry32 {
  private state: number;

  constructor(seed: number) {
    // Fold the high bits of a large seed into the 32-bit state so seeds 1 and 2^32 + 1 differ.
    this.state = (seed >>> 0) ^ Math.imul(Math.floor(seed / 0x100000000) >>> 0, 0x9e3779b1);
  }

  /** Uniform float in [0, 1). */
  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) | 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Uniform integer in [0, n). */
  nextInt(n: number): number {
    return Math.floor(this.next() * n);
  }
}
