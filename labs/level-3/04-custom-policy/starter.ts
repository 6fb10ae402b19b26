/**
 * Lab 3.4's starting point: copy it, make it pass the check.
 *
 *   cp labs/level-3/04-custom-policy/starter.ts my-policy.ts
 *   npm run lab -- 3.4 --check ./my-policy.ts
 *   dhw serve --router ./my-policy.ts
 *
 * As given it is plain round-robin: it passes the checks that any sane policy passes and fails the ones
 * about sessions, overload and cached prefixes. The requirements are in this lab's README.md.
 * (From a copy outside this folder, change the import path below to point at src/router/types.ts.)
 */
import type {
  PolicyOptions,
  RouteDecision,
  RouteRequest,
  RoutingPolicy,
  WorkerView,
} from '../../../src/router/types.ts';

export class MyPolicy implements RoutingPolicy {
  readonly name = 'my-policy';
  private next = 0;

  select(request: RouteRequest, workers: readonly WorkerView[]): RouteDecision {
    // TODO 1: remember which worker served each request.sessionId, and send the session back there.
    // TODO 2: ...unless that worker is overloaded (many more requests in flight than the others, or
    //         load.gpuCacheUsagePerc ≥ 0.9): then move the session once, to the least busy worker.
    // TODO 3: without a session id, prefer the worker with the most cached blocks (w.overlapBlocks).
    // TODO 4: forget sessions of a worker that left (implement onWorkerRemoved).
    void request;
    const chosen = workers[this.next++ % workers.length]!;
    return { workerId: chosen.workerId, reason: 'round-robin' };
  }
}

export function createPolicy(_options: PolicyOptions): RoutingPolicy {
  return new MyPolicy();
}
