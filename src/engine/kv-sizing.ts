/**
 * How many KV blocks a worker gets: like sizing a buffer pool from a memory budget. Either the operator
 * says the block count (`--num-kv-blocks`) or a byte budget (`--kv-cache-memory`), which is divided by the
 * bytes one block of K/V occupies across all layers.
 */
import { KvCacheManager, KvConfigError } from '../kv/index.ts';

/** Used when neither a count nor a byte budget is given (capped by what the workload can use). */
export const DEFAULT_KV_CACHE_MEMORY_BYTES = 256 * 1024 * 1024;

export interface KvSizingOptions {
  blockSize: number;
  /** Bytes of K/V per token across all layers (model/forward-batch `kvBytesPerToken`). */
  bytesPerToken: number;
  numKvBlocks?: number;
  kvCacheMemoryBytes?: number;
  /** Without an explicit size, never allocate more than maxNumSeqs × contextLength tokens' worth. */
  maxUsefulTokens?: number;
}

export function kvBytesPerBlock(blockSize: number, bytesPerToken: number): number {
  return blockSize * bytesPerToken;
}

export function numKvBlocksFor(opts: KvSizingOptions): number {
  if (opts.numKvBlocks !== undefined) {
    if (!Number.isInteger(opts.numKvBlocks) || opts.numKvBlocks < 1) {
      throw new KvConfigError(`--num-kv-blocks must be a positive integer, got ${opts.numKvBlocks}`);
    }
    return opts.numKvBlocks;
  }
  const perBlock = kvBytesPerBlock(opts.blockSize, opts.bytesPerToken);
  if (opts.kvCacheMemoryBytes !== undefined)
    return KvCacheManager.blocksForMemory(opts.kvCacheMemoryBytes, perBlock);
  const byBudget = Math.floor(DEFAULT_KV_CACHE_MEMORY_BYTES / perBlock);
  const byUse = opts.maxUsefulTokens ? Math.ceil(opts.maxUsefulTokens / opts.blockSize) : byBudget;
  return Math.max(1, Math.min(byBudget, byUse));
}
