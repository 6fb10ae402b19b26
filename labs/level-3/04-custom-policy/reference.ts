/**
 * Lab 3.4's reference solution: sticky sessions that give way under overload. Like a load balancer's
 * cookie affinity with a health override: a session stays on the worker that served it (its conversation
 * is in that worker's KV cache), unless that worker is overloaded; then it moves once, to the least busy
 * worker, and stays there. Requests without a session id go to the worker with the longest cached prefix.
 *
 * Use it: `dhw serve --router ./labs/level-3/04-custom-policy/reference.ts`
 * Check it: `npm run lab -- 3.4 --check --reference`
 */
import type { WorkerId } from '../../../src/protocols/ids.ts';
import type {
  PolicyOptions,
  RouteDecision,
  RouteRequest,
  RoutingPolicy,
  WorkerView,
} from '../../../src/router/types.ts';

/** A worker with this many more requests in flight than twice the least busy one's is overloaded... */
const INFLIGHT_SLACK = 4;
/** ...and so is one whose last load report says its KV cache is this full (the frontend's 503 is at 0.95). */
const KV_USAGE_LIMIT = 0.9;
/** Sessions remembered at most (oldest forgotten first), so one-off sessions cannot grow the table forever. */
const MAX_SESSIONS = 100_000;

export class StickyUnlessOverloadedPolicy implements RoutingPolicy {
  readonly name = 'sticky-unless-overloaded';
  private readonly sessions = new Map<string, WorkerId>();

  select(request: RouteRequest, workers: readonly WorkerView[]): RouteDecision {
    const session = request.sessionId;
    if (session === undefined) return this.byCachedPrefix(workers);
    const pinned = workers.find((w) => w.workerId === this.sessions.get(session));
    if (pinned && !isOverloaded(pinned, workers)) {
      return { workerId: pinned.workerId, reason: `session ${session} pinned` };
    }
    const target = leastBusy(workers.filter((w) => !isOverloaded(w, workers))) ?? leastBusy(workers)!;
    this.pin(session, target.workerId);
    return {
      workerId: target.workerId,
      reason: pinned ? `session ${session} moved: ${pinned.workerId} overloaded` : `new session ${session}`,
    };
  }

  onWorkerRemoved(workerId: WorkerId): void {
    for (const [session, worker] of this.sessions) if (worker === workerId) this.sessions.delete(session);
  }

  /** No session: the longest cached prefix wins (like the kv policy), the least busy breaks ties. */
  private byCachedPrefix(workers: readonly WorkerView[]): RouteDecision {
    const healthy = workers.filter((w) => !isOverloaded(w, workers));
    const pool = healthy.length > 0 ? healthy : workers;
    const best = Math.max(...pool.map((w) => w.overlapBlocks));
    const chosen = leastBusy(pool.filter((w) => w.overlapBlocks === best))!;
    return {
      workerId: chosen.workerId,
      reason: best > 0 ? `no session: ${best} blocks cached` : 'no session: least busy',
    };
  }

  private pin(session: string, workerId: WorkerId): void {
    this.sessions.delete(session);
    this.sessions.set(session, workerId);
    if (this.sessions.size > MAX_SESSIONS) this.sessions.delete(this.sessions.keys().next().value!);
  }
}

function isOverloaded(worker: WorkerView, all: readonly WorkerView[]): boolean {
  const least = Math.min(...all.map((w) => w.inFlight.requests));
  const kvFull = (worker.load?.gpuCacheUsagePerc ?? 0) >= KV_USAGE_LIMIT;
  return kvFull || worker.inFlight.requests >= 2 * least + INFLIGHT_SLACK;
}

/**
 * Fewest requests in flight; ties → fewest active KV blocks → smallest cache (SGLang's "smallest tree":
 * the worker with the most room for a new conversation). Undefined for an empty list.
 */
function leastBusy(workers: readonly WorkerView[]): WorkerView | undefined {
  const key = (w: WorkerView) => [w.inFlight.requests, w.activeBlocks, w.treeBlocks];
  let best: WorkerView | undefined;
  for (const w of workers) {
    if (best === undefined || isLess(key(w), key(best))) best = w;
  }
  return best;
}

/** Lexicographic a < b. */
function isLess(a: number[], b: number[]): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i]! < b[i]!;
  return false;
}

export function createPolicy(_options: PolicyOptions): RoutingPolicy {
  return new StickyUnlessOverloadedPolicy();
}
