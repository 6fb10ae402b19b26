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
 *
 * One record per slot, the count beside its key, so a probe touches one cache line (keys and counts in
 * two arrays cost two misses per probe once the walk of the 1M-block index has evicted them):
 *
 *   slots: Uint32Array  [lo, hi, tag, count] × capacity       count 0 = empty slot
 */

const INITIAL_BITS = 8;

const LO = 0;
const HI = 1;
const TAG = 2;
const COUNT = 3;
const STRIDE = 4;

export class BlockRefCounts {
  private bits = INITIAL_BITS;
  private capacity = 1 << INITIAL_BITS;
  private count = 0;
  /** [lo, hi, tag, count] per slot (`STRIDE` words); count 0 = empty. */
  private slots = new Uint32Array(STRIDE * this.capacity);

  get size(): number {
    return this.count;
  }

  /** Count one more holder of (lo, hi) on `tag`; returns the new count (1 = first holder). */
  increment(lo: number, hi: number, tag: number): number {
    const at = STRIDE * this.slotOf(lo, hi, tag); // first: it may rehash, replacing `this.slots`
    return ++this.slots[at + COUNT]!;
  }

  /** Count one holder fewer; returns the new count (0 = the last one left, or it was never counted). */
  decrement(lo: number, hi: number, tag: number): number {
    const i = this.find(lo, hi, tag);
    if (i < 0) return 0;
    const left = --this.slots[STRIDE * i + COUNT]!;
    if (left === 0) this.deleteAt(i);
    return left;
  }

  /**
   * Count one holder fewer if (lo, hi, tag) is counted; returns whether it was (the in-flight ledger
   * counts only holders beyond the first, so "not counted" means "the last holder is leaving").
   */
  decrementIfCounted(lo: number, hi: number, tag: number): boolean {
    const i = this.find(lo, hi, tag);
    if (i < 0) return false;
    if (--this.slots[STRIDE * i + COUNT]! === 0) this.deleteAt(i);
    return true;
  }

  /** The value stored for (lo, hi, tag), 0 when absent (the table as a map to non-zero numbers). */
  get(lo: number, hi: number, tag: number): number {
    const i = this.find(lo, hi, tag);
    return i < 0 ? 0 : this.slots[STRIDE * i + COUNT]!;
  }

  /** Store `value` (> 0, < 2^32) for (lo, hi, tag), replacing any. */
  set(lo: number, hi: number, tag: number, value: number): void {
    const at = STRIDE * this.slotOf(lo, hi, tag); // first: it may rehash, replacing `this.slots`
    this.slots[at + COUNT] = value;
  }

  /** Remove (lo, hi, tag); returns whether it was there. */
  delete(lo: number, hi: number, tag: number): boolean {
    const i = this.find(lo, hi, tag);
    if (i < 0) return false;
    this.deleteAt(i);
    return true;
  }

  /** The slot holding (lo, hi, tag), or −1. */
  private find(lo: number, hi: number, tag: number): number {
    const last = this.capacity - 1;
    const slots = this.slots;
    for (let i = this.home(lo, hi, tag); slots[STRIDE * i + COUNT] !== 0; i = (i + 1) & last) {
      const at = STRIDE * i;
      if (slots[at + LO] === lo && slots[at + HI] === hi && slots[at + TAG] === tag) return i;
    }
    return -1;
  }

  /** The slot of (lo, hi, tag), inserted with value 0 if absent (the caller stores a non-zero value). */
  private slotOf(lo: number, hi: number, tag: number): number {
    if (2 * (this.count + 1) > this.capacity) this.rehash(this.bits + 1);
    const last = this.capacity - 1;
    const slots = this.slots;
    let i = this.home(lo, hi, tag);
    for (; slots[STRIDE * i + COUNT] !== 0; i = (i + 1) & last) {
      const at = STRIDE * i;
      if (slots[at + LO] === lo && slots[at + HI] === hi && slots[at + TAG] === tag) return i;
    }
    const at = STRIDE * i;
    slots[at + LO] = lo;
    slots[at + HI] = hi;
    slots[at + TAG] = tag;
    this.count++;
    return i;
  }

  /** Fibonacci hashing of the three words (tags and test hashes may be small consecutive numbers). */
  private home(lo: number, hi: number, tag: number): number {
    const mixed = lo ^ Math.imul(hi, 0x85ebca6b) ^ Math.imul(tag, 0xc2b2ae35);
    return Math.imul(mixed, 0x9e3779b1) >>> (32 - this.bits);
  }

  /** Backward-shift deletion (as `block-index.ts`): no tombstones, so lookups stay short. */
  private deleteAt(slot: number): void {
    const last = this.capacity - 1;
    const slots = this.slots;
    let hole = slot;
    for (let j = (slot + 1) & last; slots[STRIDE * j + COUNT] !== 0; j = (j + 1) & last) {
      const at = STRIDE * j;
      const home = this.home(slots[at + LO]!, slots[at + HI]!, slots[at + TAG]!);
      const reachable = hole <= j ? home > hole && home <= j : home > hole || home <= j;
      if (reachable) continue;
      slots.copyWithin(STRIDE * hole, at, at + STRIDE);
      hole = j;
    }
    slots[STRIDE * hole + COUNT] = 0;
    this.count--;
  }

  private rehash(bits: number): void {
    const { slots: old, capacity } = this;
    this.bits = bits;
    this.capacity = 1 << bits;
    this.slots = new Uint32Array(STRIDE * this.capacity);
    const last = this.capacity - 1;
    for (let s = 0; s < capacity; s++) {
      const from = STRIDE * s;
      if (old[from + COUNT] === 0) continue;
      let i = this.home(old[from + LO]!, old[from + HI]!, old[from + TAG]!);
      while (this.slots[STRIDE * i + COUNT] !== 0) i = (i + 1) & last;
      for (let k = 0; k < STRIDE; k++) this.slots[STRIDE * i + k] = old[from + k]!;
    }
  }
}
