/**
 * Test helpers: KV events built from REAL block hashes (`tokens/block-hash.ts`), exactly as a worker's
 * cache would emit them, and a Router with a pool of workers.
 */
import { asWorkerId, type SequenceHash, type WorkerId } from '../../protocols/ids.ts';
import { hashToWire, type KvCacheEvent, type LoadMetrics } from '../../protocols/kv-events.ts';
import { computeBlockHashes } from '../../tokens/block-hash.ts';
import { Router, type RouterOptions } from '../router.ts';
import type { RoutingPolicy, WorkerInfo } from '../types.ts';

export const BS = 16;

/** `n` token ids starting at `from`: distinct ranges give distinct blocks. */
export const tokens = (from: number, n: number): number[] => Array.from({ length: n }, (_, i) => from + i);

export function sequenceHashes(tokenIds: readonly number[], blockSize = BS): SequenceHash[] {
  return computeBlockHashes(tokenIds, blockSize).sequence;
}

/** A `stored` event for full blocks [fromBlock, toBlock) of `tokenIds`, parent = block fromBlock − 1. */
export function storedEvent(
  eventId: number,
  tokenIds: readonly number[],
  fromBlock = 0,
  toBlock = Math.floor(tokenIds.length / BS),
): KvCacheEvent {
  const { local, sequence } = computeBlockHashes(tokenIds, BS);
  const blocks = [];
  for (let i = fromBlock; i < toBlock; i++) {
    blocks.push({
      blockHash: hashToWire(sequence[i]!),
      tokensHash: hashToWire(local[i]!),
      tokenIds: tokenIds.slice(i * BS, (i + 1) * BS),
    });
  }
  const parentHash = fromBlock === 0 ? null : hashToWire(sequence[fromBlock - 1]!);
  return { eventId, data: { type: 'stored', parentHash, blocks } };
}

export function removedEvent(eventId: number, hashes: readonly SequenceHash[]): KvCacheEvent {
  return { eventId, data: { type: 'removed', blockHashes: hashes.map(hashToWire) } };
}

export function loadMetrics(workerId: string, partial: Partial<LoadMetrics> = {}): LoadMetrics {
  return {
    workerId: asWorkerId(workerId),
    activeDecodeBlocks: 0,
    activePrefillTokens: 0,
    kvUsedBlocks: 0,
    kvTotalBlocks: 1000,
    numWaiting: 0,
    numRunning: 0,
    gpuCacheUsagePerc: 0,
    ...partial,
  };
}

export function routerWith(
  policy: RoutingPolicy,
  workerIds: readonly string[],
  options: Partial<RouterOptions> = {},
  worker: Partial<Omit<WorkerInfo, 'workerId'>> = {},
): { router: Router; ids: WorkerId[] } {
  const router = new Router({ policy, blockSize: BS, decisionLog: 'off', ...options });
  const ids = workerIds.map(asWorkerId);
  for (const workerId of ids) router.addWorker({ workerId, blockSize: BS, totalBlocks: 1000, ...worker });
  return { router, ids };
}
