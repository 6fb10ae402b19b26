/**
 * The scheduler-facing KV cache API (vLLM v1's KVCacheManager): per request, a block table of physical
 * block ids, grown as the request's tokens grow, shared with other requests through the prefix cache.
 * Like an OS's virtual memory manager: the block table is the page table, the BlockPool is the frame
 * allocator plus page cache, and a prefix hit maps an already-resident page instead of reading it again.
 *
 * A request's life, as the scheduler drives it:
 *
 *   getComputedBlocks(request)             → cached prefix (full blocks, never the whole prompt)
 *   allocateSlots(id, total, computed)     → take the prefix by reference, add fresh blocks (or null: no room)
 *   ... model runs ...
 *   cacheBlocks(id, request, numComputed)  → newly full blocks enter the prefix cache (`stored` events)
 *   allocateSlots(id, total + 1)           → one more slot per decode step; a new block every blockSize tokens
 *   free(id)                               → references dropped; cached blocks stay, evictable LRU
 *
 * `request` is the request's tokens with its block hashes (`HashedTokens`), computed once by its owner: the
 * cache reads the hashes and never hashes tokens itself. Synchronous, no I/O: the same code serves the real
 * engine and the mocker.
 */
import type { BlockId, RequestId, SequenceHash } from '../protocols/ids.ts';
import type { KvCacheEvent, KvEventSink } from '../protocols/kv-events.ts';
import { hashToWire } from '../protocols/kv-events.ts';
import { assert } from '../util/errors.ts';
import { getLogger } from '../util/logger.ts';
import { BlockPool, type FullBlock } from './block-pool.ts';
import { KvConfigError } from './errors.ts';
import type { HashedTokens } from './hashed-tokens.ts';
import type { KvBlock } from './kv-block.ts';
import { KvEventEmitter } from './kv-event-emitter.ts';

const log = getLogger('kv');

export interface KvCacheManagerOptions {
  numBlocks: number;
  blockSize: number;
  enablePrefixCaching: boolean;
  /** Receives every KV event (more subscribers: `manager.events.subscribe`). */
  events?: KvEventSink;
}

export interface KvCacheStats {
  /** getComputedBlocks calls that found at least one cached block. */
  hits: number;
  /** getComputedBlocks calls. */
  queries: number;
  /** Tokens served from the cache, summed over queries. */
  hitTokens: number;
  /** Tokens asked about, summed over queries. */
  queryTokens: number;
  numCachedBlocks: number;
  /** Blocks with refCnt > 0. */
  activeBlocks: number;
}

/** One request's blocks: its block table and how far it has been registered in the prefix cache. */
interface RequestBlocks {
  blocks: KvBlock[];
  blockIds: BlockId[]; // the block table, as handed to the model runner
  /** blocks[0 .. numCachedBlocks) are registered in the prefix cache (or were found there). */
  numCachedBlocks: number;
}

export class KvCacheManager {
  readonly blockSize: number;
  readonly numBlocks: number;
  readonly enablePrefixCaching: boolean;
  readonly events = new KvEventEmitter();
  private readonly pool: BlockPool;
  private readonly requests = new Map<RequestId, RequestBlocks>();
  private readonly counts = { hits: 0, queries: 0, hitTokens: 0, queryTokens: 0 };

  constructor(opts: KvCacheManagerOptions) {
    if (!Number.isInteger(opts.blockSize) || opts.blockSize < 1) {
      throw new KvConfigError(`KV block size must be a positive integer, got ${opts.blockSize}`);
    }
    if (!Number.isInteger(opts.numBlocks) || opts.numBlocks < 1) {
      throw new KvConfigError(
        `KV cache needs at least one block, got ${opts.numBlocks}: check --kv-cache-memory or the block count`,
      );
    }
    this.blockSize = opts.blockSize;
    this.numBlocks = opts.numBlocks;
    this.enablePrefixCaching = opts.enablePrefixCaching;
    if (opts.events) this.events.subscribe(opts.events);
    this.pool = new BlockPool(opts.numBlocks, opts.enablePrefixCaching, (data) => this.events.emit(data));
  }

  /**
   * Longest cached prefix of full blocks for the request's tokens; never covers ALL tokens (at least the
   * last token must be computed, so a full hit backs off one block). Does not take references.
   */
  getComputedBlocks(request: HashedTokens): { blocks: BlockId[]; numComputedTokens: number } {
    if (!this.enablePrefixCaching) return { blocks: [], numComputedTokens: 0 };
    const { tokenIds, blockHashes } = request;
    this.assertHashesCover(request);
    const bs = this.blockSize;
    // The last token's logits are what the model must produce, so its block is never taken from cache.
    const maxBlocks = Math.max(0, Math.floor((tokenIds.length - 1) / bs));
    const blocks: BlockId[] = [];
    let parent: SequenceHash | null = null;
    for (let i = 0; i < maxBlocks; i++) {
      const hash = blockHashes.sequence[i]!;
      const block = this.pool.lookup(hash, parent, tokenIds, i * bs);
      if (block === null) break;
      blocks.push(block.blockId);
      parent = hash;
    }
    const numComputedTokens = blocks.length * bs;
    this.counts.queries++;
    this.counts.queryTokens += tokenIds.length;
    if (numComputedTokens > 0) this.counts.hits++;
    this.counts.hitTokens += numComputedTokens;
    return { blocks, numComputedTokens };
  }

  /** Reserve blocks so request `requestId` can hold `numTokensTotal` tokens (cached + computed + new). `computedBlocks` (from getComputedBlocks, first call only) are taken by reference (refCnt++). Returns the new blocks, or null if not enough free blocks (then nothing changes). */
  allocateSlots(
    requestId: RequestId,
    numTokensTotal: number,
    computedBlocks: readonly BlockId[] = [],
  ): BlockId[] | null {
    const existing = this.requests.get(requestId);
    assert(
      existing === undefined || computedBlocks.length === 0,
      `computedBlocks passed for request ${requestId}, which already holds blocks (first call only)`,
    );
    const computed = computedBlocks.map((id) => this.pool.getBlock(id));
    for (const block of computed) {
      assert(
        block.isCached,
        `computed block ${block.blockId} is no longer cached: allocate right after lookup`,
      );
    }
    const numHeld = (existing?.blocks.length ?? 0) + computed.length;
    const numNew = Math.max(0, Math.ceil(numTokensTotal / this.blockSize) - numHeld);
    // An idle cached block leaves the free queue when taken, so it costs a free slot just like a new one.
    const numIdleComputed = computed.filter((b) => b.refCnt === 0).length;
    if (numNew + numIdleComputed > this.pool.numFreeBlocks) return null;

    this.pool.touch(computed); // before getNewBlocks, which could otherwise evict them
    const fresh = this.pool.getNewBlocks(numNew);
    const req = existing ?? this.startRequest(requestId, computed);
    for (const block of fresh) {
      req.blocks.push(block);
      req.blockIds.push(block.blockId);
    }
    return fresh.map((b) => b.blockId);
  }

  /** After the model computed tokens up to `numComputedTokens`, register the request's newly FULL blocks in the prefix cache under the hashes `request` carries (emits `stored`). `request` = the request's tokens so far. */
  cacheBlocks(requestId: RequestId, request: HashedTokens, numComputedTokens: number): void {
    const req = this.requests.get(requestId);
    if (!this.enablePrefixCaching || req === undefined) return; // freed meanwhile (cancelled): nothing to do
    const { tokenIds, blockHashes } = request;
    this.assertHashesCover(request);
    const bs = this.blockSize;
    const numFull = Math.min(
      Math.floor(Math.min(numComputedTokens, tokenIds.length) / bs),
      req.blocks.length,
    );
    if (numFull <= req.numCachedBlocks) return;
    const first = req.numCachedBlocks;
    const parentHash = first > 0 ? blockHashes.sequence[first - 1]! : null;
    const full: FullBlock[] = [];
    for (let i = first; i < numFull; i++) {
      const blockTokens = Uint32Array.from({ length: bs }, (_, j) => tokenIds[i * bs + j]!);
      full.push({
        block: req.blocks[i]!,
        blockHash: blockHashes.sequence[i]!,
        localHash: blockHashes.local[i]!,
        tokenIds: blockTokens,
        depth: i,
      });
    }
    req.numCachedBlocks = numFull;
    this.pool.cacheFullBlocks(parentHash, full);
  }

  getBlockTable(requestId: RequestId): readonly BlockId[] {
    return this.requests.get(requestId)?.blockIds ?? [];
  }

  /** Release the request's blocks (refCnt--); blocks with a hash stay cached, evictable in LRU order. Idempotent. */
  free(requestId: RequestId): void {
    const req = this.requests.get(requestId);
    if (req === undefined) return;
    this.requests.delete(requestId);
    // Last block first: the deepest blocks reach the free queue first and so are evicted first.
    this.pool.freeBlocks([...req.blocks].reverse());
  }

  /** Free blocks, counting idle cached blocks (evictable on demand). */
  numFreeBlocks(): number {
    return this.pool.numFreeBlocks;
  }

  /** Blocks held by requests (refCnt > 0); cached-but-free blocks do not count. */
  numActiveBlocks(): number {
    return this.numBlocks - this.pool.numFreeBlocks;
  }

  /** Fraction of blocks in use (refCnt > 0). */
  usage(): number {
    return this.numActiveBlocks() / this.numBlocks;
  }

  /** Drop every cached prefix (emits `cleared`). Refused (false) while any block is in use. */
  resetPrefixCache(): boolean {
    const done = this.pool.resetPrefixCache();
    if (!done) {
      log.warn('prefix cache not reset: blocks are still in use', {
        activeBlocks: this.numActiveBlocks(),
      });
    }
    return done;
  }

  stats(): KvCacheStats {
    return {
      ...this.counts,
      numCachedBlocks: this.pool.numCachedBlocks,
      activeBlocks: this.numActiveBlocks(),
    };
  }

  /**
   * Full dump of what is cached, as `stored` events (one per block, parents first), for a router that
   * (re)joins (docs/design-notes.md#kv-events). Each carries the id of the latest event emitted: the
   * snapshot is the state
   * as of that event, and live events continue from the next id.
   */
  dumpCachedBlocks(): KvCacheEvent[] {
    const eventId = this.events.lastEventId;
    return this.pool.cachedBlocksByDepth().map((block) => ({
      eventId,
      data: {
        type: 'stored',
        parentHash: block.parentHash === null ? null : hashToWire(block.parentHash),
        blocks: [
          {
            blockHash: hashToWire(block.blockHash!),
            tokensHash: hashToWire(block.localHash!),
            tokenIds: Array.from(block.tokenIds!),
          },
        ],
      },
    }));
  }

  /** Throws if the books do not balance: pool invariants, and each refCnt = number of tables holding it. */
  checkInvariants(): void {
    this.pool.checkInvariants();
    const holders = new Map<KvBlock, number>();
    for (const req of this.requests.values()) {
      assert(req.blocks.length === req.blockIds.length, 'block table out of step with its blocks');
      for (const block of req.blocks) holders.set(block, (holders.get(block) ?? 0) + 1);
    }
    for (let id = 0; id < this.numBlocks; id++) {
      const block = this.pool.getBlock(id as BlockId);
      const expected = holders.get(block) ?? 0;
      assert(
        block.refCnt === expected,
        `block ${id} has refCnt ${block.refCnt}, held by ${expected} requests`,
      );
    }
  }

  /** Blocks that fit in `bytes` of KV memory (sizing from --kv-cache-memory). */
  static blocksForMemory(bytes: number, bytesPerBlock: number): number {
    if (!(bytesPerBlock > 0))
      throw new KvConfigError(`bytes per KV block must be positive, got ${bytesPerBlock}`);
    const numBlocks = Math.floor(bytes / bytesPerBlock);
    if (!(numBlocks >= 1)) {
      throw new KvConfigError(
        `--kv-cache-memory of ${bytes} bytes holds no KV block (one block needs ${bytesPerBlock} bytes): raise it`,
      );
    }
    return numBlocks;
  }

  /** The owner hashes every full block at this cache's block size; a gap would cache blocks under no name. */
  private assertHashesCover({ tokenIds, blockHashes }: HashedTokens): void {
    const numFull = Math.floor(tokenIds.length / this.blockSize);
    if (blockHashes.sequence.length === numFull && blockHashes.local.length === numFull) return;
    assert(
      false, // the message is built only on failure: this runs at every lookup and step
      `the request carries ${blockHashes.sequence.length} block hashes for ${numFull} full blocks of ` +
        `${this.blockSize} tokens: its owner must hash every full block at the cache's block size`,
    );
  }

  private startRequest(requestId: RequestId, computed: KvBlock[]): RequestBlocks {
    const req: RequestBlocks = {
      blocks: [...computed],
      blockIds: computed.map((b) => b.blockId),
      numCachedBlocks: computed.length,
    };
    this.requests.set(requestId, req);
    return req;
  }
}
