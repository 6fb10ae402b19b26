export {
  BLOCK_HASH_SEED,
  type BlockHashes,
  chainBlockHash,
  computeBlockHashes,
  hashBlockTokens,
  initBlockHashing,
} from './block-hash.ts';
export { BlockPool, type BlockPoolCounters, type FullBlock } from './block-pool.ts';
export { KvConfigError, KvNotReadyError } from './errors.ts';
export { FreeBlockQueue } from './free-block-queue.ts';
export { KvBlock } from './kv-block.ts';
export { KvCacheManager, type KvCacheManagerOptions, type KvCacheStats } from './kv-cache-manager.ts';
export { KvEventEmitter } from './kv-event-emitter.ts';
export { parseByteSize } from './sizes.ts';
