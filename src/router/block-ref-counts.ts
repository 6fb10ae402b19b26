/**
 * Reference counts per (worker, block): how many in-flight requests on a worker hold a block. The in-flight
 * ledger (`active-sequences.ts`) needs them to know when a worker's last request on a shared prefix ends.
 * `get`/`set`/`delete` use the same table as a map to any non-zero number (`predicted-blocks.ts`: entry ids).
 *
 * Same layout as `block-index.ts` (an open-addressed table in flat typed arrays, linear probing, at most
 * half full, backward-shift deletion), keyed by the 64-bit sequence hash as two 32-bit halves plus a small
 * worker tag. Why not `Map<bigint, number>` per worker, as before: a BigInt key costs ~290 ns per lookup
 * (it is hashed from its digits each time) and two of them per block per routed request; these are a few
 * integer compares. Like a kernel's conntrack table: fixed-size records, no object per entry.
 */

const INITIAL_BITS = 8;

export class BlockRefCounts {
  private bits = INITIAL_BITS;
  private capacity = 1 << INITIAL_BITS;
  private count = 0;
  /** [lo, hi, tag] per slot. */
  private keys = new Uint32Array(3 * this.capacity);
  /** Reference count per slot; 0 = empty slot. */
  private refs = new Uint32Array(this.capacity);

  get size(): number {
    return this.count;
  }

  /** Count one more holder of (lo, hi) on `tag`; returns the new count (1 = first holder). */
  increment(lo: number, hi: number, tag: number): number {
    const slot = this.slotOf(lo, hi, tag); // first: it may rehash, replacing `this.refs`
    return ++this.refs[slot]!;
  }

  /** Count one holder fewer; returns the new count (0 = the last one left, or it was never counted). */
  decrement(lo: number, hi: number, tag: number): number {
    const last = this.capacity - 1;
    for (let i = this.home(lo, hi, tag); this.refs[i] !== 0; i = (i + 1) & last) {
      if (!this.matches(i, lo, hi, tag)) continue;
      const left = --this.refs[i]!;
      if (left === 0) this.deleteAt(i);
      return left;
    }
    return 0;
  }

  /** The value stored for (lo, hi, tag), 0 when absent (the table as a map to non-zero numbers). */
  get(lo: number, hi: number, tag: number): number {
    const last = this.capacity - 1;
    for (let i = this.home(lo, hi, tag); this.refs[i] !== 0; i = (i + 1) & last) {
      if (this.matches(i, lo, hi, tag)) return this.refs[i]!;
    }
    return 0;
  }

  /** Store `value` (> 0, < 2^32) for (lo, hi, tag), replacing any. */
  set(lo: number, hi: number, tag: number, value: number): void {
    const slot = this.slotOf(lo, hi, tag); // first: it may rehash, replacing `this.refs`
    this.refs[slot] = value;
  }

  /** Remove (lo, hi, tag); returns whether it was there. */
  delete(lo: number, hi: number, tag: number): boolean {
    const last = this.capacity - 1;
    for (let i = this.home(lo, hi, tag); this.refs[i] !== 0; i = (i + 1) & last) {
      if (!this.matches(i, lo, hi, tag)) continue;
      this.deleteAt(i);
      return true;
    }
    return false;
  }

  /** The slot of (lo, hi, tag), inserted with value 0 if absent (the caller stores a non-zero value). */
  private slotOf(lo: number, hi: number, tag: number): number {
    if (2 * (this.count + 1) > this.capacity) this.rehash(this.bits + 1);
    const last = this.capacity - 1;
    let i = this.home(lo, hi, tag);
    for (; this.refs[i] !== 0; i = (i + 1) & last) {
      if (this.matches(i, lo, hi, tag)) return i;
    }
    this.keys[3 * i] = lo;
    this.keys[3 * i + 1] = hi;
    this.keys[3 * i + 2] = tag;
    this.count++;
    return i;
  }

  private matches(i: number, lo: number, hi: number, tag: number): boolean {
    return this.keys[3 * i] === lo && this.keys[3 * i + 1] === hi && this.keys[3 * i + 2] === tag;
  }

  /** Fibonacci hashing of the three words (tags and test hashes may be small consecutive numbers). */
  private home(lo: number, hi: number, tag: number): number {
    const mixed = lo ^ Math.imul(hi, 0x85ebca6b) ^ Math.imul(tag, 0xc2b2ae35);
    return Math.imul(mixed, 0x9e3779b1) >>> (32 - this.bits);
  }

  /** Backward-shift deletion (as `block-index.ts`): no tombstones, so lookups stay short. */
  private deleteAt(slot: number): void {
    const last = this.capacity - 1;
    const keys = this.keys;
    let hole = slot;
    for (let j = (slot + 1) & last; this.refs[j] !== 0; j = (j + 1) & last) {
      const home = this.home(keys[3 * j]!, keys[3 * j + 1]!, keys[3 * j + 2]!);
      const reachable = hole <= j ? home > hole && home <= j : home > hole || home <= j;
      if (reachable) continue;
      keys.copyWithin(3 * hole, 3 * j, 3 * j + 3);
      this.refs[hole] = this.refs[j]!;
      hole = j;
    }
    this.refs[hole] = 0;
    this.count--;
  }

  private rehash(bits: number): void {
    const { keys, refs, capacity } = this;
    this.bits = bits;
    this.capacity = 1 << bits;
    this.keys = new Uint32Array(3 * this.capacity);
    this.refs = new Uint32Array(this.capacity);
    const last = this.capacity - 1;
    for (let s = 0; s < capacity; s++) {
      if (refs[s] === 0) continue;
      const lo = keys[3 * s]!;
      const hi = keys[3 * s + 1]!;
      const tag = keys[3 * s + 2]!;
      let i = this.home(lo, hi, tag);
      while (this.refs[i] !== 0) i = (i + 1) & last;
      this.keys[3 * i] = lo;
      this.keys[3 * i + 1] = hi;
      this.keys[3 * i + 2] = tag;
      this.refs[i] = refs[s]!;
    }
  }
}
