/**
 * The router's contracts: what a worker looks like to the router, what a request looks like to a policy,
 * and `RoutingPolicy`, the one interface every policy implements (built-in or a user's custom file).
 *
 * Systems analogy: an L7 load balancer's "upstream selection" plug-in. The balancer core (router.ts) owns
 * the pool membership, the health/load numbers (quarantine, busy threshold) and the per-backend connection
 * counts; a policy only answers "which backend for this request?", given a snapshot of every candidate
 * (members not tried for this request, not quarantined, not busy). Policies never see the engine: only
 * discovery entries (worker id + model card numbers), KV events and load metrics.
 */

import type { RequestId, SequenceHash, WorkerId } from '../protocols/ids.ts';
import type { KvCacheEvent, LoadMetrics } from '../protocols/kv-events.ts';
import type { StepTimingModel } from '../protocols/step-timing.ts';

/** A worker as discovery announces it: instance id plus the model card numbers the router needs. */
export interface WorkerInfo {
  workerId: WorkerId;
  /** Tokens per KV block (`kv_cache_block_size`); every worker of one model must agree. */
  blockSize: number;
  /** KV blocks the worker has in total (`total_kv_blocks`). */
  totalBlocks: number;
  /**
   * Sequences the worker runs at once (`max_num_seqs`); more wait in its own queue. The busy check counts
   * the router's in-flight requests against it. Unset = not counted.
   */
  maxNumSeqs?: number;
  /**
   * Prompt tokens the worker computes in one engine step (`max_num_batched_tokens`). The router queue
   * (`router-queue.ts`) measures a worker's prefill backlog against it. Unset = the worker is never busy
   * for the queue.
   */
  maxNumBatchedTokens?: number;
  /**
   * Where the request plane reaches the worker ("host:port" from its instance record). The router never
   * dials it; it keeps it with the member so one record says who serves and where (the frontend calls it).
   */
  address?: string;
  /**
   * The worker's published step-time model (`protocols/step-timing.ts`; the mocker publishes Dynamo's
   * fit). `kv-delay` prices decode slowdowns with it; without one it prices none.
   */
  stepTiming?: StepTimingModel;
}

/** The request as a policy sees it. The router core hashes the prompt once; policies reuse the hashes. */
export interface RouteRequest {
  requestId: RequestId;
  tokenIds: readonly number[];
  /** Sequence (chained) hashes of the prompt's FULL blocks, block 0 first (`tokens/block-hash.ts`). */
  blockHashes: readonly SequenceHash[];
  /** Input sequence length: prompt tokens. */
  isl: number;
  blockSize: number;
  /** Client session key (OpenAI `user` field or an `x-session-id` header) when the frontend has one. */
  sessionId?: string;
  /** True when the decision will be logged: policies then fill `WorkerScore.formula` (strings cost time). */
  explain: boolean;
}

/** The router's own count of work it sent to a worker and has not seen finish (Dynamo's ActiveSequences). */
export interface InFlightCounts {
  requests: number;
  /** Prompt tokens still to prefill (a request's share drops to 0 at its first token). */
  prefillTokens: number;
  /** Distinct KV blocks the in-flight requests occupy (shared prefix blocks counted once). */
  blocks: number;
}

/**
 * One candidate worker, as the router sees it at decision time. The router rewrites its views in place for
 * every decision (one per member, `worker-views.ts`: no allocation per worker), so a view is valid during
 * the `select` it is passed to; a policy that keeps one longer copies it.
 */
export interface WorkerView {
  workerId: WorkerId;
  blockSize: number;
  totalBlocks: number;
  /** Last load the worker published; undefined until its first report. */
  load: LoadMetrics | undefined;
  /**
   * Leading blocks of this request the worker has cached or is about to: the KV-event indexer's match,
   * extended by the blocks of requests the router has just sent there whose events have not arrived yet
   * (`predicted-blocks.ts`). 0 without events and without recent requests.
   */
  overlapBlocks: number;
  /** How many of `overlapBlocks` are predicted (routed, not yet confirmed by KV events). */
  predictedBlocks: number;
  /**
   * Prompt tokens of this request's predicted blocks that other requests are still prefilling here:
   * taken out of `activePrefillTokens` (this request waits for them instead of computing them).
   */
  sharedPrefillTokens: number;
  /** Blocks the indexer believes the worker caches in total (its "tree size"). */
  treeBlocks: number;
  inFlight: InFlightCounts;
  /**
   * Prefill backlog used for cost: the router's in-flight count, plus what the worker's last report
   * (`activePrefillTokens`) showed beyond the router's count at that moment (others' load), less
   * `sharedPrefillTokens`.
   */
  activePrefillTokens: number;
  /** Active blocks used for cost, estimated the same way from `activeDecodeBlocks`. */
  activeBlocks: number;
  /** Blocks this request would add to `activeBlocks` here (its blocks not already active on this worker). */
  newBlocks: number;
}

/** A policy's score for one worker, for the decision log (lower is better by convention). */
export interface WorkerScore {
  workerId: WorkerId;
  cost: number;
  /** The policy's own overlap estimate when it differs from the view's (kv-approx). */
  overlapBlocks?: number;
  /** The cost as arithmetic, e.g. "1.0*12 + 30 = 42"; filled when `request.explain`. */
  formula?: string;
}

export interface RouteDecision {
  workerId: WorkerId;
  /** Why, in a few words: "min cost", "ring owner", "owner overloaded, next on ring", ... */
  reason: string;
  /**
   * Per-worker scores. The kv policies reuse theirs across decisions unless `request.explain` (then they
   * are fresh, with formulas): read them before the next `route`, or copy them.
   */
  scores?: WorkerScore[];
  /** Cached leading blocks the policy expects on the chosen worker; defaults to its `overlapBlocks`. */
  overlapBlocks?: number;
}

/**
 * A routing policy: the CUSTOM POLICY interface too. `select` must be synchronous, quick (it runs on every
 * request) and must return one of the offered `workers` (the list is never empty). Hooks are optional; the
 * router calls them after updating its own state, so a policy that keeps its own view (a hash ring, an
 * approximate cache map, a session table) stays in step with the pool.
 *
 * A custom policy file exports either `createPolicy(options)` returning a RoutingPolicy, or a default export
 * that is a RoutingPolicy object, a factory function, or a class; see `custom-policy.ts` and
 * `examples/sticky-session-policy.ts`.
 */
export interface RoutingPolicy {
  /** Short name for logs ("kv", "round-robin", "sticky-session"). */
  readonly name: string;
  /** `workers` and its views are the router's scratch, valid during this call (see `WorkerView`). */
  select(request: RouteRequest, workers: readonly WorkerView[]): RouteDecision;
  onKvEvent?(workerId: WorkerId, event: KvCacheEvent): void;
  onWorkerAdded?(worker: WorkerInfo): void;
  onWorkerRemoved?(workerId: WorkerId): void;
  /** The request ended; `outputTokens` it generated, when the caller counted them (`kv-delay` learns from it). */
  onRequestFinished?(requestId: RequestId, workerId: WorkerId, outputTokens?: number): void;
  /** The request's first token arrived (its prefill is done); called before `onRequestFinished`. */
  onPrefillDone?(requestId: RequestId): void;
}

/** Options every built-in policy factory accepts; custom policies receive the same object. */
export interface PolicyOptions {
  /** Seed for random choices (random policy, tie-breaks, temperature sampling); unset = unpredictable. */
  seed?: number;
  /** Weight of prefill cost against decode cost in the kv cost (Dynamo `--kv-overlap-score-weight`, 1.0). */
  overlapScoreWeight?: number;
  /** Softmax temperature of the kv policies (Dynamo `--router-temperature`): 0 = always the cheapest. */
  temperature?: number;
  /** Milliseconds clock, injected so TTLs are testable (kv-approx). Default `Date.now`. */
  now?: () => number;
  /** prefix-hash: leading blocks that form the affinity key (default 4). */
  prefixBlocks?: number;
  /** prefix-hash: virtual nodes per worker on the ring (default 100). */
  virtualNodes?: number;
  /**
   * ε of "bounded loads": prefix-hash's owner may carry up to (1 + ε) × average (default 0.25); kv-ttft
   * skips a worker past (1 + ε) × the average requests in flight (default 1; kv-delay: default ∞, no bound).
   */
  loadBalanceEpsilon?: number;
  /**
   * kv-ttft / kv-delay: the prefill rate (tokens/ms) until one is learned. kv-ttft: display only; kv-delay
   * (default: the published model's full-chunk rate) weighs it against the decode pressure when that is on.
   */
  prefillTokensPerMs?: number;
  /**
   * kv-delay: also price the request's own decode time there (N · d(u + Δu)), not only the slowdown it puts
   * on the sequences decoding beside it (default false).
   */
  decodeOwnTime?: boolean;
  /**
   * kv-delay: add the decode pressure term (`decode-pressure.ts`) to the cost. Default false: measured on
   * the 26 study inputs it cost cache hits and moved no latency bar (router README, round 4).
   */
  decodePressure?: boolean;
  /**
   * kv-delay's wait bound slack: 'saved' (default: wait at most the most any cache saves this request
   * longer than the shortest wait), 'cached' (at most what that worker's own cache saves) or 'prompt'
   * (kv-ttft's: at most one prefill of the whole prompt).
   */
  waitSlack?: 'saved' | 'prompt' | 'cached';
  /**
   * kv-delay: also price the stall this request will RECEIVE while decoding on a worker, from the prefill
   * the router sent there over the last mean decode life (`received-stall.ts`). Default false (round 5).
   */
  receivedStall?: boolean;
  /**
   * kv-delay: price a recompute (the uncached tokens beyond the least any worker needs) at the cluster's
   * mean requests in flight, besides the stall where it runs (`recompute-price.ts`). Default true (round 6).
   */
  recomputePrice?: boolean;
  /** kv-approx: how long a routing decision is remembered, ms (default 120 000). */
  approxTtlMs?: number;
  /** kv-approx: cap on remembered (worker, block) entries (default 1 000 000). */
  approxMaxEntries?: number;
}
