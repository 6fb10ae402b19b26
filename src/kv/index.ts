export { BlockPool, type BlockPoolCounters, type FullBlock } from './block-pool.ts';
export { KvConfigError } from './errors.ts';
export { FreeBlockQueue } from './free-block-queue.ts';
export { type HashedTokens, hashTokens } from './hashed-tokens.ts';
export { KvBlock } from './kv-block.ts';
export { KvCacheManager, type KvCacheManagerOptions, type KvCacheStats } from './kv-cache-manager.ts';
export { KvEventEmitter } from './kv-event-emitter.ts';
export { parseByteSize } from './sizes.ts';
