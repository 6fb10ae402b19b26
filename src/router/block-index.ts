/**
 * The radix index's storage: which workers cache which block, with no notion of events or ids (that is
 * `kv-indexer.ts`). Like a CDN's "which edge nodes hold this object" table, keyed by content address.
 *
 * Why a flat hash → node table is a radix tree here: a block's key is its SEQUENCE hash, chained over every
 * block before it (docs/design-notes.md#block-hashes). So the hash of block i already names the whole path
 * root → i, and the table IS the tree's node table: looking up hashes[0], hashes[1], ... in order walks from
 * the root down one branch, exactly as following child pointers would, without storing edges. A block
 * stored under a parent we never saw (an eviction raced a store) is simply another entry; a walk stops at
 * the missing parent.
 *
 * Layout (a hash table in one flat typed array, like a kernel's open-addressed flow table; no object per
 * block, no BigInt key, so no garbage per event and ~34 bytes per indexed block at 64 workers):
 *
 *   table: Uint32Array  one record of 2 + `words` words per slot (linear probing, ≤ 1/2 full):
 *          [lo, hi, mask 0, …, mask words−1]   the 64-bit sequence hash's halves, then the worker bitmask:
 *                                               bit b of mask k ⇔ worker slot 32·k + b
 *
 * Key and mask share a record so a probe touches one cache line (three arrays cost three misses per
 * probe once the table outgrows the cache: the routing walk's cost at 1M blocks). A slot is occupied iff
 * its mask is not all zero: a block no worker holds any more leaves the table at once (backward-shift
 * deletion: no tombstones).
 * Intersecting "workers that hold every block so far" is a word-wise AND per block, whatever the number of
 * workers. Worker slots are small integers, reused after a worker leaves; the per-worker block count is a
 * counter, and `clearWorker` (a snapshot rebuild, a `cleared` event, a departure: rare) scans the table.
 * Hashes arrive as BigInt (the router's prompt hashes) or as decimal strings (KV events on the wire), and
 * are split into two 32-bit halves without allocating (a BigUint64Array view, or digit arithmetic in
 * `block-index-wire.ts`).
 */

import type { SequenceHash, WorkerId } from '../protocols/ids.ts';
import { HashHalves } from './hash-halves.ts';

const INITIAL_BITS = 10;

export class BlockIndex {
  private bits = INITIAL_BITS;
  private capacity = 1 << INITIAL_BITS;
  /** Mask words per table slot: ⌈worker slots / 32⌉, grown (with a rehash) as workers join. */
  private words = 1;
  /** Words per record: 2 (key) + `words` (mask). */
  private stride = 3;
  private table = new Uint32Array(this.stride * this.capacity);
  private count = 0;
  /** Each worker's slot (a small integer: its bit in the masks, its index in the per-slot arrays). */
  private readonly byWorker = new Map<WorkerId, number>();
  private readonly slotOwners: (WorkerId | undefined)[] = [];
  private readonly freeSlots: number[] = [];
  /** Scratch: BigInt hashes written here are read back as 32-bit halves (little-endian lo, hi). */
  private readonly halves = new HashHalves();
  private alive = new Uint32Array(1);
  /**
   * Blocks each worker slot holds (its "tree size"): a typed array by slot rather than a field per
   * worker object, so reading every worker's count in a decision touches a few cache lines, not 64 objects.
   */
  private slotBlocks = new Uint32Array(64);
  /** The last `matchDepths` walk: leading blocks held, by worker slot. */
  private depthBySlot = new Uint32Array(64);

  /** Distinct blocks cached by at least one worker. */
  get numBlocks(): number {
    return this.count;
  }

  /** Workers with at least one block, or registered via `ensureWorker`. */
  get workers(): WorkerId[] {
    return [...this.byWorker.keys()];
  }

  /** Bytes held by the table's arrays (the index's memory, bar the per-worker entries). */
  get tableBytes(): number {
    return this.table.byteLength;
  }

  hasWorker(workerId: WorkerId): boolean {
    return this.byWorker.has(workerId);
  }

  /** Blocks `workerId` caches (its "tree size"). */
  workerBlockCount(workerId: WorkerId): number {
    return this.blocksAt(this.slotOf(workerId));
  }

  /** True when `workerId` caches the block `hash`. */
  holds(workerId: WorkerId, hash: SequenceHash): boolean {
    const slot = this.slotOf(workerId);
    if (slot < 0) return false;
    const h = this.halves.one(hash);
    return this.holdsKey(slot, h[0]!, h[1]!);
  }

  /** `holds` for one hash given as 32-bit halves, for the worker in `slot` (false when none is there). */
  holdsHalvesAt(slot: number, lo: number, hi: number): boolean {
    return this.slotOwners[slot] !== undefined && this.holdsKey(slot, lo, hi);
  }

  ensureWorker(workerId: WorkerId): void {
    this.ensureSlot(workerId);
  }

  /** Record that `workerId` caches each of `hashes`. Returns how many were new for it. */
  store(workerId: WorkerId, hashes: Iterable<SequenceHash>): number {
    const slot = this.ensureSlot(workerId);
    let added = 0;
    for (const hash of hashes) {
      const h = this.halves.one(hash);
      added += this.storeKey(slot, h[0]!, h[1]!);
    }
    return added;
  }

  /**
   * The worker's slot, registering it if new: callers that store many blocks for one worker
   * (`storeHalvesAt`, the in-flight ledger) look it up once instead of once per block.
   */
  ensureSlot(workerId: WorkerId): number {
    let slot = this.byWorker.get(workerId);
    if (slot === undefined) {
      slot = this.freeSlots.pop() ?? this.slotOwners.length;
      this.slotOwners[slot] = workerId;
      if (slot >>> 5 >= this.words) this.rehash(this.bits, (slot >>> 5) + 1);
      if (slot >= this.slotBlocks.length) {
        const grown = new Uint32Array(2 * this.slotBlocks.length);
        grown.set(this.slotBlocks);
        this.slotBlocks = grown;
      }
      this.byWorker.set(workerId, slot);
    }
    return slot;
  }

  /** `store` for one hash given as 32-bit halves, for the worker in `slot` (from `ensureSlot`). */
  storeHalvesAt(slot: number, lo: number, hi: number): number {
    return this.storeKey(slot, lo, hi);
  }

  /** `remove` for one hash given as 32-bit halves, for the worker in `slot` (0 when none is there). */
  removeHalvesAt(slot: number, lo: number, hi: number): number {
    return this.slotOwners[slot] === undefined ? 0 : this.removeKey(slot, lo, hi);
  }

  /** Forget that `workerId` caches each of `hashes` (unknown ones are ignored). Returns how many it held. */
  remove(workerId: WorkerId, hashes: Iterable<SequenceHash>): number {
    const slot = this.slotOf(workerId);
    if (slot < 0) return 0;
    let removed = 0;
    for (const hash of hashes) {
      const h = this.halves.one(hash);
      removed += this.removeKey(slot, h[0]!, h[1]!);
    }
    return removed;
  }

  /** Drop every block of `workerId` but keep it registered (a `cleared` event, a snapshot rebuild). */
  clearWorker(workerId: WorkerId): void {
    const slot = this.slotOf(workerId);
    if (slot < 0 || this.slotBlocks[slot] === 0) return;
    const word = 2 + (slot >>> 5);
    const keep = ~(1 << (slot & 31));
    let emptied = 0;
    for (let i = 0; i < this.capacity; i++) {
      const k = i * this.stride + word;
      if (this.table[k] === 0) continue;
      this.table[k]! &= keep;
      if (this.isEmpty(i)) emptied++;
    }
    this.slotBlocks[slot] = 0;
    // Entries no worker holds are dropped by rebuilding the table: deleting while scanning would shift
    // entries past the scan. (Until then they look empty: nothing probes in between.)
    if (emptied > 0) this.rehash(this.bits, this.words);
  }

  /** Drop the worker and all its blocks; its slot is reused by the next new worker. */
  removeWorker(workerId: WorkerId): void {
    const slot = this.slotOf(workerId);
    if (slot < 0) return;
    this.clearWorker(workerId);
    this.byWorker.delete(workerId);
    this.slotOwners[slot] = undefined;
    this.freeSlots.push(slot);
  }

  /**
   * Per-worker overlap depth: how many leading blocks of `hashes` each worker caches, walking down the
   * tree while intersecting worker sets, stopping as soon as no worker is left. Workers with depth 0 are
   * absent from the result. (Allocates the Map: the routing path uses `matchDepths` + `matchedDepth`.)
   */
  findMatches(hashes: readonly SequenceHash[]): Map<WorkerId, number> {
    this.matchDepths(hashes);
    const depths = new Map<WorkerId, number>();
    for (let slot = 0; slot < this.slotOwners.length; slot++) {
      const owner = this.slotOwners[slot];
      if (owner !== undefined && this.depthBySlot[slot]! > 0) depths.set(owner, this.depthBySlot[slot]!);
    }
    return depths;
  }

  /**
   * `findMatches` without allocating, for the routing path: walks `hashes` once and keeps every worker's
   * depth until the next walk; read them with `depthAt(slotOf(workerId))`.
   */
  matchDepths(hashes: readonly SequenceHash[]): void {
    this.matchDepthsHalves(this.halves.of(hashes), hashes.length);
  }

  /** `matchDepths` for `n` hashes already split into halves (`HashHalves.of`: one split per decision). */
  matchDepthsHalves(halves: Uint32Array, n: number): void {
    const slots = this.slotOwners.length;
    if (this.depthBySlot.length < slots)
      this.depthBySlot = new Uint32Array(Math.max(slots, 2 * this.depthBySlot.length));
    const depths = this.depthBySlot;
    depths.fill(0, 0, slots);
    if (n === 0 || this.count === 0) return;
    const first = this.find(halves[0]!, halves[1]!);
    if (first < 0) return;
    const W = this.words;
    if (this.alive.length < W) this.alive = new Uint32Array(W);
    const alive = this.alive; // workers that hold blocks 0..i
    let remaining = 0;
    const S = this.stride;
    const table = this.table;
    for (let w = 0; w < W; w++) {
      alive[w] = table[first * S + 2 + w]!;
      remaining += countBits(alive[w]!);
    }
    for (let i = 1; i < n && remaining > 0; i++) {
      const slot = this.find(halves[2 * i]!, halves[2 * i + 1]!);
      for (let w = 0; w < W; w++) {
        const before = alive[w]!;
        if (before === 0) continue;
        const after = slot < 0 ? 0 : before & table[slot * S + 2 + w]!;
        const dropped = before & ~after;
        if (dropped !== 0) {
          remaining -= this.recordDepths(dropped, w, i);
          alive[w] = after;
        }
      }
    }
    for (let w = 0; w < W; w++) this.recordDepths(alive[w]!, w, n);
  }

  /**
   * The worker's slot in this index, −1 when it has none: the routing path looks it up once per worker
   * and reads `depthAt` and `blocksAt` by slot (one Map lookup instead of one per number). A slot is
   * valid until the worker is removed.
   */
  slotOf(workerId: WorkerId): number {
    return this.byWorker.get(workerId) ?? -1;
  }

  /** Whether `slot` (cached by a caller) still belongs to `workerId`: slots are reused after a departure. */
  isSlotOf(slot: number, workerId: WorkerId): boolean {
    return slot >= 0 && this.slotOwners[slot] === workerId;
  }

  /** The depth of the worker in `slot` in the last `matchDepths` walk (0 for slot −1). */
  depthAt(slot: number): number {
    return slot < 0 ? 0 : this.depthBySlot[slot]!;
  }

  /** Blocks the worker in `slot` holds (0 for slot −1). */
  blocksAt(slot: number): number {
    return slot < 0 ? 0 : this.slotBlocks[slot]!;
  }

  // ---- the table ------------------------------------------------------------------------------------

  /** Home slot: Fibonacci hashing of both halves (test inputs may be small consecutive numbers). */
  private home(lo: number, hi: number): number {
    return Math.imul(lo ^ Math.imul(hi, 0x85ebca6b), 0x9e3779b1) >>> (32 - this.bits);
  }

  private find(lo: number, hi: number): number {
    const last = this.capacity - 1;
    const S = this.stride;
    const table = this.table;
    for (let i = this.home(lo, hi); ; i = (i + 1) & last) {
      if (this.isEmpty(i)) return -1;
      if (table[i * S] === lo && table[i * S + 1] === hi) return i;
    }
  }

  /** The slot of (lo, hi), inserted (with an empty mask: the caller sets a bit at once) if absent. */
  private findOrInsert(lo: number, hi: number): number {
    if (2 * (this.count + 1) > this.capacity) this.rehash(this.bits + 1, this.words);
    const last = this.capacity - 1;
    const S = this.stride;
    let i = this.home(lo, hi);
    for (; !this.isEmpty(i); i = (i + 1) & last) {
      if (this.table[i * S] === lo && this.table[i * S + 1] === hi) return i;
    }
    this.table[i * S] = lo;
    this.table[i * S + 1] = hi;
    this.count++;
    return i;
  }

  private holdsKey(slot: number, lo: number, hi: number): boolean {
    const i = this.find(lo, hi);
    return i >= 0 && (this.table[i * this.stride + 2 + (slot >>> 5)]! & (1 << (slot & 31))) !== 0;
  }

  private storeKey(slot: number, lo: number, hi: number): number {
    const i = this.findOrInsert(lo, hi);
    const k = i * this.stride + 2 + (slot >>> 5);
    const bit = 1 << (slot & 31);
    if ((this.table[k]! & bit) !== 0) return 0;
    this.table[k]! |= bit;
    this.slotBlocks[slot]!++;
    return 1;
  }

  private removeKey(slot: number, lo: number, hi: number): number {
    const i = this.find(lo, hi);
    if (i < 0) return 0;
    const k = i * this.stride + 2 + (slot >>> 5);
    const bit = 1 << (slot & 31);
    if ((this.table[k]! & bit) === 0) return 0;
    this.table[k]! &= ~bit;
    this.slotBlocks[slot]!--;
    if (this.isEmpty(i)) this.deleteAt(i);
    return 1;
  }

  /** No worker holds slot i's block: the slot is free. */
  private isEmpty(i: number): boolean {
    const table = this.table;
    for (let k = i * this.stride + 2, end = k + this.words; k < end; k++) if (table[k] !== 0) return false;
    return true;
  }

  /** Backward-shift deletion: pull later entries of the probe run into the hole, so lookups need no tombstones. */
  private deleteAt(slot: number): void {
    const last = this.capacity - 1;
    const S = this.stride;
    const table = this.table;
    let hole = slot;
    for (let j = (slot + 1) & last; !this.isEmpty(j); j = (j + 1) & last) {
      const home = this.home(table[j * S]!, table[j * S + 1]!);
      // The entry at j may move to the hole unless its home lies cyclically in (hole, j].
      const reachable = hole <= j ? home > hole && home <= j : home > hole || home <= j;
      if (reachable) continue;
      table.copyWithin(hole * S, j * S, j * S + S);
      hole = j;
    }
    table.fill(0, hole * S, hole * S + S);
    this.count--;
  }

  /** Rebuild with 2^bits slots and `words` mask words, dropping entries no worker holds. */
  private rehash(bits: number, words: number): void {
    const { table: old, capacity, words: oldWords, stride: oldStride } = this;
    this.bits = bits;
    this.capacity = 1 << bits;
    this.words = words;
    this.stride = 2 + words;
    this.table = new Uint32Array(this.stride * this.capacity);
    this.count = 0;
    for (let i = 0; i < capacity; i++) {
      const from = i * oldStride;
      let empty = true;
      for (let w = 0; w < oldWords; w++) if (old[from + 2 + w] !== 0) empty = false;
      if (empty) continue;
      const slot = this.findOrInsert(old[from]!, old[from + 1]!);
      for (let w = 0; w < oldWords; w++) this.table[slot * this.stride + 2 + w] = old[from + 2 + w]!;
    }
  }

  /** Set `depth` for every slot whose bit is set in `bits` (word `word`); returns how many. */
  private recordDepths(bits: number, word: number, depth: number): number {
    let count = 0;
    for (let rest = bits | 0; rest !== 0; rest &= rest - 1) {
      const slot = word * 32 + (31 - Math.clz32(rest & -rest));
      if (this.slotOwners[slot] !== undefined) this.depthBySlot[slot] = depth;
      count++;
    }
    return count;
  }
}

function countBits(word: number): number {
  let n = 0;
  for (let rest = word | 0; rest !== 0; rest &= rest - 1) n++;
  return n;
}
