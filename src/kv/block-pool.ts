/**
 * The block pool (vLLM's BlockPool): every KV block of one worker, the free-block queue, and the prefix
 * cache that maps a sequence hash to the block holding that prefix. Like a database buffer pool: pages
 * are pinned (refCnt), unpinned pages stay cached in LRU order, and a miss evicts the coldest page.
 *
 * Memory layout (the bytes live in KvCacheTensors; the pool only hands out block ids):
 *
 *   key[layer] / value[layer]:  (numBlocks, blockSize, numKvHeads, headDim)
 *   ┌─────────┬─────────┬─────────┬─────────┬─────────┬─────────┐
 *   │ block 0 │ block 1 │ block 2 │ block 3 │ block 4 │ block 5 │ ...
 *   └─────────┴─────────┴─────────┴─────────┴─────────┴─────────┘
 *     req A      cached    req A     free      req A+B   cached
 *     refCnt 1   refCnt 0  refCnt 1  no hash   refCnt 2  refCnt 0
 *
 *   request A's block table: [0, 2, 4]   (logical block i → physical block; like a page table)
 *   request B's block table: [4, ...]    (shares block 4 after a prefix hit)
 *
 * Free-block queue (refCnt 0 only), head evicted first:
 *
 *   head ⇄ [3: no hash] ⇄ [5: A's deepest block] ⇄ [1: A's first block] ⇄ tail
 *
 * Blocks without a hash go to the head (they hold nothing reusable). Cached blocks go to the tail when
 * their last user lets go; a request frees its blocks last-to-first, so a prefix's deeper blocks sit
 * nearer the head and are evicted before its shallower ones, which other prompts are likelier to share.
 * A prefix hit on a free cached block takes it out of the queue again (`touch`).
 *
 * Every change to the cache is reported as a KV event: `stored` when blocks are cached, `removed` when
 * eviction takes their hash away, `cleared` on reset.
 */

import type { BlockId, LocalBlockHash, SequenceHash } from '../protocols/ids.ts';
import { asBlockId } from '../protocols/ids.ts';
import type { KvCacheEventData, KvStoredBlock } from '../protocols/kv-events.ts';
import { hashToWire } from '../protocols/kv-events.ts';
import { assert } from '../util/errors.ts';
import { FreeBlockQueue } from './free-block-queue.ts';
import { KvBlock } from './kv-block.ts';

/** A newly full block to register in the prefix cache. */
export interface FullBlock {
  block: KvBlock;
  blockHash: SequenceHash;
  localHash: LocalBlockHash;
  tokenIds: Uint32Array; // (blockSize)
  /** Index of the block in its sequence. */
  depth: number;
}

export interface BlockPoolCounters {
  /** Cache lookups (one per block looked up). */
  lookups: number;
  hits: number;
  /** Hash matched but the stored tokens or parent did not: a 64-bit collision, treated as a miss. */
  collisions: number;
  /** Cached blocks whose content was dropped to make room. */
  evictions: number;
}

export class BlockPool {
  private readonly blocks: KvBlock[];
  private readonly freeQueue: FreeBlockQueue;
  /** The prefix cache: sequence hash → the one block that holds it. */
  private readonly cached = new Map<SequenceHash, KvBlock>();
  readonly counters: BlockPoolCounters = { lookups: 0, hits: 0, collisions: 0, evictions: 0 };

  constructor(
    readonly numBlocks: number,
    readonly enablePrefixCaching: boolean,
    private readonly emit: (data: KvCacheEventData) => void = () => {},
  ) {
    assert(
      Number.isInteger(numBlocks) && numBlocks > 0,
      `numBlocks must be a positive integer, got ${numBlocks}`,
    );
    this.blocks = Array.from({ length: numBlocks }, (_, i) => new KvBlock(asBlockId(i)));
    this.freeQueue = new FreeBlockQueue(this.blocks);
  }

  get numFreeBlocks(): number {
    return this.freeQueue.length;
  }

  get numCachedBlocks(): number {
    return this.cached.size;
  }

  getBlock(blockId: BlockId): KvBlock {
    const block = this.blocks[blockId];
    assert(block !== undefined, `no block ${blockId} in a pool of ${this.numBlocks}`);
    return block;
  }

  /**
   * The cached block for `blockHash`, if its parent and its tokens (`tokenIds[start .. start+blockSize)`)
   * match too; else null. Takes no reference.
   */
  lookup(
    blockHash: SequenceHash,
    parentHash: SequenceHash | null,
    tokenIds: ArrayLike<number>,
    start: number,
  ): KvBlock | null {
    this.counters.lookups++;
    const block = this.cached.get(blockHash);
    if (block === undefined) return null;
    if (block.parentHash !== parentHash || !sameTokens(block.tokenIds!, tokenIds, start)) {
      this.counters.collisions++;
      return null;
    }
    this.counters.hits++;
    return block;
  }

  /** Take `n` blocks from the head of the free queue (evicting cached content) with refCnt 1. */
  getNewBlocks(n: number): KvBlock[] {
    assert(n <= this.freeQueue.length, `asked for ${n} blocks with only ${this.freeQueue.length} free`);
    const taken: KvBlock[] = [];
    const evicted: string[] = [];
    for (let i = 0; i < n; i++) {
      const block = this.freeQueue.popLeft();
      assert(block.refCnt === 0, `free block ${block.blockId} has refCnt ${block.refCnt}`);
      if (block.blockHash !== null) {
        evicted.push(hashToWire(block.blockHash));
        this.evict(block);
      }
      block.refCnt = 1;
      taken.push(block);
    }
    if (evicted.length > 0) this.emit({ type: 'removed', blockHashes: evicted });
    return taken;
  }

  /** A prefix hit: each block gains a user, leaving the free queue if it was idle. */
  touch(blocks: readonly KvBlock[]): void {
    for (const block of blocks) {
      if (block.refCnt === 0) this.freeQueue.remove(block);
      block.refCnt++;
    }
  }

  /**
   * Register newly full blocks in the prefix cache. `blocks` is a chain following `parentHash`. A block
   * whose prefix another block already caches is left uncached (its twin serves future hits), and the
   * `stored` events skip it, so every announced hash has exactly one home.
   */
  cacheFullBlocks(parentHash: SequenceHash | null, blocks: readonly FullBlock[]): void {
    if (!this.enablePrefixCaching) return;
    let run: KvStoredBlock[] = [];
    let runParent = parentHash;
    let parent = parentHash;
    for (const full of blocks) {
      const { block } = full;
      assert(block.refCnt > 0, `caching block ${block.blockId} that no request holds`);
      const owner = this.cached.get(full.blockHash);
      if (owner !== undefined || block.isCached) {
        assert(
          block.blockHash === null || block.blockHash === full.blockHash,
          'block re-cached under a new hash',
        );
        if (run.length > 0) this.emit({ type: 'stored', parentHash: wireOrNull(runParent), blocks: run });
        run = [];
        runParent = full.blockHash;
      } else {
        block.blockHash = full.blockHash;
        block.localHash = full.localHash;
        block.parentHash = parent;
        block.tokenIds = full.tokenIds;
        block.depth = full.depth;
        this.cached.set(full.blockHash, block);
        run.push({
          blockHash: hashToWire(full.blockHash),
          tokensHash: hashToWire(full.localHash),
          tokenIds: Array.from(full.tokenIds),
        });
      }
      parent = full.blockHash;
    }
    if (run.length > 0) this.emit({ type: 'stored', parentHash: wireOrNull(runParent), blocks: run });
  }

  /**
   * Drop one reference to each block, in the given order: the caller passes a request's blocks last-to-
   * first so that its deepest cached block is evicted first. Idle cached blocks go to the tail.
   */
  freeBlocks(blocks: readonly KvBlock[]): void {
    for (const block of blocks) {
      assert(block.refCnt > 0, `freeing block ${block.blockId} with refCnt ${block.refCnt}`);
      block.refCnt--;
      if (block.refCnt > 0) continue;
      if (block.isCached) this.freeQueue.append(block);
      else this.freeQueue.prepend(block);
    }
  }

  /** Forget every cached prefix. Only possible while no block is in use; returns whether it happened. */
  resetPrefixCache(): boolean {
    if (this.freeQueue.length !== this.numBlocks) return false;
    for (const block of this.cached.values()) block.resetHash();
    this.cached.clear();
    this.emit({ type: 'cleared' });
    return true;
  }

  /** Every cached block, parents before children (by depth): what a cache dump announces. */
  cachedBlocksByDepth(): KvBlock[] {
    return [...this.cached.values()].sort((a, b) => a.depth - b.depth);
  }

  /** Throws if the pool's books do not balance; cheap enough for tests to call after every operation. */
  checkInvariants(): void {
    let inQueue = 0;
    for (const block of this.freeQueue) {
      assert(block.refCnt === 0, `block ${block.blockId} is in the free queue with refCnt ${block.refCnt}`);
      inQueue++;
      assert(inQueue <= this.numBlocks, 'free queue has a cycle');
    }
    assert(
      inQueue === this.freeQueue.length,
      `free queue holds ${inQueue} blocks but counts ${this.freeQueue.length}`,
    );
    let numUsed = 0;
    for (const block of this.blocks) {
      assert(block.refCnt >= 0, `block ${block.blockId} has refCnt ${block.refCnt}`);
      const free = this.freeQueue.contains(block);
      assert(
        free === (block.refCnt === 0),
        `block ${block.blockId}: refCnt ${block.refCnt} but free=${free}`,
      );
      if (block.refCnt > 0) numUsed++;
      if (block.blockHash !== null) {
        assert(
          this.cached.get(block.blockHash) === block,
          `cached block ${block.blockId} missing from the map`,
        );
      }
    }
    for (const [hash, block] of this.cached)
      assert(block.blockHash === hash, `map entry for ${hash} is stale`);
    assert(numUsed + inQueue === this.numBlocks, `used ${numUsed} + free ${inQueue} != ${this.numBlocks}`);
  }

  private evict(block: KvBlock): void {
    if (this.cached.get(block.blockHash!) === block) this.cached.delete(block.blockHash!);
    block.resetHash();
    this.counters.evictions++;
  }
}

function sameTokens(stored: Uint32Array, tokenIds: ArrayLike<number>, start: number): boolean {
  for (let i = 0; i < stored.length; i++) {
    if (stored[i] !== tokenIds[start + i]) return false;
  }
  return true;
}

function wireOrNull(hash: SequenceHash | null): string | null {
  return hash === null ? null : hashToWire(hash);
}
