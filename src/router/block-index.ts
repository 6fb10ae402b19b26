/**
 * The radix index's storage: which workers cache which block, with no notion of events or ids (that is
 * `kv-indexer.ts`). Like a CDN's "which edge nodes hold this object" table, keyed by content address.
 *
 * Why a flat hash → node map is a radix tree here: a block's key is its SEQUENCE hash, chained over every
 * block before it (docs/design-notes.md#block-hashes). So the hash of block i already names the whole path
 * root → i, and the
 * map IS the tree's node table: looking up hashes[0], hashes[1], ... in order walks from the root down one
 * branch, exactly as following child pointers would, without storing edges. A block stored under a parent
 * we never saw (an eviction raced a store) is simply another entry; a walk stops at the missing parent.
 *
 * Each node is a bitmask of worker slots, one bit per worker:
 *
 *   nodes: Map<SequenceHash, number[]>     words[k] bit b set ⇔ worker in slot 32·k + b caches the block
 *
 * Intersecting "workers that hold every block so far" is then a word-wise AND per block, whatever the
 * number of workers. Slots are small integers, reused after a worker leaves.
 */
import type { SequenceHash, WorkerId } from '../protocols/ids.ts';

interface WorkerEntry {
  slot: number;
  /** Reverse index: every block this worker holds, for `clearWorker` and the tree size. */
  blocks: Set<SequenceHash>;
}

export class BlockIndex {
  private readonly nodes = new Map<SequenceHash, number[]>();
  private readonly byWorker = new Map<WorkerId, WorkerEntry>();
  private readonly slotOwners: (WorkerId | undefined)[] = [];
  private readonly freeSlots: number[] = [];

  /** Distinct blocks cached by at least one worker. */
  get numBlocks(): number {
    return this.nodes.size;
  }

  /** Workers with at least one block, or registered via `ensureWorker`. */
  get workers(): WorkerId[] {
    return [...this.byWorker.keys()];
  }

  hasWorker(workerId: WorkerId): boolean {
    return this.byWorker.has(workerId);
  }

  /** Blocks `workerId` caches (its "tree size"). */
  workerBlockCount(workerId: WorkerId): number {
    return this.byWorker.get(workerId)?.blocks.size ?? 0;
  }

  /** True when `workerId` caches the block `hash`. */
  holds(workerId: WorkerId, hash: SequenceHash): boolean {
    return this.byWorker.get(workerId)?.blocks.has(hash) ?? false;
  }

  ensureWorker(workerId: WorkerId): void {
    this.entry(workerId);
  }

  /** Record that `workerId` caches each of `hashes`. Returns how many were new for it. */
  store(workerId: WorkerId, hashes: Iterable<SequenceHash>): number {
    const entry = this.entry(workerId);
    const word = entry.slot >>> 5;
    const bit = 1 << (entry.slot & 31);
    let added = 0;
    for (const hash of hashes) {
      if (entry.blocks.has(hash)) continue;
      entry.blocks.add(hash);
      let mask = this.nodes.get(hash);
      if (mask === undefined) this.nodes.set(hash, (mask = []));
      while (mask.length <= word) mask.push(0);
      mask[word]! |= bit;
      added++;
    }
    return added;
  }

  /** Forget that `workerId` caches each of `hashes` (unknown ones are ignored). Returns how many it held. */
  remove(workerId: WorkerId, hashes: Iterable<SequenceHash>): number {
    const entry = this.byWorker.get(workerId);
    if (entry === undefined) return 0;
    let removed = 0;
    for (const hash of hashes) {
      if (!entry.blocks.delete(hash)) continue;
      this.unsetBit(hash, entry.slot);
      removed++;
    }
    return removed;
  }

  /** Drop every block of `workerId` but keep it registered (a `cleared` event, a snapshot rebuild). */
  clearWorker(workerId: WorkerId): void {
    const entry = this.byWorker.get(workerId);
    if (entry === undefined) return;
    for (const hash of entry.blocks) this.unsetBit(hash, entry.slot);
    entry.blocks.clear();
  }

  /** Drop the worker and all its blocks; its slot is reused by the next new worker. */
  removeWorker(workerId: WorkerId): void {
    const entry = this.byWorker.get(workerId);
    if (entry === undefined) return;
    this.clearWorker(workerId);
    this.byWorker.delete(workerId);
    this.slotOwners[entry.slot] = undefined;
    this.freeSlots.push(entry.slot);
  }

  /**
   * Per-worker overlap depth: how many leading blocks of `hashes` each worker caches, walking down the
   * tree while intersecting worker sets, stopping as soon as no worker is left. Workers with depth 0 are
   * absent from the result.
   */
  findMatches(hashes: readonly SequenceHash[]): Map<WorkerId, number> {
    const depths = new Map<WorkerId, number>();
    const first = hashes.length > 0 ? this.nodes.get(hashes[0]!) : undefined;
    if (first === undefined) return depths;
    const alive = first.slice(); // workers that hold blocks 0..i
    let remaining = countBits(alive);
    for (let i = 1; i < hashes.length && remaining > 0; i++) {
      const mask = this.nodes.get(hashes[i]!);
      for (let w = 0; w < alive.length; w++) {
        const before = alive[w]!;
        if (before === 0) continue;
        const after = before & (mask?.[w] ?? 0);
        const dropped = before & ~after;
        if (dropped !== 0) {
          remaining -= this.recordDepths(dropped, w, i, depths);
          alive[w] = after;
        }
      }
    }
    for (let w = 0; w < alive.length; w++) this.recordDepths(alive[w]!, w, hashes.length, depths);
    return depths;
  }

  /** Set `depth` for every slot whose bit is set in `bits` (word `word`); returns how many. */
  private recordDepths(bits: number, word: number, depth: number, out: Map<WorkerId, number>): number {
    let count = 0;
    for (let rest = bits; rest !== 0; rest &= rest - 1) {
      const slot = word * 32 + (31 - Math.clz32(rest & -rest));
      const owner = this.slotOwners[slot];
      if (owner !== undefined) out.set(owner, depth);
      count++;
    }
    return count;
  }

  private unsetBit(hash: SequenceHash, slot: number): void {
    const mask = this.nodes.get(hash);
    if (mask === undefined) return;
    mask[slot >>> 5]! &= ~(1 << (slot & 31));
    if (mask.every((word) => word === 0)) this.nodes.delete(hash);
  }

  private entry(workerId: WorkerId): WorkerEntry {
    let entry = this.byWorker.get(workerId);
    if (entry === undefined) {
      const slot = this.freeSlots.pop() ?? this.slotOwners.length;
      this.slotOwners[slot] = workerId;
      entry = { slot, blocks: new Set() };
      this.byWorker.set(workerId, entry);
    }
    return entry;
  }
}

function countBits(words: readonly number[]): number {
  let n = 0;
  for (const word of words) for (let rest = word; rest !== 0; rest &= rest - 1) n++;
  return n;
}
