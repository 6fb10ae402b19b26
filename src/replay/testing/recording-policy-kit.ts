/**
 * `kv-ttft` that also keeps, per request, the TTFT it predicted on the worker it chose: a replay test loads
 * it as a policy file (`router: <this path>`) and holds the predictions against the mocker's virtual time.
 * The module is loaded once per process, so the test reads the same map the policy writes.
 */
import {
  KvTtftPolicy,
  type PolicyOptions,
  type RouteDecision,
  type RouteRequest,
  type WorkerView,
} from '../../router/index.ts';

/** requestId → predicted ms from routing to the first token, on the chosen worker. */
export const predictedTtftMs = new Map<string, number>();

class RecordingKvTtftPolicy extends KvTtftPolicy {
  override select(request: RouteRequest, workers: readonly WorkerView[]): RouteDecision {
    const decision = super.select(request, workers);
    const chosen = decision.scores?.find((s) => s.workerId === decision.workerId) as
      | { ttftMs?: number }
      | undefined;
    if (chosen?.ttftMs !== undefined) predictedTtftMs.set(request.requestId, chosen.ttftMs);
    return decision;
  }
}

export function createPolicy(options: PolicyOptions): KvTtftPolicy {
  return new RecordingKvTtftPolicy(options);
}
