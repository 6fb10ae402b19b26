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
 * Storage, for the routing path: which workers hold a block in flight is a `BlockIndex` (hash → worker
 * bitmask, the cached-block index's table), so one walk down a prompt's hashes gives every worker's
 * in-flight depth at once (`inFlightDepths`), instead of one or two `Map<bigint>` lookups per worker per
 * decision (~290 ns each: at 64 workers most of a decision). The reference counts behind the bits are a
 * typed-array table too (`block-ref-counts.ts`), so routing and finishing a request allocate no BigInt key.
 * A set bit stands for the first holder; `refs` counts only the holders beyond it (a shared system prompt,
 * a conversation's next turn while its last is in flight). Most in-flight blocks have one holder, so
 * routing a request costs one probe per block (the bit) instead of two, and `refs` stays small enough
 * to stay in cache: a block's holders on a worker = bit + refs(block, worker). Each worker's counters
 * (requests, prefill tokens, partial blocks) are typed arrays by its slot in `held`, read by slot on the
 * routing path (`slotOf`, `countsAndDepthAt`).
 *
 * Lifecycle: `add` when routed → `markPrefillDone` at the first token (its prefill tokens drop to 0) →
 * `finish` when it completes, fails or is cancelled.
 */

import type { RequestId, SequenceHash, WorkerId } from '../protocols/ids.ts';
import { BlockIndex } from './block-index.ts';
import { BlockRefCounts } from './block-ref-counts.ts';
import { HashHalves } from './hash-halves.ts';
import type { InFlightCounts } from './types.ts';

/** A worker's keys into the tables; its counters live in the per-slot arrays (`slotRequests`, ...). */
interface WorkerLedger {
  /** Tag of this worker's entries in the reference-count table (never reused). */
  readonly tag: number;
  /** Its slot in the held-block table (`held`) and in the per-slot counters, fixed while it is a member. */
  readonly slot: number;
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
  /** Which workers hold each full block in flight (bit set while its reference count there is > 0). */
  private readonly held = new BlockIndex();
  private readonly refs = new BlockRefCounts();
  private nextTag = 1;
  private readonly halves = new HashHalves();
  // Per-worker counters by slot, in typed arrays rather than fields of a per-worker object: a decision
  // reads every worker's, and after the router was preempted these are a few cache lines instead of 64
  // scattered objects. Zeroed when a worker leaves (its slot is reused).
  /** Requests in flight. */
  private slotRequests = new Int32Array(64);
  /** Their prompt tokens still to prefill. */
  private slotPrefill = new Float64Array(64);
  /** Partial last blocks: one per in-flight request whose prompt does not end on a block boundary. */
  private slotPartial = new Int32Array(64);

  /**
   * Record a request routed to `workerId`. `prefillTokens` is the uncached part of its prompt:
   * max(0, isl − overlapBlocks · blockSize). `halves`: `blockHashes` already split (`HashHalves.of`), when
   * the caller has them (the router splits a prompt once per decision).
   */
  add(
    requestId: RequestId,
    workerId: WorkerId,
    blockHashes: readonly SequenceHash[],
    isl: number,
    blockSize: number,
    overlapBlocks: number,
    halves: Uint32Array = this.halves.of(blockHashes),
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
    const slot = ledger.slot;
    this.slotRequests[slot]!++;
    this.slotPrefill[slot]! += request.prefillTokens;
    const { refs, held } = this;
    for (let i = 0; i < blockHashes.length; i++) {
      const lo = halves[2 * i]!;
      const hi = halves[2 * i + 1]!;
      // The first holder only sets the worker's bit; holders beyond it are counted in `refs`.
      if (held.storeHalvesAt(slot, lo, hi) === 0) refs.increment(lo, hi, ledger.tag);
    }
    if (request.hasPartialBlock) this.slotPartial[slot]!++;
  }

  /** The request produced its first token: its prompt is no longer prefill work. */
  markPrefillDone(requestId: RequestId): void {
    const request = this.requests.get(requestId);
    if (request === undefined || request.prefillTokens === 0) return;
    this.slotPrefill[this.ledger(request.workerId).slot]! -= request.prefillTokens;
    request.prefillTokens = 0;
  }

  /** The request is over (any outcome). Returns the worker it was on, or undefined if unknown. */
  finish(requestId: RequestId): WorkerId | undefined {
    const request = this.requests.get(requestId);
    if (request === undefined) return undefined;
    this.requests.delete(requestId);
    const ledger = this.ledgers.get(request.workerId);
    if (ledger === undefined) return request.workerId;
    this.slotRequests[ledger.slot]!--;
    this.slotPrefill[ledger.slot]! -= request.prefillTokens;
    this.release(request, ledger);
    if (request.hasPartialBlock) this.slotPartial[ledger.slot]!--;
    return request.workerId;
  }

  /** Forget a worker and its requests (it left the pool). Returns the ids of requests that were on it. */
  removeWorker(workerId: WorkerId): RequestId[] {
    const orphaned: RequestId[] = [];
    for (const [requestId, request] of this.requests) {
      if (request.workerId === workerId) orphaned.push(requestId);
    }
    const ledger = this.ledgers.get(workerId);
    for (const requestId of orphaned) {
      if (ledger !== undefined) this.release(this.requests.get(requestId)!, ledger);
      this.requests.delete(requestId);
    }
    this.held.removeWorker(workerId);
    if (ledger !== undefined) {
      this.slotRequests[ledger.slot] = 0;
      this.slotPrefill[ledger.slot] = 0;
      this.slotPartial[ledger.slot] = 0;
    }
    this.ledgers.delete(workerId);
    return orphaned;
  }

  counts(workerId: WorkerId): InFlightCounts {
    const ledger = this.ledgers.get(workerId);
    if (ledger === undefined) return EMPTY;
    return this.countsInto(workerId, { requests: 0, prefillTokens: 0, blocks: 0 });
  }

  /** `counts` written into `out` (the routing path's reused views): no allocation. Returns `out`. */
  countsInto(workerId: WorkerId, out: InFlightCounts): InFlightCounts {
    const ledger = this.ledgers.get(workerId);
    if (ledger !== undefined) {
      this.countsAndDepthAt(ledger.slot, out);
      return out;
    }
    out.requests = 0;
    out.prefillTokens = 0;
    out.blocks = 0;
    return out;
  }

  /**
   * How many leading blocks of `blockHashes` each worker holds in flight (workers holding none are
   * absent): one walk down the hashes for all workers. Chained hashes make "held in flight" prefix-closed:
   * a request holding block i holds blocks 0..i-1 too, so block n is held on w exactly when n < depth(w).
   */
  inFlightDepths(blockHashes: readonly SequenceHash[]): Map<WorkerId, number> {
    return this.held.findMatches(blockHashes);
  }

  /**
   * `inFlightDepths` without allocating, for the routing path: one walk, then `countsAndDepthInto` per
   * worker until the next walk.
   */
  matchInFlight(blockHashes: readonly SequenceHash[]): void {
    this.held.matchDepths(blockHashes);
  }

  /** `matchInFlight` for `n` hashes already split into halves (`HashHalves.of`). */
  matchInFlightHalves(halves: Uint32Array, n: number): void {
    this.held.matchDepthsHalves(halves, n);
  }

  /**
   * The worker's slot (its ledger made if new, with zero counts), for callers that keep it per member and
   * read it with `countsAndDepthAt`: no lookup by worker id per decision. Valid while `isSlotOf` holds.
   */
  slotOf(workerId: WorkerId): number {
    return this.ledger(workerId).slot;
  }

  /** Whether `slot` (cached by a caller) still belongs to `workerId`: slots are reused after a departure. */
  isSlotOf(slot: number, workerId: WorkerId): boolean {
    return this.held.isSlotOf(slot, workerId);
  }

  /**
   * `countsInto` and the worker's depth in the last `matchInFlight` walk at once, for the routing path,
   * by the worker's slot (`slotOf`): no lookup by worker id. Returns the depth.
   */
  countsAndDepthAt(slot: number, out: InFlightCounts): number {
    out.requests = this.slotRequests[slot]!;
    out.prefillTokens = this.slotPrefill[slot]!;
    out.blocks = this.held.blocksAt(slot) + this.slotPartial[slot]!;
    return this.held.depthAt(slot);
  }

  /**
   * Blocks a new request would add on `workerId`: its full blocks not already held by an in-flight request
   * there (`inFlightDepth`, from `inFlightDepths`), plus its partial block.
   */
  newBlocks(
    workerId: WorkerId,
    blockHashes: readonly SequenceHash[],
    isl: number,
    blockSize: number,
    inFlightDepth = this.inFlightDepths(blockHashes).get(workerId) ?? 0,
  ): number {
    const partial = isl % blockSize !== 0 ? 1 : 0;
    return blockHashes.length - inFlightDepth + partial;
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

  /** Drop a request's references to its blocks; a block nobody else holds there leaves the index. */
  private release(request: ActiveRequest, ledger: WorkerLedger): void {
    const halves = this.halves.of(request.blockHashes);
    for (let i = 0; i < request.blockHashes.length; i++) {
      const lo = halves[2 * i]!;
      const hi = halves[2 * i + 1]!;
      if (!this.refs.decrementIfCounted(lo, hi, ledger.tag)) this.held.removeHalvesAt(ledger.slot, lo, hi);
    }
  }

  private ledger(workerId: WorkerId): WorkerLedger {
    let ledger = this.ledgers.get(workerId);
    if (ledger === undefined) {
      const slot = this.held.ensureSlot(workerId);
      if (slot >= this.slotRequests.length) this.growCounters(2 * slot + 2);
      ledger = { tag: this.nextTag++, slot };
      this.ledgers.set(workerId, ledger);
    }
    return ledger;
  }

  private growCounters(length: number): void {
    const requests = new Int32Array(length);
    const prefill = new Float64Array(length);
    const partial = new Int32Array(length);
    requests.set(this.slotRequests);
    prefill.set(this.slotPrefill);
    partial.set(this.slotPartial);
    this.slotRequests = requests;
    this.slotPrefill = prefill;
    this.slotPartial = partial;
  }
}
