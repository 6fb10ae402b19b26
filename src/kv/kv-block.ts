/**
 * One KV block's bookkeeping record (vLLM's KVCacheBlock): who holds it and what it holds. The memory
 * itself is a slice of `KvCacheTensors` that `blockId` indexes, like a page frame number indexes RAM.
 *
 * A block is in exactly one of three states:
 *   in use      refCnt > 0; not in the free queue; may be cached (blockHash set) and shared by requests
 *   cached      refCnt = 0; in the free queue with its hash: reusable on a prefix hit, evictable
 *   free        refCnt = 0; in the free queue, no hash: holds nothing worth keeping
 */
import type { BlockId, LocalBlockHash, SequenceHash } from '../protocols/ids.ts';

export class KvBlock {
  /** Requests whose block table holds this block. */
  refCnt = 0;
  /** Sequence hash of the prefix ending with this block, once it is full and cached; else null. */
  blockHash: SequenceHash | null = null;
  /** Hash of this block's tokens alone (set with blockHash). */
  localHash: LocalBlockHash | null = null;
  /** Sequence hash of the previous block in the sequence (null for a first block). */
  parentHash: SequenceHash | null = null;
  /** The block's tokens, kept to verify a hash hit (a 64-bit hash can collide; tokens cannot). */
  tokenIds: Uint32Array | null = null; // (blockSize)
  /** Index of this block in its sequence (0 = first block): orders a cache dump parents-first. */
  depth = -1;
  /** Free-queue links; both null while the block is not in the queue (see FreeBlockQueue). */
  prevFree: KvBlock | null = null;
  nextFree: KvBlock | null = null;

  constructor(readonly blockId: BlockId) {}

  get isCached(): boolean {
    return this.blockHash !== null;
  }

  /** Forget the cached content (on eviction or cache reset). */
  resetHash(): void {
    this.blockHash = null;
    this.localHash = null;
    this.parentHash = null;
    this.tokenIds = null;
    this.depth = -1;
  }
}
