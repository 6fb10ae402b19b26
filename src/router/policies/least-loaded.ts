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

  constructor(options: PolicyOptions = {}) {
    this.rng = createRng(options.seed, 'mulberry32');
  }

  select(request: RouteRequest, workers: readonly WorkerView[]): RouteDecision {
    const scores: WorkerScore[] = workers.map((w) => {
      const prefillBlocks = w.activePrefillTokens / request.blockSize;
      const cost = w.activeBlocks + prefillBlocks;
      const score: WorkerScore = { workerId: w.workerId, cost };
      if (request.explain) {
        score.formula = `${w.activeBlocks} + ${w.activePrefillTokens}/${request.blockSize} = ${formatNumber(cost)}`;
      }
      return score;
    });
    let best: number[] = [];
    for (let i = 0; i < workers.length; i++) {
      const first = best[0];
      if (first === undefined) {
        best = [i];
        continue;
      }
      const order = compare(scores[i]!.cost, workers[i]!, scores[first]!.cost, workers[first]!);
      if (order < 0) best = [i];
      else if (order === 0) best.push(i);
    }
    const chosen = best.length === 1 ? best[0]! : best[this.rng.nextInt(best.length)]!;
    return { workerId: workers[chosen]!.workerId, reason: 'least loaded', scores };
  }
}

function compare(costA: number, a: WorkerView, costB: number, b: WorkerView): number {
  if (costA !== costB) return costA - costB;
  return a.inFlight.requests - b.inFlight.requests;
}
