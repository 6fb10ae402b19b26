/**
 * `bench:router`'s synthetic cluster: a KV index filled the way a live router fills it (by applying `stored`
 * events, 16 blocks each, hashes in wire form) from conversations cached on a fleet of workers, and a
 * request mix with realistic prefix reuse over it. Deterministic given the seed (`Mulberry32`).
 *
 *   conversation = one of 32 family system prompts (8 blocks) + 16-64 blocks of its own, cached on 1-2 workers
 *   request      = 70 % a cached conversation + 0-8 new blocks, 20 % a family prompt + 16-64 new blocks,
 *                  10 % 24-72 blocks never seen
 */
import { performance } from 'node:perf_hooks';
import { asWorkerId, type SequenceHash, type WorkerId } from '../../src/protocols/ids.ts';
import { hashToWire, type KvCacheEvent } from '../../src/protocols/kv-events.ts';
import { KvPolicy, Router } from '../../src/router/index.ts';
import type { Mulberry32 } from '../../src/util/prng.ts';

export const BLOCK_SIZE = 16;
const BLOCKS_PER_EVENT = 16;
const SYSTEM_BLOCKS = 8; // a 128-token system prompt shared by a family of conversations
const FAMILIES = 32;

// ---- synthetic block hashes: chained like sequence hashes, cheap to regenerate ---------------------------

const U64 = (1n << 64n) - 1n;
/** splitmix64 finalizer over (parent, salt): a stand-in for XXH3 chaining, same statistics for a map. */
function chain(parent: bigint, salt: number): SequenceHash {
  let z = (parent ^ (BigInt(salt) * 0x9e3779b97f4a7c15n)) & U64;
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & U64;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & U64;
  return (z ^ (z >> 31n)) as SequenceHash;
}

function chainFrom(prefix: readonly SequenceHash[], salt: number, count: number): SequenceHash[] {
  const out = [...prefix];
  let last = prefix.at(-1) ?? 0n;
  for (let i = 0; i < count; i++) out.push((last = chain(last, salt * 1024 + i)));
  return out;
}

const systemPrompts = Array.from({ length: FAMILIES }, (_, f) => chainFrom([], 1_000_000 + f, SYSTEM_BLOCKS));

/** A cached conversation: family system prompt + `bodyBlocks` of its own, cached on `homes`. */
interface Conversation {
  id: number;
  family: number;
  bodyBlocks: number;
  homes: WorkerId[];
}

const conversationHashes = (c: Conversation) => chainFrom(systemPrompts[c.family]!, c.id, c.bodyBlocks);

/** Stored events (≤ 16 blocks each, parent-linked) announcing `hashes` on one worker. */
function storedEvents(hashes: readonly SequenceHash[], firstEventId: number): KvCacheEvent[] {
  const events: KvCacheEvent[] = [];
  for (let start = 0; start < hashes.length; start += BLOCKS_PER_EVENT) {
    const blocks = hashes.slice(start, start + BLOCKS_PER_EVENT).map((h) => ({
      blockHash: hashToWire(h),
      tokensHash: '0',
      tokenIds: [] as number[],
    }));
    const parentHash = start === 0 ? null : hashToWire(hashes[start - 1]!);
    events.push({ eventId: firstEventId + events.length, data: { type: 'stored', parentHash, blocks } });
  }
  return events;
}

export interface BuiltIndex {
  router: Router;
  workers: WorkerId[];
  conversations: Conversation[];
  indexedBlocks: number;
  events: number;
  applySeconds: number;
  /** CPU time (user + system) spent applying the events: what a shared machine's load does not inflate. */
  applyCpuSeconds: number;
  /** Heap + array-buffer growth from applying the events, after a full GC; undefined without --expose-gc. */
  indexBytes: number | undefined;
}

const gc = (globalThis as { gc?: () => void }).gc;
/** Live heap plus typed-array backing stores (the index's table lives outside the JS heap). */
export function liveBytes(): number | undefined {
  if (gc === undefined) return undefined;
  gc();
  gc();
  const usage = process.memoryUsage();
  return usage.heapUsed + usage.arrayBuffers;
}

/**
 * Populate a router's index with ≈ `targetBlocks` (worker, block) entries via stored events. The events
 * are generated first and applied afterwards, so the timing and the memory delta are the indexer's alone.
 */
export function buildIndex(
  numWorkers: number,
  targetBlocks: number,
  rng: Mulberry32,
  seed: number,
): BuiltIndex {
  const router = new Router({ policy: new KvPolicy({ seed }), blockSize: BLOCK_SIZE, decisionLog: 'off' });
  const workers = Array.from({ length: numWorkers }, (_, i) => asWorkerId(`worker-${i}`));
  for (const workerId of workers) router.addWorker({ workerId, blockSize: BLOCK_SIZE, totalBlocks: 1 << 20 });
  const nextEventId = new Map(workers.map((w) => [w, 1]));
  const held = new Map(workers.map((w) => [w, new Set<SequenceHash>()]));
  const conversations: Conversation[] = [];
  const batches: { workerId: WorkerId; events: KvCacheEvent[] }[] = [];
  let indexedBlocks = 0;
  let events = 0;
  while (indexedBlocks < targetBlocks) {
    const home = workers[rng.nextInt(numWorkers)]!;
    const homes = rng.nextFloat() < 0.2 ? [home, workers[rng.nextInt(numWorkers)]!] : [home];
    const conversation = {
      id: conversations.length,
      family: rng.nextInt(FAMILIES),
      bodyBlocks: 16 + rng.nextInt(49),
      homes,
    };
    conversations.push(conversation);
    const hashes = conversationHashes(conversation);
    for (const workerId of new Set(homes)) {
      const batch = storedEvents(hashes, nextEventId.get(workerId)!);
      nextEventId.set(workerId, nextEventId.get(workerId)! + batch.length);
      const set = held.get(workerId)!;
      for (const hash of hashes) {
        if (set.has(hash)) continue;
        set.add(hash);
        indexedBlocks++;
      }
      batches.push({ workerId, events: batch });
      events += batch.length;
    }
  }
  held.clear();
  const before = liveBytes();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (const { workerId, events: batch } of batches) {
    for (const event of batch) router.applyKvEvent(workerId, event);
  }
  const applySeconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const applyCpuSeconds = (cpu.user + cpu.system) / 1e6;
  const after = liveBytes(); // the events are still referenced: only the index grew
  batches.length = 0;
  const indexBytes = before === undefined || after === undefined ? undefined : after - before;
  const counted = workers.reduce((sum, w) => sum + router.indexer.workerBlockCount(w), 0);
  if (counted !== indexedBlocks) throw new Error(`index holds ${counted} blocks, expected ${indexedBlocks}`);
  return { router, workers, conversations, indexedBlocks, events, applySeconds, applyCpuSeconds, indexBytes };
}

/** Request mix: continue a cached conversation (70 %), new conversation in a family (20 %), new (10 %). */
export function makeRequests(built: BuiltIndex, count: number, rng: Mulberry32): SequenceHash[][] {
  const requests: SequenceHash[][] = [];
  for (let i = 0; i < count; i++) {
    const roll = rng.nextFloat();
    const salt = 50_000_000 + i;
    if (roll < 0.7) {
      const c = built.conversations[rng.nextInt(built.conversations.length)]!;
      requests.push(chainFrom(conversationHashes(c), salt, rng.nextInt(9)));
    } else if (roll < 0.9) {
      requests.push(chainFrom(systemPrompts[rng.nextInt(FAMILIES)]!, salt, 16 + rng.nextInt(49)));
    } else {
      requests.push(chainFrom([], salt, 24 + rng.nextInt(49)));
    }
  }
  return requests;
}
