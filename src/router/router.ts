/**
 * The router core: the load balancer between the frontend and the workers. It owns the pool (membership,
 * addresses, last load reports, quarantine and the busy threshold: `worker-pool.ts`), the KV indexer (fed
 * by KV events) and its own in-flight ledger; for each request it takes the pool's candidates, builds a
 * `WorkerView` per candidate and asks the policy to pick. Synchronous and free of I/O: the frontend wires
 * discovery, the event plane and the request lifecycle to these methods, and keeps only retries.
 *
 * Systems analogy: an L7 load balancer's core (an nginx upstream: its servers, their health, connection
 * counts) with the balancing algorithm as a plug-in (`RoutingPolicy`). Every decision is one log line.
 *
 *   addWorker / removeWorker      ← discovery (model card: block size, total blocks; request-plane address)
 *   applyKvEvent / applySnapshot  ← event plane (kv-events) / the worker's state dump
 *   updateLoad                    ← event plane (kv_metrics)
 *   route → markPrefillDone → finishRequest   ← the frontend, per request
 *   quarantine                    ← the frontend, when a worker refused a connection or dropped a stream
 */
import type { RequestId, WorkerId } from '../protocols/ids.ts';
import type { KvCacheEvent, LoadMetrics } from '../protocols/kv-events.ts';
import type { KvSnapshot } from '../protocols/router.ts';
import { computeBlockHashes } from '../tokens/block-hash.ts';
import { getLogger, type Logger } from '../util/logger.ts';
import { ActiveSequences } from './active-sequences.ts';
import { decisionLogFields } from './decision-log.ts';
import { PolicyDecisionError, RouterConfigError } from './errors.ts';
import { HashHalves } from './hash-halves.ts';
import { type EventOutcome, KvIndexer } from './kv-indexer.ts';
import { PredictedBlocks } from './predicted-blocks.ts';
import {
  applyPeerChangeTo,
  type PeerChangeTarget,
  PeerRequests,
  type SequenceChange,
} from './replica-sync.ts';
import type { RouteInput, RouteResult, RouterOptions } from './router-options.ts';
import { RouterQueue } from './router-queue.ts';
import type { RouteRequest, RoutingPolicy, WorkerInfo, WorkerView } from './types.ts';
import { type ActiveBlocksEstimate, WorkerPool } from './worker-pool.ts';
import { WorkerViews } from './worker-views.ts';

export type { RouteInput, RouteResult, RouterOptions } from './router-options.ts';

export class Router {
  readonly policy: RoutingPolicy;
  readonly indexer: KvIndexer;
  readonly active = new ActiveSequences();
  /** Blocks of requests just routed, until their KV events arrive; undefined when `predictBlocks` is off. */
  readonly predicted: PredictedBlocks | undefined;
  /** Requests waiting for a worker with room (`admit`); undefined when the router queue is off. */
  readonly queue: RouterQueue | undefined;
  private readonly pool: WorkerPool;
  private tokensPerBlock: number | undefined;
  /** Each member's view, rewritten per decision, and the load-report bookkeeping behind it. */
  private readonly views: WorkerViews;
  /** The pool's candidates for the current decision (reused). */
  private readonly candidates: WorkerInfo[] = [];
  /** Their last load reports, in the same order (reused). */
  private readonly candidateLoads: (LoadMetrics | undefined)[] = [];
  /** The current prompt's hashes as 32-bit halves: split once per decision for both walks and the ledger. */
  private readonly halves = new HashHalves();
  private readonly decisionLog: 'debug' | 'info' | 'off';
  private readonly explainAlways: boolean;
  private readonly log: Logger;
  /** Requests of other router replicas counted in `active` (replica sync). */
  private readonly peers: PeerRequests;
  /** What a peer's change touches here (`applyPeerChangeTo`). */
  private readonly peerTarget: PeerChangeTarget;
  private sequenceListener: ((change: SequenceChange) => void) | undefined;

  constructor(options: RouterOptions) {
    this.policy = options.policy;
    this.tokensPerBlock = options.blockSize;
    this.indexer = options.indexer ?? new KvIndexer({ requestSnapshot: options.requestSnapshot });
    this.pool = new WorkerPool(options);
    if (options.predictBlocks ?? true) {
      this.predicted = new PredictedBlocks(options.predictionGraceMs ?? 2000, options.now ?? Date.now);
    }
    this.decisionLog = options.decisionLog ?? 'debug';
    this.explainAlways = options.explainAlways ?? false;
    this.log = options.logger ?? getLogger('router');
    this.peers = new PeerRequests(options.peerRequestTtlMs ?? 600_000, options.now ?? Date.now);
    this.peerTarget = {
      active: this.active,
      hasWorker: (workerId) => this.pool.has(workerId),
      blockSize: () => this.tokensPerBlock!,
      retirePredictions: (key) => this.retirePredictions(key),
    };
    this.views = new WorkerViews({
      indexer: this.indexer,
      active: this.active,
      predicted: this.predicted,
      loadOf: (workerId) => this.pool.loadOf(workerId),
    });
    if (options.queue) {
      const prefillTokensOf = (workerId: WorkerId) => this.active.counts(workerId).prefillTokens;
      this.queue = new RouterQueue(options.queue, {
        hasRoom: (threshold) => this.pool.hasPrefillRoom(threshold, prefillTokensOf),
      });
    }
  }

  /**
   * Replica sync: `listener` hears every change to this router's own in-flight ledger (a request added
   * to a worker, its prefill done, its end), to publish to the other replicas. One listener; undefined
   * removes it.
   */
  onSequenceChange(listener: ((change: SequenceChange) => void) | undefined): void {
    this.sequenceListener = listener;
  }

  /**
   * Replica sync: another router replica (`replicaId`) changed its ledger. Its requests are counted in
   * this router's load view (active blocks, prefill backlog, blocks predicted cached) but are never this
   * router's to finish, and no policy hook hears them. Returns false when the change was ignored (a
   * worker this router does not know, a request it never saw added).
   */
  applyPeerChange(replicaId: string, change: SequenceChange): boolean {
    const applied = applyPeerChangeTo(this.peers, this.peerTarget, replicaId, change);
    // A peer's prompt done or request ended can leave a worker room for a request waiting here.
    if (applied && change.kind !== 'add') this.queue?.drain();
    return applied;
  }

  get blockSize(): number | undefined {
    return this.tokensPerBlock;
  }

  /** The pool's members, in the order they joined. */
  get workers(): WorkerInfo[] {
    return this.pool.list();
  }

  get size(): number {
    return this.pool.size;
  }

  hasWorker(workerId: WorkerId): boolean {
    return this.pool.has(workerId);
  }

  /** Where the request plane reaches a member (from its discovery entry), if it announced one. */
  addressOf(workerId: WorkerId): string | undefined {
    return this.pool.info(workerId)?.address;
  }

  loadOf(workerId: WorkerId): LoadMetrics | undefined {
    return this.pool.loadOf(workerId);
  }

  /**
   * A worker refused a connection or dropped a stream: skip it for `quarantineMs` (passive health check,
   * nginx `max_fails=1 fail_timeout`). It stays a member: discovery decides when it is gone.
   */
  quarantine(workerId: WorkerId): void {
    this.pool.quarantine(workerId);
  }

  isQuarantined(workerId: WorkerId): boolean {
    return this.pool.isQuarantined(workerId);
  }

  /**
   * Whether the worker is at or past the busy threshold: by its last load report, or by the KV blocks this
   * router has in flight there (its own ledger, which moves the instant a request is routed).
   */
  isBusy(workerId: WorkerId): boolean {
    return this.pool.isBusy(workerId, this.activeBlocksOf);
  }

  /**
   * The busy check's view of a worker: this router's in-flight blocks there plus what the last report
   * showed beyond them (`loadEstimate`), and its in-flight requests; undefined while nothing of ours is in
   * flight there, so a worker is never busy by our count alone when it runs nothing of ours (one big prompt
   * always goes).
   */
  private readonly activeBlocksOf: ActiveBlocksEstimate = (workerId) => this.views.busyEstimate(workerId);

  /** A worker joined (or its model card changed). All workers must share one block size. */
  addWorker(info: WorkerInfo): void {
    this.tokensPerBlock ??= info.blockSize;
    if (info.blockSize !== this.tokensPerBlock) {
      throw new RouterConfigError(
        `worker ${info.workerId} uses KV block size ${info.blockSize} but this router hashes blocks of ` +
          `${this.tokensPerBlock}; serve one model with one --block-size across its workers`,
      );
    }
    this.views.addWorker(info);
    if (this.pool.set(info)) {
      this.log.info('worker added', { workerId: info.workerId, totalBlocks: info.totalBlocks });
      this.policy.onWorkerAdded?.(info);
    }
    this.queue?.drain();
  }

  /** A worker left: forget its cache, load and in-flight requests. Returns those requests' ids. */
  removeWorker(workerId: WorkerId): RequestId[] {
    if (!this.pool.delete(workerId)) return [];
    this.indexer.removeWorker(workerId);
    const orphaned = this.active.removeWorker(workerId).filter((id) => {
      if (!this.peers.has(id)) return true;
      this.peers.delete(id);
      return false;
    });
    this.views.removeWorker(workerId);
    this.predicted?.removeWorker(workerId);
    this.log.info('worker removed', { workerId, inFlight: orphaned.length });
    this.policy.onWorkerRemoved?.(workerId);
    this.queue?.drain(); // the last one gone: the waiting requests fail now (NoWorkersError) rather than wait
    return orphaned;
  }

  /** One KV event from a worker's log. Events of workers not (yet) in the pool are ignored. */
  applyKvEvent(workerId: WorkerId, event: KvCacheEvent): EventOutcome | 'unknown-worker' {
    if (!this.pool.has(workerId)) return 'unknown-worker';
    const outcome = this.indexer.applyEvent(workerId, event);
    if (outcome !== 'duplicate') this.predicted?.confirmStored(workerId, event);
    this.policy.onKvEvent?.(workerId, event);
    return outcome;
  }

  /** A worker's answer to `requestSnapshot`. */
  applySnapshot(snapshot: KvSnapshot): void {
    if (!this.pool.has(snapshot.workerId)) return;
    this.indexer.applySnapshot(snapshot.workerId, snapshot.lastEventId, snapshot.events);
    for (const event of snapshot.events) this.predicted?.confirmStored(snapshot.workerId, event);
  }

  /**
   * Rebuild `workerId`'s part of the index from a snapshot now (`KvIndexer.resync`): the frontend calls
   * it when the worker joins and the router tails events from "now", and after a reconnect to the bus.
   */
  resync(workerId: WorkerId): boolean {
    return this.pool.has(workerId) && this.indexer.resync(workerId);
  }

  /** The snapshot `requestSnapshot` asked for will not come: stop buffering that worker's events. */
  abandonSnapshot(workerId: WorkerId): void {
    this.indexer.abandonSnapshot(workerId);
  }

  /**
   * A worker's load report (feeds the policies' views and the busy check). The peak of the router's own
   * in-flight counts since the previous report is kept with it: the report was sampled somewhere in that
   * interval, so what it shows beyond that peak is load the router did not send (another frontend's, or
   * growth it does not model), see `loadEstimate`.
   */
  updateLoad(metrics: LoadMetrics): void {
    this.pool.recordLoad(metrics);
    if (this.pool.has(metrics.workerId)) this.views.recordLoad(metrics.workerId);
  }

  /**
   * Pick a worker for a request and count it as in flight there. Throws NoWorkersError when no member is
   * left once `exclude` is applied, AllWorkersBusyError when every candidate is past the busy threshold.
   */
  route(input: RouteInput): RouteResult {
    const candidates = this.pool.candidates(
      input.exclude,
      this.activeBlocksOf,
      this.candidates,
      this.candidateLoads,
    );
    const blockSize = this.tokensPerBlock!;
    const request: RouteRequest = {
      requestId: input.requestId as RequestId,
      tokenIds: input.tokenIds,
      blockHashes: input.blockHashes ?? computeBlockHashes(input.tokenIds, blockSize).sequence,
      isl: input.tokenIds.length,
      blockSize,
      sessionId: input.sessionId,
      explain: this.explainDecisions(),
    };
    const halves = this.halves.of(request.blockHashes);
    const views = this.views.build(request, halves, candidates, this.candidateLoads);
    const decision = this.policy.select(request, views);
    const chosen = offeredView(views, decision.workerId);
    if (chosen === undefined) {
      throw new PolicyDecisionError(
        `routing policy "${this.policy.name}" chose ${String(decision.workerId)}, which was not among the ` +
          `offered workers (${views.map((v) => v.workerId).join(', ')}); a policy must return one of them`,
      );
    }
    const overlapBlocks = decision.overlapBlocks ?? chosen.overlapBlocks;
    this.active.add(
      request.requestId,
      chosen.workerId,
      request.blockHashes,
      request.isl,
      blockSize,
      overlapBlocks,
      halves,
    );
    this.views.noteRouted(chosen.workerId);
    if (request.explain && this.decisionLog !== 'off') {
      const fields = decisionLogFields(this.policy.name, request, views, decision, overlapBlocks);
      this.log[this.decisionLog]('route', fields);
    }
    this.sequenceListener?.({
      kind: 'add',
      requestId: request.requestId,
      workerId: chosen.workerId,
      blockHashes: request.blockHashes,
      isl: request.isl,
      overlapBlocks,
    });
    return {
      workerId: chosen.workerId,
      overlapBlocks,
      isl: request.isl,
      numBlocks: request.blockHashes.length,
      decision,
    };
  }

  /**
   * Route `input` through the router queue: `dispatch` (which calls `route`) runs now when the queue is off
   * or a worker has room, else when a prefill or a request ends and it is the queue's next (`router-queue.ts`).
   * Returns whether it ran now.
   */
  admit(input: RouteInput, dispatch: () => void): boolean {
    if (this.queue === undefined) {
      dispatch();
      return true;
    }
    return this.queue.offer(input.requestId, () => this.newTokensOf(input), dispatch);
  }

  /** A request waiting in the router queue is gone (client left, deadline): forget it. */
  cancelQueued(requestId: string): boolean {
    return this.queue?.cancel(requestId) ?? false;
  }

  /** Its prompt less the longest prefix any worker caches (or is about to): wspt's measure of its work. */
  private newTokensOf(input: RouteInput): number {
    let views: WorkerView[];
    try {
      views = this.inspect(input);
    } catch {
      return input.tokenIds.length; // no candidate (none left, all busy): routing will say so; order by its prompt
    }
    let overlap = 0;
    for (const view of views) overlap = Math.max(overlap, view.overlapBlocks);
    return input.tokenIds.length - overlap * this.tokensPerBlock!; // set: the pool has a member
  }

  /** The request's first token arrived: its prompt is no longer queued prefill work. */
  markPrefillDone(requestId: string): void {
    this.active.markPrefillDone(requestId as RequestId);
    this.policy.onPrefillDone?.(requestId as RequestId);
    const workerId = this.sequenceListener && this.active.workerOf(requestId as RequestId);
    if (workerId)
      this.sequenceListener!({ kind: 'prefill_done', requestId: requestId as RequestId, workerId });
    this.queue?.drain();
  }

  /**
   * The request ended. 'done' (the default: it completed, or was cancelled after its first token): its
   * prompt was computed on the worker, so its unconfirmed predicted blocks stay until their events arrive
   * (at most `predictionGraceMs`). 'failed' (an error, a migration away, a cancel before the first token):
   * they are dropped now. Unknown ids are ignored. `outputTokens`: what it generated, when counted (the
   * policy's `onRequestFinished` hears it; `kv-delay` learns the mean output length from it).
   */
  finishRequest(requestId: string, outcome: 'done' | 'failed' = 'done', outputTokens?: number): void {
    if (outcome === 'done') this.retirePredictions(requestId as RequestId);
    const workerId = this.active.finish(requestId as RequestId);
    if (workerId === undefined) return;
    this.policy.onRequestFinished?.(requestId as RequestId, workerId, outputTokens);
    this.sequenceListener?.({ kind: 'free', requestId: requestId as RequestId, workerId, outcome });
    this.queue?.drain();
  }

  /** The views a policy would see for `input` right now, without routing (for tools and tests; copies). */
  inspect(input: RouteInput): WorkerView[] {
    const loads: (LoadMetrics | undefined)[] = [];
    const candidates = this.pool.candidates(input.exclude, this.activeBlocksOf, [], loads);
    const blockHashes =
      input.blockHashes ?? computeBlockHashes(input.tokenIds, this.tokensPerBlock!).sequence;
    const request = {
      blockHashes,
      isl: input.tokenIds.length,
      blockSize: this.tokensPerBlock!,
    } as RouteRequest;
    const halves = new HashHalves().of(blockHashes);
    return this.views.build(request, halves, candidates, loads).map(WorkerViews.copy);
  }

  /**
   * Whether to build the decision's arithmetic strings: only when the line will be written. Building them
   * costs ~1-2 µs per worker, so they are built only when the logger would write the line.
   */
  private explainDecisions(): boolean {
    if (this.explainAlways) return true;
    return this.decisionLog !== 'off' && this.log.isEnabled(this.decisionLog);
  }

  /**
   * A request ended normally: its blocks the indexer does not hold yet stay predicted for a while (with a
   * grace of 0, not at all: nothing to look up).
   */
  private retirePredictions(requestId: RequestId): void {
    if (this.predicted === undefined || !this.predicted.retains) return;
    const request = this.active.requestBlocks(requestId);
    if (request === undefined) return;
    const { workerId, blockHashes } = request;
    const unconfirmed = blockHashes.filter((hash) => !this.indexer.blocks.holds(workerId, hash));
    this.predicted.retire(requestId, workerId, unconfirmed);
  }
}

/** The offered view of `workerId` (a loop, not `find`: no closure per decision). */
function offeredView(views: readonly WorkerView[], workerId: WorkerId): WorkerView | undefined {
  for (const view of views) if (view.workerId === workerId) return view;
  return undefined;
}
