/**
 * 64-bit sequence hashes as interleaved [lo, hi] 32-bit halves, written into one reused buffer: the typed
 * tables of the router (`block-index.ts`, `block-ref-counts.ts` through `active-sequences.ts`,
 * `predicted-blocks.ts`) key on the two halves, and converting through a shared view allocates nothing.
 * The returned array is overwritten by the next call: read it before converting again.
 */
import type { SequenceHash } from '../protocols/ids.ts';

export class HashHalves {
  private wide = new BigUint64Array(64);
  private narrow = new Uint32Array(this.wide.buffer);

  /** `hashes[i]`'s halves at [2i] (low) and [2i + 1] (high). */
  of(hashes: readonly SequenceHash[]): Uint32Array {
    if (this.wide.length < hashes.length) {
      this.wide = new BigUint64Array(Math.max(hashes.length, 2 * this.wide.length));
      this.narrow = new Uint32Array(this.wide.buffer);
    }
    for (let i = 0; i < hashes.length; i++) this.wide[i] = hashes[i]!;
    return this.narrow;
  }

  /** One hash's halves at [0] (low) and [1] (high). */
  one(hash: SequenceHash): Uint32Array {
    this.wide[0] = hash;
    return this.narrow;
  }
}
