/**
 * `kv`: Dynamo's KV-aware policy. Overlap comes from the router's indexer, fed by the workers' own KV
 * events (`WorkerView.overlapBlocks`); the cost and the pick are `kv-cost.ts` (docs/design-notes.md#kv-cost):
 * logit = weight · prefill_tokens / block_size + decode_blocks, lowest wins (or a softmax sample at T > 0).
 */

import { createRng, type Rng } from '../../util/prng.ts';
import { emptyKvCostTerms, formatKvCost, type KvCostTerms, kvCostTermsInto, pickByCost } from '../kv-cost.ts';
import type { PolicyOptions, RouteDecision, RouteRequest, RoutingPolicy, WorkerView } from '../types.ts';

export class KvPolicy implements RoutingPolicy {
  readonly name: string = 'kv';
  protected readonly rng: Rng;
  readonly overlapScoreWeight: number;
  readonly temperature: number;
  /**
   * Per-decision scratch: one cost-terms struct per offered position and the array of this decision's,
   * rewritten by every `select` (a decision allocates no per-worker object; see `selectWith`).
   */
  private readonly terms: KvCostTerms[] = [];
  private readonly costs: KvCostTerms[] = [];

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
    return this.selectWith(request, workers, viewOverlap, viewTree);
  }

  /**
   * The cost-based pick, with overlap and tree size supplied by the caller (kv-approx has its own). The
   * decision's `scores` are this policy's scratch, rewritten by its next `select`, unless the decision is
   * explained (logged): then they are fresh objects carrying their arithmetic, which a reader may keep.
   */
  protected selectWith(
    request: RouteRequest,
    workers: readonly WorkerView[],
    overlapOf: (w: WorkerView) => number,
    treeOf: (w: WorkerView) => number,
  ): RouteDecision {
    const costs = this.costs;
    costs.length = workers.length;
    for (let i = 0; i < workers.length; i++) {
      const w = workers[i]!;
      this.terms[i] ??= emptyKvCostTerms();
      costs[i] = kvCostTermsInto(
        this.terms[i]!,
        request,
        w,
        overlapOf(w),
        treeOf(w),
        this.overlapScoreWeight,
      );
    }
    const chosen = costs[pickByCost(costs, this.temperature, this.rng)]!;
    const scores = request.explain
      ? costs.map((c) => ({ ...c, formula: formatKvCost(c, this.overlapScoreWeight) }))
      : costs;
    return {
      workerId: chosen.workerId,
      reason: this.temperature > 0 ? `softmax sample (T=${this.temperature})` : 'min cost',
      scores,
      overlapBlocks: chosen.overlapBlocks,
    };
  }
}

const viewOverlap = (w: WorkerView): number => w.overlapBlocks;
const viewTree = (w: WorkerView): number => w.treeBlocks;
