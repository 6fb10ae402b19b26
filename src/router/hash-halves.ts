/**
 * 64-bit sequence hashes as interleaved [lo, hi] 32-bit halves, written into one reused buffer: the typed
 * tables of the router (`block-index.ts`, `block-ref-counts.ts` through `active-sequences.ts`,
 * `predicted-blocks.ts`) key on the two halves, and converting through a shared view allocates nothing:
 * from BigInt (`of`, `one`) or from the decimal wire form of a KV event (`wire`).
 * The returned array is overwritten by the next call: read it before converting again.
 */
import type { SequenceHash } from '../protocols/ids.ts';

const TWO_32 = 4294967296;

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

  /**
   * A decimal u64 (a KV event's hash on the wire, validated where it entered the process) as halves at
   * [0] (low) and [1] (high), by digit arithmetic (no BigInt): value = a·10⁹ + b with a's 11 leading
   * digits and b's 9 trailing ones, each exact in a double.
   */
  wire(text: string): Uint32Array {
    const n = text.length;
    const split = n > 9 ? n - 9 : 0;
    let a = 0; // < 1.85e10 < 2^35
    for (let k = 0; k < split; k++) a = a * 10 + (text.charCodeAt(k) - 48);
    let b = 0; // < 1e9
    for (let k = split; k < n; k++) b = b * 10 + (text.charCodeAt(k) - 48);
    // a·10⁹ = aHi·10⁹·2^16 + aLo·10⁹ = x·2^16 + aLo·10⁹, and x·2^16 = xHi·2^32 + xLo·2^16.
    const aHi = Math.floor(a / 65536);
    const x = aHi * 1e9; // < 2^49
    const xHi = Math.floor(x / 65536);
    const y = (a - aHi * 65536) * 1e9 + b; // < 2^47
    const yHi = Math.floor(y / TWO_32);
    const low = (x - xHi * 65536) * 65536 + (y - yHi * TWO_32); // < 2^33
    const carry = low >= TWO_32 ? 1 : 0;
    this.narrow[0] = low - carry * TWO_32;
    this.narrow[1] = (xHi + yHi + carry) % TWO_32;
    return this.narrow;
  }
}
