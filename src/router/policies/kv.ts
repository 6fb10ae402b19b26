/**
 * `kv`: Dynamo's KV-aware policy. Overlap comes from the router's indexer, fed by the workers' own KV
 * events (`WorkerView.overlapBlocks`); the cost and the pick are `kv-cost.ts` (docs/design-notes.md#kv-cost):
 * logit = weight · prefill_tokens / block_size + decode_blocks, lowest wins (or a softmax sample at T > 0).
 */

import { createRng, type Rng } from '../../util/prng.ts';
import { formatKvCost, kvCostTerms, pickByCost } from '../kv-cost.ts';
import type { PolicyOptions, RouteDecision, RouteRequest, RoutingPolicy, WorkerView } from '../types.ts';

export class KvPolicy implements RoutingPolicy {
  readonly name: string = 'kv';
  protected readonly rng: Rng;
  readonly overlapScoreWeight: number;
  readonly temperature: number;

  constructor(options: PolicyOptions = {}) {
    this.rng = createRng(options.seed, 'mulberry32');
    this.overlapScoreWeight = options.overlapScoreWeight ?? 1.0;
    this.temperature = options.temperature ?? 0;
    if (!(this.overlapScoreWeight >= 0)) {
      throw new RangeError(`kv overlap score weight must be ≥ 0, got ${this.overlapScoreWeight}`);
    }
    if (!(this.temperature >= 0)) {
      throw new RangeError(`router temperature must be ≥ 0, got ${this.temperature}`);
    }
  }

  select(request: RouteRequest, workers: readonly WorkerView[]): RouteDecision {
    return this.selectWith(
      request,
      workers,
      (w) => w.overlapBlocks,
      (w) => w.treeBlocks,
    );
  }

  /** The cost-based pick, with overlap and tree size supplied by the caller (kv-approx has its own). */
  protected selectWith(
    request: RouteRequest,
    workers: readonly WorkerView[],
    overlapOf: (w: WorkerView) => number,
    treeOf: (w: WorkerView) => number,
  ): RouteDecision {
    const costs = workers.map((w) =>
      kvCostTerms(request, w, overlapOf(w), treeOf(w), this.overlapScoreWeight),
    );
    const chosen = costs[pickByCost(costs, this.temperature, this.rng)]!;
    if (request.explain) for (const c of costs) c.formula = formatKvCost(c, this.overlapScoreWeight);
    return {
      workerId: chosen.workerId,
      reason: this.temperature > 0 ? `softmax sample (T=${this.temperature})` : 'min cost',
      scores: costs, // the cost terms double as scores (one object per worker per decision)
      overlapBlocks: chosen.overlapBlocks,
    };
  }
}
