/**
 * Example custom routing policy: sticky sessions, like a load balancer's cookie affinity. Requests that
 * carry a session id (`RouteRequest.sessionId`) go to the worker that served that session before, so a
 * chat's growing prompt keeps hitting the same warm KV cache even without KV events. A new session, or one
 * whose worker left, goes to the worker with the fewest requests in flight.
 *
 * Use it: `dhw serve --router ./src/router/examples/sticky-session-policy.ts`. A policy file exports
 * `createPolicy(options)` (or a default export); it may import types from the router, nothing else.
 */
import type { WorkerId } from '../../protocols/ids.ts';
import type { PolicyOptions, RouteDecision, RouteRequest, RoutingPolicy, WorkerView } from '../types.ts';

export class StickySessionPolicy implements RoutingPolicy {
  readonly name = 'sticky-session';
  /** session id → worker; bounded so a flood of one-off sessions cannot grow it forever. */
  private readonly sessions = new Map<string, WorkerId>();

  constructor(private readonly maxSessions = 100_000) {}

  select(request: RouteRequest, workers: readonly WorkerView[]): RouteDecision {
    const session = request.sessionId;
    const pinned = session === undefined ? undefined : this.sessions.get(session);
    if (pinned !== undefined && workers.some((w) => w.workerId === pinned)) {
      return { workerId: pinned, reason: `session ${session} pinned` };
    }
    const least = workers.reduce((a, b) => (b.inFlight.requests < a.inFlight.requests ? b : a));
    if (session !== undefined) this.pin(session, least.workerId);
    return {
      workerId: least.workerId,
      reason: session === undefined ? 'no session: fewest in flight' : 'new session',
    };
  }

  onWorkerRemoved(workerId: WorkerId): void {
    for (const [session, worker] of this.sessions) if (worker === workerId) this.sessions.delete(session);
  }

  /** Sessions currently pinned (for tests and debugging). */
  get pinnedSessions(): number {
    return this.sessions.size;
  }

  private pin(session: string, workerId: WorkerId): void {
    this.sessions.delete(session);
    this.sessions.set(session, workerId);
    if (this.sessions.size > this.maxSessions) this.sessions.delete(this.sessions.keys().next().value!);
  }
}

export function createPolicy(_options: PolicyOptions): RoutingPolicy {
  return new StickySessionPolicy();
}
