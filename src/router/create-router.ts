/**
 * The frontend's one call: CLI flags → a ready Router.
 *   --router random|round-robin|prefix-hash|least-loaded|kv|kv-approx|./my-policy.ts
 *   --kv-overlap-score-weight 1.0     --router-temperature 0     --busy-threshold (frontend: 0.95)
 *   --router-queue-threshold F --router-queue-policy fcfs|wspt (the router queue; off when unset)
 */
import { createPolicy, DEFAULT_ROUTER_POLICY } from './policy-factory.ts';
import { Router, type RouterOptions } from './router.ts';
import type { PolicyOptions } from './types.ts';

export interface RouterFlags extends PolicyOptions, Omit<RouterOptions, 'policy'> {
  /** `--router`: a built-in policy name or a path to a policy file (default `DEFAULT_ROUTER_POLICY`). */
  router?: string;
}

export async function createRouter(flags: RouterFlags = {}): Promise<Router> {
  const {
    router: spec = DEFAULT_ROUTER_POLICY,
    blockSize,
    requestSnapshot,
    indexer,
    decisionLog,
    explainAlways,
    logger,
    busyThreshold,
    quarantineMs,
    predictBlocks,
    predictionGraceMs,
    peerRequestTtlMs,
    queue,
    ...policyOptions
  } = flags;
  const policy = await createPolicy(spec, policyOptions);
  return new Router({
    policy,
    blockSize,
    requestSnapshot,
    indexer,
    decisionLog,
    explainAlways,
    logger,
    busyThreshold,
    quarantineMs,
    predictBlocks,
    predictionGraceMs,
    peerRequestTtlMs,
    queue,
    now: policyOptions.now,
  });
}
