/**
 * `kv-ttft`: pick the worker where this request adds the least delay, predicted as time (`ttft-cost.ts`):
 * its own time to first token there (the prefill queued in front of it plus its uncached tokens, over the
 * learned prefill rate) plus the stall its prefill imposes on the requests decoding there. Overlap comes
 * from the indexer (KV events) extended by predicted blocks, as for `kv`. A bounded-load guard keeps a
 * conversation from staying on a worker that already carries more than (1 + ε) times its share; the wait
 * bound keeps it from staying behind a queue more than one prefill of its prompt deeper than the shortest
 * (the stall term alone would let it wait `running ×` the tokens it saves, and the queue there would stall
 * that worker's decoders for as long: TPOT). `kv-delay` (the default) is its successor.
 *
 * Why not Dynamo's cost (`kv`): its memory term (active blocks) grows with every long conversation a worker
 * holds, so with 10k-token prompts it outweighs the prefill a cache hit saves and conversations scatter
 * (issue 12). Here a cache hit is worth exactly the prefill time it saves, to this request and to everyone
 * decoding beside it, so a conversation stays where its history is until the queue there costs more.
 *
 * The rate is learned from the router's own observations (route → first token: `prefill-rate.ts`); it
 * scales every worker's cost alike, so decisions do not depend on it.
 */
import type { RequestId, WorkerId } from '../../protocols/ids.ts';
import { createRng, type Rng } from '../../util/prng.ts';
import { PrefillRateEstimator } from '../prefill-rate.ts';
import {
  applyWaitBound,
  emptyTtftCostTerms,
  formatTtftCost,
  guardedByLoad,
  guardedByWait,
  pickByTtft,
  requestLoadBound,
  type TtftCostTerms,
  ttftCostTermsInto,
} from '../ttft-cost.ts';
import type { PolicyOptions, RouteDecision, RouteRequest, RoutingPolicy, WorkerView } from '../types.ts';

/**
 * Shown until the first observation: about what Dynamo's mocker timing (fitted on a real GPU) gives for a
 * full 8,192-token chunk, 8192 / 169 ms. Display only: it never changes a decision.
 */
export const DEFAULT_PREFILL_TOKENS_PER_MS = 48;
/** Bound on requests in flight per worker: (1 + ε) × the fair share; 1 = twice the share. */
export const DEFAULT_TTFT_LOAD_EPSILON = 1;

interface Pending {
  workerId: WorkerId;
  routedAtMs: number;
  workTokens: number;
}

export class KvTtftPolicy implements RoutingPolicy {
  readonly name = 'kv-ttft';
  readonly rate: PrefillRateEstimator;
  readonly epsilon: number;
  private readonly rng: Rng;
  private readonly now: () => number;
  /** Requests routed and not yet at their first token: what stood before each, for the rate. */
  private readonly pending = new Map<RequestId, Pending>();
  /**
   * Per-decision scratch, as `kv`'s: one cost-terms struct per offered position and this decision's array;
   * the decision's `scores` are these (rewritten by the next `select`) unless it is explained.
   */
  private readonly terms: TtftCostTerms[] = [];
  private readonly costs: TtftCostTerms[] = [];

  constructor(options: PolicyOptions = {}) {
    this.rng = createRng(options.seed, 'mulberry32');
    this.now = options.now ?? Date.now;
    this.epsilon = options.loadBalanceEpsilon ?? DEFAULT_TTFT_LOAD_EPSILON;
    if (!(this.epsilon >= 0)) throw new RangeError(`kv-ttft load bound ε must be ≥ 0, got ${this.epsilon}`);
    this.rate = new PrefillRateEstimator(options.prefillTokensPerMs ?? DEFAULT_PREFILL_TOKENS_PER_MS);
  }

  select(request: RouteRequest, workers: readonly WorkerView[]): RouteDecision {
    const tokensPerMs = this.rate.tokensPerMs;
    const bound = requestLoadBound(workers, this.epsilon);
    const costs = this.costs;
    costs.length = workers.length;
    for (let i = 0; i < workers.length; i++) {
      this.terms[i] ??= emptyTtftCostTerms();
      costs[i] = ttftCostTermsInto(this.terms[i]!, request, workers[i]!, tokensPerMs, bound);
    }
    const waitBound = applyWaitBound(costs, request.isl);
    const chosen = costs[pickByTtft(costs, this.rng)]!;
    const scores = request.explain
      ? costs.map((c) => ({ ...c, formula: formatTtftCost(c, tokensPerMs) }))
      : costs;
    this.pending.set(request.requestId, {
      workerId: chosen.workerId,
      routedAtMs: this.now(),
      workTokens: chosen.queuedTokens + chosen.uncachedTokens,
    });
    return {
      workerId: chosen.workerId,
      reason: decisionReason(costs, chosen, bound, waitBound, request.isl),
      scores,
      overlapBlocks: chosen.overlapBlocks,
    };
  }

  onPrefillDone(requestId: RequestId): void {
    const p = this.pending.get(requestId);
    if (p === undefined) return;
    this.pending.delete(requestId);
    this.rate.observe(p.workTokens, this.now() - p.routedAtMs);
  }

  onRequestFinished(requestId: RequestId): void {
    this.pending.delete(requestId);
  }

  onWorkerRemoved(workerId: WorkerId): void {
    for (const [id, p] of this.pending) if (p.workerId === workerId) this.pending.delete(id);
  }
}

/**
 * "min predicted delay", plus the guards that skipped a worker: the load guard whenever it skipped one, the
 * wait bound (written out) when it skipped a worker cheaper than the chosen one, i.e. when it decided.
 */
function decisionReason(
  costs: readonly TtftCostTerms[],
  chosen: TtftCostTerms,
  loadBound: number,
  waitBound: number,
  isl: number,
): string {
  const guards: string[] = [];
  if (guardedByLoad(costs)) guards.push(`load bound ${loadBound}`);
  if (guardedByWait(costs, chosen)) guards.push(`wait bound ${waitBound - isl}t + ${isl}t = ${waitBound}t`);
  return guards.length === 0 ? 'min predicted delay' : `min predicted delay within ${guards.join(', ')}`;
}
