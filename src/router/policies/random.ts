/**
 * `random`: every request to a uniformly random worker. The baseline every other policy is measured
 * against (docs/design-notes.md#published-results: KV routing's gains are "× faster than random"). Seeded.
 */
import { createRng, type Rng } from '../../util/prng.ts';
import type { PolicyOptions, RouteDecision, RouteRequest, RoutingPolicy, WorkerView } from '../types.ts';

export class RandomPolicy implements RoutingPolicy {
  readonly name = 'random';
  private readonly rng: Rng;

  constructor(options: PolicyOptions = {}) {
    this.rng = createRng(options.seed, 'mulberry32');
  }

  select(_request: RouteRequest, workers: readonly WorkerView[]): RouteDecision {
    return { workerId: workers[this.rng.nextInt(workers.length)]!.workerId, reason: 'random' };
  }
}
