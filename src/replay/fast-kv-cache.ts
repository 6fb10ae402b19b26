/**
 * The fast simulator's KV cache (`--sim fast`): the engine's prefix cache and block pool
 * (`src/kv/block-pool.ts`) reduced to what a replay observes, kept at TRACE-block granularity (512 tokens
 * per block for Mooncake traces) instead of the engine's 16. Like a cache simulator that tracks lines but
 * not their bytes: no token ids, no hashing of contents; a block is a reference count, a hash and a place
 * in the LRU queue.
 *
 * The rules are the pool's, so the router sees the same kind of event stream:
 *   - a request's blocks are pinned (refCnt); freed ones keep their hash and join the LRU tail, the
 *     request's deepest block first (evicted first, as `KvCacheManager.free` orders them);
 *   - blocks freed without a hash are reused before any cached block is evicted;
 *   - a new block taken from the LRU head evicts it: one `removed` event per allocation;
 *   - a block that becomes full is registered under its hash (`stored`, one chain per call), unless
 *     another block already caches that hash (its twin serves the hits; no event).
 *
 *   free (uncached) ──► reused first
 *   LRU: head (evict next) ⇄ … ⇄ tail (freed last)      byHash: hash → block (cached, pinned or idle)
 */
import type { SequenceHash } from '../protocols/ids.ts';
import type { KvCacheEvent, KvStoredBlock } from '../protocols/kv-events.ts';

/** Block i's hash for one request (computed on demand: blocks past the prompt get request-unique ones). */
export interface BlockHashes {
  at(i: number): SequenceHash;
  /** The same hash as the event plane spells it (decimal), made once per hash and reused. */
  wireAt(i: number): string;
}

/** Stored blocks carry no token ids here: the router indexes hashes only. */
const NO_TOKENS: number[] = [];

/** One KV block: a reference count, the hash it is cached under (null: not cached), its LRU links. */
export interface FastBlock {
  hash: SequenceHash | null;
  /** `hash` in wire form (for the `removed` event when it is evicted). */
  wire: string | null;
  refCnt: number;
  prev: FastBlock | null;
  next: FastBlock | null;
  inLru: boolean;
}

export class FastKvCache {
  /** Blocks with refCnt > 0. */
  used = 0;
  /** Free blocks that hold no cached content (taken before any cached block is evicted). */
  private uncachedFree: number;
  private lruLength = 0;
  private head: FastBlock | null = null;
  private tail: FastBlock | null = null;
  private readonly byHash = new Map<SequenceHash, FastBlock>();
  private eventId = 0;

  constructor(
    readonly capacity: number,
    private readonly emit: (event: KvCacheEvent) => void,
  ) {
    this.uncachedFree = capacity;
  }

  /** Free blocks, idle cached ones included (evictable on demand). */
  get free(): number {
    return this.uncachedFree + this.lruLength;
  }

  /** Leading blocks of `hashes.at(0..max)` cached here (pinned or idle). Nothing changes. */
  lookup(hashes: BlockHashes, max: number): number {
    let n = 0;
    while (n < max && this.byHash.has(hashes.at(n))) n++;
    return n;
  }

  /**
   * Pin the first `hits` cached blocks of `hashes` and take `fresh` new ones, or return null when they do
   * not fit (nothing changes then). An idle cached hit leaves the LRU queue, so it costs a free slot too.
   */
  acquire(hashes: BlockHashes, hits: number, fresh: number): FastBlock[] | null {
    const blocks: FastBlock[] = [];
    let idle = 0;
    for (let i = 0; i < hits; i++) {
      const block = this.byHash.get(hashes.at(i))!;
      if (block.refCnt === 0) idle++;
      blocks.push(block);
    }
    if (fresh + idle > this.free) return null;
    for (const block of blocks) this.pin(block); // before taking new blocks, which could evict them
    const added = this.take(fresh);
    for (const block of added) blocks.push(block);
    return blocks;
  }

  /** `n` new blocks (refCnt 1), evicting from the LRU head once the uncached ones are gone; n ≤ `free`. */
  take(n: number): FastBlock[] {
    const out: FastBlock[] = [];
    let evicted: string[] | undefined;
    for (let i = 0; i < n; i++) {
      if (this.uncachedFree > 0) {
        this.uncachedFree--;
        out.push({ hash: null, wire: null, refCnt: 1, prev: null, next: null, inLru: false });
        continue;
      }
      const block = this.head!;
      this.unlink(block);
      (evicted ??= []).push(block.wire!);
      this.byHash.delete(block.hash!);
      block.hash = null;
      block.wire = null;
      block.refCnt = 1;
      out.push(block);
    }
    this.used += n;
    if (evicted !== undefined)
      this.emit({ eventId: ++this.eventId, data: { type: 'removed', blockHashes: evicted } });
    return out;
  }

  /**
   * Register newly full blocks (a chain following `parent`) under their hashes and announce them. A hash
   * already cached by another block leaves this one uncached and splits the announced chain, as the pool does.
   */
  cacheFull(
    parent: string | null,
    blocks: readonly FastBlock[],
    hashes: readonly SequenceHash[],
    wires: readonly string[],
  ): void {
    let run: KvStoredBlock[] = [];
    let runParent = parent;
    for (let i = 0; i < blocks.length; i++) {
      const block = blocks[i]!;
      const hash = hashes[i]!;
      if (this.byHash.has(hash) || block.hash !== null) {
        this.flush(runParent, run);
        run = [];
        runParent = wires[i]!;
        continue;
      }
      block.hash = hash;
      block.wire = wires[i]!;
      this.byHash.set(hash, block);
      run.push({ blockHash: block.wire, tokensHash: '0', tokenIds: NO_TOKENS });
    }
    this.flush(runParent, run);
  }

  /** Drop one reference to each block, in the order given (a request's deepest block first). */
  release(blocks: readonly FastBlock[]): void {
    for (const block of blocks) {
      if (--block.refCnt > 0) continue;
      this.used--;
      if (block.hash === null) this.uncachedFree++;
      else this.append(block);
    }
  }

  private flush(parent: string | null, run: KvStoredBlock[]): void {
    if (run.length === 0) return;
    this.emit({ eventId: ++this.eventId, data: { type: 'stored', parentHash: parent, blocks: run } });
  }

  private pin(block: FastBlock): void {
    if (block.refCnt === 0) {
      this.unlink(block);
      this.used++;
    }
    block.refCnt++;
  }

  private append(block: FastBlock): void {
    block.prev = this.tail;
    block.next = null;
    if (this.tail === null) this.head = block;
    else this.tail.next = block;
    this.tail = block;
    block.inLru = true;
    this.lruLength++;
  }

  private unlink(block: FastBlock): void {
    if (block.prev === null) this.head = block.next;
    else block.prev.next = block.next;
    if (block.next === null) this.tail = block.prev;
    else block.next.prev = block.prev;
    block.prev = block.next = null;
    block.inLru = false;
    this.lruLength--;
  }
}
