/**
 * Wire schemas of the event plane (docs/design-notes.md#kv-events): KV cache events (worker → router) and
 * load metrics.
 *
 * A worker's KV events are its cache's change log, like a database's replication stream: `stored` when
 * blocks enter the prefix cache, `removed` when they are evicted, `cleared` when the cache is reset. Each
 * event carries an id that grows by one per worker, so a router that sees a gap knows it missed something
 * and asks for a full dump (a snapshot) instead.
 *
 * 64-bit hashes travel as decimal strings: JSON numbers are doubles and lose everything past 2^53.
 * These types are plain data, JSON-safe; validate them with the `is*` guards where they enter a process.
 */
import type { WorkerId } from './ids.ts';

/** One block entering the prefix cache. */
export interface KvStoredBlock {
  /** Sequence (chained) hash, decimal u64: identifies the whole prefix up to and including this block. */
  blockHash: string;
  /** Local hash of this block's tokens alone, decimal u64. */
  tokensHash: string;
  /** The block's token ids (blockSize of them). */
  tokenIds: number[];
}

export interface KvStoredData {
  type: 'stored';
  /** Sequence hash of the block just before `blocks[0]`, or null when `blocks[0]` starts a sequence. */
  parentHash: string | null;
  /** A chain: blocks[i]'s parent is blocks[i - 1]. */
  blocks: KvStoredBlock[];
}

export interface KvRemovedData {
  type: 'removed';
  /** Sequence hashes of the evicted blocks. */
  blockHashes: string[];
}

export interface KvClearedData {
  type: 'cleared';
}

export type KvCacheEventData = KvStoredData | KvRemovedData | KvClearedData;

export interface KvCacheEvent {
  /** Monotonic per worker, starting at 1. */
  eventId: number;
  data: KvCacheEventData;
}

/** Receives KV events as they happen (synchronously, in order). */
export type KvEventSink = (event: KvCacheEvent) => void;

/** A worker's KV events as published on the event plane (topic `kv-events`). */
export interface WorkerKvEvent {
  workerId: WorkerId;
  event: KvCacheEvent;
}

/** A worker's load, published on change (topic `kv_metrics`); the router's cost function reads it. */
export interface LoadMetrics {
  workerId: WorkerId;
  /** KV blocks held by running (decoding) sequences. */
  activeDecodeBlocks: number;
  /** Prompt tokens scheduled or waiting for prefill. */
  activePrefillTokens: number;
  /** Blocks in use (refCnt > 0). */
  kvUsedBlocks: number;
  kvTotalBlocks: number;
  numWaiting: number;
  numRunning: number;
  /** kvUsedBlocks / kvTotalBlocks, 0..1 (vLLM's name, kept for familiarity). */
  gpuCacheUsagePerc: number;
}

const U64_MAX = (1n << 64n) - 1n;

/** A u64 hash as its wire form (decimal string). */
export function hashToWire(hash: bigint): string {
  return hash.toString(10);
}

/** A wire hash back to a bigint. Throws a RangeError when the string is not a decimal u64. */
export function hashFromWire(text: string): bigint {
  if (!isWireHash(text)) throw new RangeError(`not a decimal u64 hash: ${JSON.stringify(text)}`);
  return BigInt(text);
}

export function isWireHash(value: unknown): value is string {
  return typeof value === 'string' && /^(0|[1-9][0-9]{0,19})$/.test(value) && BigInt(value) <= U64_MAX;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

function isTokenId(value: unknown): boolean {
  return isCount(value) && (value as number) <= 0xffffffff;
}

function isStoredBlock(value: unknown): value is KvStoredBlock {
  return (
    isRecord(value) &&
    isWireHash(value.blockHash) &&
    isWireHash(value.tokensHash) &&
    Array.isArray(value.tokenIds) &&
    value.tokenIds.every(isTokenId)
  );
}

export function isKvCacheEventData(value: unknown): value is KvCacheEventData {
  if (!isRecord(value)) return false;
  switch (value.type) {
    case 'stored':
      return (
        (value.parentHash === null || isWireHash(value.parentHash)) &&
        Array.isArray(value.blocks) &&
        value.blocks.length > 0 &&
        value.blocks.every(isStoredBlock)
      );
    case 'removed':
      return Array.isArray(value.blockHashes) && value.blockHashes.every(isWireHash);
    case 'cleared':
      return true;
    default:
      return false;
  }
}

export function isKvCacheEvent(value: unknown): value is KvCacheEvent {
  return isRecord(value) && isCount(value.eventId) && value.eventId >= 1 && isKvCacheEventData(value.data);
}

export function isWorkerKvEvent(value: unknown): value is WorkerKvEvent {
  return isRecord(value) && typeof value.workerId === 'string' && isKvCacheEvent(value.event);
}

export function isLoadMetrics(value: unknown): value is LoadMetrics {
  if (!isRecord(value) || typeof value.workerId !== 'string') return false;
  const counts = [
    value.activeDecodeBlocks,
    value.activePrefillTokens,
    value.kvUsedBlocks,
    value.kvTotalBlocks,
    value.numWaiting,
    value.numRunning,
  ];
  const usage = value.gpuCacheUsagePerc;
  return counts.every(isCount) && typeof usage === 'number' && usage >= 0 && usage <= 1;
}
