/**
 * `prefix-hash`: session affinity by prompt prefix, without any feedback from workers. The affinity key is
 * the sequence hash of the request's first K full blocks (one chained hash names the whole K-block prefix);
 * a consistent-hash ring (virtual nodes) maps it to a worker, so equal prefixes go to the same worker and
 * different ones spread. Like HAProxy `balance uri` + `hash-type consistent` with `hash-balance-factor`.
 *
 * K defaults to 4,096 tokens' worth of blocks (`prefixBlocks` overrides). It must be longer than a prefix
 * that many unrelated requests share (a system prompt), or all of them get one key: with K = 4 blocks (64
 * tokens) every request of a trace that opens with a common system prompt hashed alike. A conversation
 * whose history is shorter than K gets a new key per turn (its turns are short: little to lose); once its
 * history passes K tokens every later turn shares the first K blocks, so it stays on one worker.
 *
 * Bounded loads (Mirrokni, Thorup, Zadimoghaddam 2018, "consistent hashing with bounded loads"): a worker
 * may carry at most capacity = ⌈(1 + ε) · (total_load + 1) / n⌉ requests. If the owner is at capacity,
 * the request goes to the first worker below capacity clockwise from ITS OWN point on the ring: the hash
 * of its whole prompt. The paper's walk continues from the key's point instead; when one key is hot (one
 * shared prefix), every spilled request then walks the same path and the last workers on it never get
 * one (with 8 workers and ε = 0.25, 7 workers at capacity already carry more than the total: the 8th got
 * 0 requests on a real trace). Load here is requests in flight: the larger of the router's own count and
 * the worker's last reported running + waiting.
 *
 * A prompt shorter than one block hashes its tokens instead, so short prompts still spread.
 */

import type { WorkerId } from '../../protocols/ids.ts';
import { hashBlockTokens } from '../../tokens/block-hash.ts';
import { ConsistentHashRing } from '../consistent-hash-ring.ts';
import type {
  PolicyOptions,
  RouteDecision,
  RouteRequest,
  RoutingPolicy,
  WorkerInfo,
  WorkerScore,
  WorkerView,
} from '../types.ts';

export class PrefixHashPolicy implements RoutingPolicy {
  readonly name = 'prefix-hash';
  private readonly ring: ConsistentHashRing;
  /** K, when set; else DEFAULT_PREFIX_TOKENS' worth of blocks at the request's block size. */
  private readonly prefixBlocks: number | undefined;
  private readonly epsilon: number;

  constructor(options: PolicyOptions = {}) {
    this.ring = new ConsistentHashRing(options.virtualNodes ?? 100);
    this.prefixBlocks = options.prefixBlocks;
    this.epsilon = options.loadBalanceEpsilon ?? 0.25;
  }

  onWorkerAdded(worker: WorkerInfo): void {
    this.ring.add(worker.workerId);
  }

  onWorkerRemoved(workerId: WorkerId): void {
    this.ring.remove(workerId);
  }

  /** The ring key of a request: sequence hash of block K−1 (covers blocks 0..K−1), else its tokens' hash. */
  affinityKey(request: RouteRequest): bigint {
    const depth = this.prefixBlocks ?? Math.ceil(DEFAULT_PREFIX_TOKENS / request.blockSize);
    const k = Math.min(depth, request.blockHashes.length);
    if (k > 0) return request.blockHashes[k - 1]!;
    return hashBlockTokens(request.tokenIds, 0, request.tokenIds.length);
  }

  /** Where a request whose owner is full starts looking: the point of its whole prompt. */
  spillKey(request: RouteRequest): bigint {
    const n = request.blockHashes.length;
    const rest = request.tokenIds.length - n * request.blockSize;
    const tail = hashBlockTokens(request.tokenIds, n * request.blockSize, rest);
    return n > 0 ? request.blockHashes[n - 1]! ^ tail : tail;
  }

  select(request: RouteRequest, workers: readonly WorkerView[]): RouteDecision {
    for (const w of workers) this.ring.add(w.workerId); // tolerate a pool built without the hooks
    const loads = new Map<WorkerId, number>();
    let total = 0;
    for (const w of workers) {
      const load = requestLoad(w);
      loads.set(w.workerId, load);
      total += load;
    }
    const capacity = Math.ceil(((1 + this.epsilon) * (total + 1)) / workers.length);
    let owner: WorkerId | undefined;
    let chosen: WorkerId | undefined;
    const firstBelowCapacity = (key: bigint) =>
      this.ring.walk(key, (workerId) => {
        const load = loads.get(workerId);
        if (load === undefined) return false; // excluded from this decision
        owner ??= workerId;
        if (load + 1 > capacity) return false;
        chosen = workerId;
        return true;
      });
    firstBelowCapacity(this.affinityKey(request));
    if (chosen !== owner) {
      chosen = undefined;
      firstBelowCapacity(this.spillKey(request));
    }
    const scores: WorkerScore[] = workers.map((w) => {
      const load = loads.get(w.workerId)!;
      const score: WorkerScore = { workerId: w.workerId, cost: load };
      if (request.explain) score.formula = `load ${load} (capacity ${capacity})`;
      return score;
    });
    if (chosen === undefined) chosen = owner ?? workers[0]!.workerId; // unreachable: capacity ≥ average
    const reason = chosen === owner ? 'ring owner' : `owner ${owner} at capacity, spilled by prompt hash`;
    return { workerId: chosen, reason, scores };
  }
}

/** Default affinity depth in tokens: past common system prompts, short of most long first turns. */
export const DEFAULT_PREFIX_TOKENS = 4096;

function requestLoad(view: WorkerView): number {
  const reported = view.load === undefined ? 0 : view.load.numRunning + view.load.numWaiting;
  return Math.max(view.inFlight.requests, reported);
}
