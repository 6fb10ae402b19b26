/**
 * The router's own ledger of work in flight per worker (Dynamo's ActiveSequences): which requests it sent
 * where, how many prompt tokens each still has to prefill, and which KV blocks they occupy. Like a load
 * balancer's per-backend active-connection counters: they move the instant a request is routed, long
 * before the backend's next load report, so a burst of requests does not all land on one "idle" worker.
 *
 * Blocks are counted the way the worker's cache counts them: requests sharing a prefix share its blocks,
 * so each worker keeps a reference count per full-block sequence hash, plus one private block per request
 * for a partial last block.
 *
 * Lifecycle: `add` when routed → `markPrefillDone` at the first token (its prefill tokens drop to 0) →
 * `finish` when it completes, fails or is cancelled.
 */
import type { RequestId, SequenceHash, WorkerId } from '../protocols/ids.ts';
import type { InFlightCounts } from './types.ts';

interface WorkerLedger {
  requests: number;
  prefillTokens: number;
  /** Full blocks of in-flight requests: sequence hash → how many of them hold it. */
  blockRefs: Map<SequenceHash, number>;
  /** Partial last blocks: one per in-flight request whose prompt does not end on a block boundary. */
  partialBlocks: number;
}

interface ActiveRequest {
  workerId: WorkerId;
  blockHashes: readonly SequenceHash[];
  hasPartialBlock: boolean;
  prefillTokens: number;
}

const EMPTY: InFlightCounts = Object.freeze({ requests: 0, prefillTokens: 0, blocks: 0 });

export class ActiveSequences {
  private readonly ledgers = new Map<WorkerId, WorkerLedger>();
  private readonly requests = new Map<RequestId, ActiveRequest>();

  /**
   * Record a request routed to `workerId`. `prefillTokens` is the uncached part of its prompt:
   * max(0, isl − overlapBlocks · blockSize).
   */
  add(
    requestId: RequestId,
    workerId: WorkerId,
    blockHashes: readonly SequenceHash[],
    isl: number,
    blockSize: number,
    overlapBlocks: number,
  ): void {
    if (this.requests.has(requestId)) this.finish(requestId);
    const ledger = this.ledger(workerId);
    const request: ActiveRequest = {
      workerId,
      blockHashes,
      hasPartialBlock: isl % blockSize !== 0,
      prefillTokens: Math.max(0, isl - overlapBlocks * blockSize),
    };
    this.requests.set(requestId, request);
    ledger.requests++;
    ledger.prefillTokens += request.prefillTokens;
    for (const hash of blockHashes) ledger.blockRefs.set(hash, (ledger.blockRefs.get(hash) ?? 0) + 1);
    if (request.hasPartialBlock) ledger.partialBlocks++;
  }

  /** The request produced its first token: its prompt is no longer prefill work. */
  markPrefillDone(requestId: RequestId): void {
    const request = this.requests.get(requestId);
    if (request === undefined || request.prefillTokens === 0) return;
    this.ledger(request.workerId).prefillTokens -= request.prefillTokens;
    request.prefillTokens = 0;
  }

  /** The request is over (any outcome). Returns the worker it was on, or undefined if unknown. */
  finish(requestId: RequestId): WorkerId | undefined {
    const request = this.requests.get(requestId);
    if (request === undefined) return undefined;
    this.requests.delete(requestId);
    const ledger = this.ledgers.get(request.workerId);
    if (ledger === undefined) return request.workerId;
    ledger.requests--;
    ledger.prefillTokens -= request.prefillTokens;
    for (const hash of request.blockHashes) {
      const refs = ledger.blockRefs.get(hash)! - 1;
      if (refs === 0) ledger.blockRefs.delete(hash);
      else ledger.blockRefs.set(hash, refs);
    }
    if (request.hasPartialBlock) ledger.partialBlocks--;
    return request.workerId;
  }

  /** Forget a worker and its requests (it left the pool). Returns the ids of requests that were on it. */
  removeWorker(workerId: WorkerId): RequestId[] {
    const orphaned: RequestId[] = [];
    for (const [requestId, request] of this.requests) {
      if (request.workerId === workerId) orphaned.push(requestId);
    }
    for (const requestId of orphaned) this.requests.delete(requestId);
    this.ledgers.delete(workerId);
    return orphaned;
  }

  counts(workerId: WorkerId): InFlightCounts {
    const ledger = this.ledgers.get(workerId);
    if (ledger === undefined) return EMPTY;
    return {
      requests: ledger.requests,
      prefillTokens: ledger.prefillTokens,
      blocks: ledger.blockRefs.size + ledger.partialBlocks,
    };
  }

  /**
   * Blocks a new request would add on `workerId`: its full blocks not already held by an in-flight request
   * there, plus its partial block. Chained hashes make "already held" a prefix: a request holding block i
   * holds blocks 0..i-1 too, so the walk stops at the first miss.
   */
  newBlocks(
    workerId: WorkerId,
    blockHashes: readonly SequenceHash[],
    isl: number,
    blockSize: number,
  ): number {
    const partial = isl % blockSize !== 0 ? 1 : 0;
    const refs = this.ledgers.get(workerId)?.blockRefs;
    let shared = 0;
    if (refs !== undefined && refs.size > 0) {
      while (shared < blockHashes.length && refs.has(blockHashes[shared]!)) shared++;
    }
    return blockHashes.length - shared + partial;
  }

  /** The full-block hashes held by requests in flight on `workerId` (undefined when none are). */
  blocksOn(workerId: WorkerId): ReadonlyMap<SequenceHash, number> | undefined {
    const refs = this.ledgers.get(workerId)?.blockRefs;
    return refs === undefined || refs.size === 0 ? undefined : refs;
  }

  /** Where an in-flight request is and its full-block hashes. */
  requestBlocks(
    requestId: RequestId,
  ): { workerId: WorkerId; blockHashes: readonly SequenceHash[] } | undefined {
    return this.requests.get(requestId);
  }

  workerOf(requestId: RequestId): WorkerId | undefined {
    return this.requests.get(requestId)?.workerId;
  }

  get size(): number {
    return this.requests.size;
  }

  private ledger(workerId: WorkerId): WorkerLedger {
    let ledger = this.ledgers.get(workerId);
    if (ledger === undefined) {
      ledger = { requests: 0, prefillTokens: 0, blockRefs: new Map(), partialBlocks: 0 };
      this.ledgers.set(workerId, ledger);
    }
    return ledger;
  }
}
