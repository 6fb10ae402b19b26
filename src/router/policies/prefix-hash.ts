/**
 * `prefix-hash`: session affinity by prompt prefix, without any feedback from workers. The affinity key is
 * the sequence hash of the request's first K full blocks (one chained hash names the whole K-block prefix);
 * a consistent-hash ring maps it to a worker, so equal prefixes go to the same worker and different ones
 * spread. Like HAProxy `balance uri` + `hash-type consistent` with `hash-balance-factor`.
 *
 * Bounded loads (Mirrokni, Thorup, Zadimoghaddam 2018, "consistent hashing with bounded loads"): a worker
 * may carry at most capacity = ⌈(1 + ε) · (total_load + 1) / n⌉ requests. If the owner is at capacity,
 * walk the ring clockwise to the first worker below it. Load here is requests in flight: the larger of the
 * router's own count and the worker's last reported running + waiting.
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
  private readonly prefixBlocks: number;
  private readonly epsilon: number;

  constructor(options: PolicyOptions = {}) {
    this.ring = new ConsistentHashRing(options.virtualNodes ?? 100);
    this.prefixBlocks = options.prefixBlocks ?? 4;
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
    const k = Math.min(this.prefixBlocks, request.blockHashes.length);
    if (k > 0) return request.blockHashes[k - 1]!;
    return hashBlockTokens(request.tokenIds, 0, request.tokenIds.length);
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
    const key = this.affinityKey(request);
    let owner: WorkerId | undefined;
    let chosen: WorkerId | undefined;
    this.ring.walk(key, (workerId) => {
      const load = loads.get(workerId);
      if (load === undefined) return false; // excluded from this decision
      owner ??= workerId;
      if (load + 1 > capacity) return false;
      chosen = workerId;
      return true;
    });
    const scores: WorkerScore[] = workers.map((w) => {
      const load = loads.get(w.workerId)!;
      const score: WorkerScore = { workerId: w.workerId, cost: load };
      if (request.explain) score.formula = `load ${load} (capacity ${capacity})`;
      return score;
    });
    if (chosen === undefined) chosen = owner ?? workers[0]!.workerId; // unreachable: capacity ≥ average
    const reason = chosen === owner ? 'ring owner' : `owner ${owner} at capacity, next on ring`;
    return { workerId: chosen, reason, scores };
  }
}

function requestLoad(view: WorkerView): number {
  const reported = view.load === undefined ? 0 : view.load.numRunning + view.load.numWaiting;
  return Math.max(view.inFlight.requests, reported);
}
