/**
 * The router's options and the shapes of one routing call (`Router.route`): what the frontend passes in,
 * what it gets back. Kept apart from `router.ts` so the core reads as behaviour only.
 */
import type { SequenceHash, WorkerId } from '../protocols/ids.ts';
import type { Logger } from '../util/logger.ts';
import type { KvIndexer } from './kv-indexer.ts';
import type { RouterQueueOptions } from './router-queue.ts';
import type { RouteDecision, RoutingPolicy } from './types.ts';
import type { WorkerPoolOptions } from './worker-pool.ts';

export interface RouterOptions extends WorkerPoolOptions {
  policy: RoutingPolicy;
  /** Tokens per block; when unset, taken from the first worker's model card. */
  blockSize?: number;
  /** Asks a worker for a full KV dump after an event gap; answer with `applySnapshot`. */
  requestSnapshot?: (workerId: WorkerId) => void;
  /** An index built elsewhere (replayed from a durable stream, or shared by a benchmark); else a new one. */
  indexer?: KvIndexer;
  /**
   * Count the blocks of a request just routed as soon-to-be-cached on its worker until KV events confirm
   * them (default true; `predicted-blocks.ts`). Off = Dynamo's behaviour: overlap from events only.
   */
  predictBlocks?: boolean;
  /** How long a request that ended keeps its unconfirmed predictions, ms (default 2000). */
  predictionGraceMs?: number;
  /** Level of the per-decision log line (default 'debug'); 'off' skips building it (benchmarks). */
  decisionLog?: 'debug' | 'info' | 'off';
  /**
   * Build every decision's cost arithmetic even when the log line is not written (the frontend's
   * dashboard shows the last decisions; ~1-2 µs per worker). Default false.
   */
  explainAlways?: boolean;
  /**
   * The router queue (`--router-queue-threshold`, `--router-queue-policy`; `router-queue.ts`): requests
   * wait in the router while every worker has a prefill backlog. Unset = off (Dynamo's default): every
   * request is routed when it arrives.
   */
  queue?: RouterQueueOptions;
  /** How long a peer replica's request stays counted without its `free` (default 600 000 ms, replica-sync.ts). */
  peerRequestTtlMs?: number;
  logger?: Logger;
}

export interface RouteInput {
  requestId: string;
  tokenIds: readonly number[];
  /** Precomputed sequence hashes of the full blocks (a trace's hash ids, or a frontend cache). */
  blockHashes?: readonly SequenceHash[];
  sessionId?: string;
  /** Workers not to use for this request: the ones already tried for it (a retry, a migration). */
  exclude?: readonly WorkerId[];
}

export interface RouteResult {
  workerId: WorkerId;
  /** Leading prompt blocks expected to be cached on the chosen worker (for the KV hit-rate metric). */
  overlapBlocks: number;
  isl: number;
  /** Full blocks in the prompt. */
  numBlocks: number;
  decision: RouteDecision;
}
