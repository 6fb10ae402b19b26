/**
 * `least-loaded`: the worker with the least outstanding work, like a least-connections balancer, where
 * "connections" are KV blocks held plus prompt tokens still to prefill (in blocks):
 *
 *   load[w] = active_blocks[w] + active_prefill_tokens[w] / block_size
 *
 * Both numbers are the larger of the worker's last report and the router's own in-flight count
 * (`WorkerView`), so a burst is spread before the first report arrives. Ties: fewer in-flight requests,
 * then random. Cache overlap is ignored: this is the kv policy with the weight on affinity set to zero.
 */

import { createRng, type Rng } from '../../util/prng.ts';
import { formatNumber } from '../kv-cost.ts';
import type {
  PolicyOptions,
  RouteDecision,
  RouteRequest,
  RoutingPolicy,
  WorkerScore,
  WorkerView,
} from '../types.ts';

export class LeastLoadedPolicy implements RoutingPolicy {
  readonly name = 'least-loaded';
  private readonly rng: Rng;
  /**
   * Per-decision scratch, as `kv`'s: one score per offered position, this decision's array, and the
   * indices tied at the minimum. The decision's `scores` are these (rewritten by the next `select`) unless
   * it is explained: then they are fresh objects carrying their arithmetic.
   */
  private readonly scratch: WorkerScore[] = [];
  private readonly scores: WorkerScore[] = [];
  private ties = new Int32Array(64);

  constructor(options: PolicyOptions = {}) {
    this.rng = createRng(options.seed, 'mulberry32');
  }

  select(request: RouteRequest, workers: readonly WorkerView[]): RouteDecision {
    const scores = this.scores;
    scores.length = workers.length;
    for (let i = 0; i < workers.length; i++) {
      const w = workers[i]!;
      const score = request.explain
        ? ({} as WorkerScore)
        : (this.scratch[i] ??= { workerId: w.workerId, cost: 0 });
      score.workerId = w.workerId;
      score.cost = w.activeBlocks + w.activePrefillTokens / request.blockSize;
      if (request.explain) {
        score.formula = `${w.activeBlocks} + ${w.activePrefillTokens}/${request.blockSize} = ${formatNumber(score.cost)}`;
      }
      scores[i] = score;
    }
    if (this.ties.length < workers.length) this.ties = new Int32Array(2 * workers.length);
    const best = this.ties; // best[0..ties): the indices tied at the least load so far, in order
    let ties = 0;
    for (let i = 0; i < workers.length; i++) {
      if (ties === 0) {
        best[ties++] = i;
        continue;
      }
      const first = best[0]!;
      const order = compare(scores[i]!.cost, workers[i]!, scores[first]!.cost, workers[first]!);
      if (order < 0) {
        best[0] = i;
        ties = 1;
      } else if (order === 0) best[ties++] = i;
    }
    const chosen = ties === 1 ? best[0]! : best[this.rng.nextInt(ties)]!;
    return {
      workerId: workers[chosen]!.workerId,
      reason: 'least loaded',
      scores: request.explain ? scores.slice() : scores,
    };
  }
}

function compare(costA: number, a: WorkerView, costB: number, b: WorkerView): number {
  if (costA !== costB) return costA - costB;
  return a.inFlight.requests - b.inFlight.requests;
}
