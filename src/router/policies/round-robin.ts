/**
 * `round-robin`: workers in turn, like DNS round-robin or nginx's default upstream balancing. It ignores
 * load and cache, which is exactly what the labs compare it against.
 *
 * The turn is kept as "the worker after the last one chosen" (by id order), not as an index, so workers
 * joining or leaving do not make it skip or repeat others.
 */
import type { WorkerId } from '../../protocols/ids.ts';
import type { RouteDecision, RouteRequest, RoutingPolicy, WorkerView } from '../types.ts';

export class RoundRobinPolicy implements RoutingPolicy {
  readonly name = 'round-robin';
  private last: WorkerId | undefined;

  select(_request: RouteRequest, workers: readonly WorkerView[]): RouteDecision {
    const ids = workers.map((w) => w.workerId).sort();
    const next = this.last === undefined ? ids[0]! : (ids.find((id) => id > this.last!) ?? ids[0]!);
    this.last = next;
    return { workerId: next, reason: 'next in turn' };
  }
}
