export { ActiveSequences } from './active-sequences.ts';
export { ApproxKvIndex, type ApproxKvIndexOptions } from './approx-kv-index.ts';
export { BlockIndex } from './block-index.ts';
export { ConsistentHashRing } from './consistent-hash-ring.ts';
export { createRouter, type RouterFlags } from './create-router.ts';
export { loadCustomPolicy, validatePolicy } from './custom-policy.ts';
export { decisionLogFields, describeWorker } from './decision-log.ts';
export {
  AllWorkersBusyError,
  CustomPolicyError,
  NoWorkersError,
  PolicyDecisionError,
  RouterConfigError,
  UnknownPolicyError,
} from './errors.ts';
export { formatKvCost, type KvCostTerms, kvCostTerms, pickByCost, softmaxWeights } from './kv-cost.ts';
export { type EventOutcome, KvIndexer, type KvIndexerOptions, type KvIndexerStats } from './kv-indexer.ts';
export { KvPolicy } from './policies/kv.ts';
export {
  DEFAULT_PREFILL_TOKENS_PER_MS,
  DEFAULT_TTFT_LOAD_EPSILON,
  KvTtftPolicy,
} from './policies/kv-ttft.ts';
export { DEFAULT_APPROX_MAX_ENTRIES, DEFAULT_APPROX_TTL_MS, KvApproxPolicy } from './policies/kv-approx.ts';
export { LeastLoadedPolicy } from './policies/least-loaded.ts';
export { PrefixHashPolicy } from './policies/prefix-hash.ts';
export { RandomPolicy } from './policies/random.ts';
export { RoundRobinPolicy } from './policies/round-robin.ts';
export {
  BUILTIN_POLICIES,
  type BuiltinPolicyName,
  createBuiltinPolicy,
  createPolicy,
  DEFAULT_ROUTER_POLICY,
  POLICY_SUMMARIES,
  routerFlagHelp,
  isBuiltinPolicy,
  isPolicyPath,
} from './policy-factory.ts';
export {
  PeerRequests,
  peerRequestKey,
  type SequenceChange,
  type SequenceChangeWire,
  sequenceChangeFromWire,
  sequenceChangeToWire,
} from './replica-sync.ts';
export { type RouteInput, type RouteResult, Router, type RouterOptions } from './router.ts';
export {
  ROUTER_QUEUE_POLICIES,
  RouterQueue,
  type RouterQueueOptions,
  type RouterQueuePolicy,
} from './router-queue.ts';
export type {
  InFlightCounts,
  PolicyOptions,
  RouteDecision,
  RouteRequest,
  RoutingPolicy,
  WorkerInfo,
  WorkerScore,
  WorkerView,
} from './types.ts';
export {
  DEFAULT_BUSY_THRESHOLD,
  QUARANTINE_MS,
  WorkerPool,
  type WorkerPoolOptions,
} from './worker-pool.ts';
export {
  checkDisaggOptions,
  DISAGG_DEFAULTS,
  type DisaggDecision,
  type DisaggInputs,
  type DisaggPolicyOptions,
  type DisaggReason,
  type DisaggRule,
  decideDisaggregation,
} from './disagg-policy.ts';
