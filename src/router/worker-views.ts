/**
 * The router's per-decision scratch: what each candidate looks like to a policy (`WorkerView`), built for
 * every request from the KV index, the in-flight ledger, the predicted blocks and the last load reports.
 *
 * Systems analogy: a NIC driver's descriptor ring. One view struct per member is allocated when the worker
 * joins and rewritten in place for every decision, and the array handed to the policy is one reused array
 * too, so a decision at 64 workers allocates nothing per worker (it used to allocate ~500 bytes of small
 * objects per worker per decision: ~34 KB at 64 workers, every few hundred decisions a young-generation
 * scavenge that landed on one decision's latency). The contract that buys this: a view is valid during the
 * decision it was built for; a policy (or a tool) that keeps one past `select` copies it (`inspect` does).
 *
 *   per member (Map by worker id, made at join, dropped at leave):
 *     view         WorkerView   rewritten by `build`; its `inFlight` object too; workerId, blockSize and
 *                               totalBlocks set when the member's card (info object) changes
 *     ledgerSlot   number       its slot in the in-flight ledger / the KV index, kept so a decision looks
 *     indexSlot    number       no worker up by id; checked against the slot's owner before use
 *     ownAtReport  counts       the peak of our in-flight counts over the interval the last load report
 *                               may have been sampled in (`loadEstimate`); valid once `reported`
 *     ownPeak      counts       the peak since that report arrived (since the join, before the first)
 *   shared:  the offered array (length = candidates), the previous decision's candidates and members by
 *            position (the same card at the same position is the same member), and the two depth walks'
 *            tables (block-index.ts)
 *
 * Every per-worker number the fill reads is an entry of a typed array by slot (block counts, in-flight
 * requests and prefill, depths): after the router was preempted, a decision finds them in a few cache
 * lines instead of one or two small objects per worker.
 */
import type { SequenceHash, WorkerId } from '../protocols/ids.ts';
import type { LoadMetrics } from '../protocols/kv-events.ts';
import type { ActiveSequences } from './active-sequences.ts';
import type { KvIndexer } from './kv-indexer.ts';
import type { PredictedBlocks } from './predicted-blocks.ts';
import type { InFlightCounts, RouteRequest, WorkerInfo, WorkerView } from './types.ts';

interface MemberScratch {
  readonly view: WorkerView;
  /**
   * Its slots in the in-flight ledger and in the KV index (−1 while it has none there), kept rather than
   * looked up per decision, and checked with `isSlotOf` before use (a slot is reused after a departure).
   */
  ledgerSlot: number;
  indexSlot: number;
  /** Whether a load report arrived since the worker joined (then `ownAtReport` and `ownPeak` hold). */
  reported: boolean;
  readonly ownAtReport: InFlightCounts;
  readonly ownPeak: InFlightCounts;
}

export interface ViewSources {
  indexer: KvIndexer;
  active: ActiveSequences;
  predicted: PredictedBlocks | undefined;
  loadOf: (workerId: WorkerId) => LoadMetrics | undefined;
}

const zeroCounts = (): InFlightCounts => ({ requests: 0, prefillTokens: 0, blocks: 0 });

export class WorkerViews {
  private readonly members = new Map<WorkerId, MemberScratch>();
  /** The array offered to the policy: the first `offered` entries are this decision's candidates. */
  private readonly offered: WorkerView[] = [];
  /**
   * The previous decision's candidates and their members, by position: the pool offers its members in
   * join order, so the same info object at the same position is the same member, found without a lookup.
   */
  private readonly lastCandidates: WorkerInfo[] = [];
  private readonly lastMembers: MemberScratch[] = [];
  /** `loadEstimate`'s answer (read at once by its callers). */
  private readonly estimate = { activePrefillTokens: 0, activeBlocks: 0 };
  /** `extendWithPredicted`'s answer: total overlap, and how many predicted blocks are in flight there. */
  private extendedOverlap = 0;
  private extendedInFlight = 0;
  /** Scratch for the busy check and the peak bookkeeping. */
  private readonly counts = zeroCounts();
  private readonly busyAnswer = { blocks: 0, requests: 0 };

  constructor(private readonly sources: ViewSources) {}

  /** A worker joined (idempotent: a known worker keeps its report bookkeeping). */
  addWorker(info: WorkerInfo): void {
    if (this.members.has(info.workerId)) return;
    this.members.set(info.workerId, {
      view: emptyView(info),
      ledgerSlot: this.sources.active.slotOf(info.workerId),
      indexSlot: -1,
      reported: false,
      ownAtReport: zeroCounts(),
      ownPeak: zeroCounts(),
    });
  }

  removeWorker(workerId: WorkerId): void {
    this.members.delete(workerId);
    this.lastCandidates.length = 0; // a re-added worker may come back with the same info object
  }

  /**
   * A load report arrived for a member: it was sampled somewhere since the previous one, so the most our
   * own counts reached over that interval (the peak, and now) is what it may already show of ours.
   */
  recordLoad(workerId: WorkerId): void {
    const member = this.members.get(workerId);
    if (member === undefined) return;
    const now = this.sources.active.countsInto(workerId, this.counts);
    maxInto(member.ownAtReport, member.ownPeak, now);
    copyInto(member.ownPeak, now);
    member.reported = true;
  }

  /**
   * A request was just routed to `workerId`: raise the peak of our counts since its last report (since it
   * joined, before the first: that first report may have been sampled while a request of ours was still
   * prefilling there and arrive after it ended, like any later one).
   */
  noteRouted(workerId: WorkerId): void {
    const member = this.members.get(workerId);
    if (member === undefined) return;
    const now = this.sources.active.countsInto(workerId, this.counts);
    maxInto(member.ownPeak, member.ownPeak, now);
  }

  /**
   * The busy check's view of a worker: our in-flight blocks there plus what the last report showed beyond
   * them, and our in-flight requests; undefined while nothing of ours is in flight there. The answer is
   * scratch, read at once by the pool.
   */
  busyEstimate(workerId: WorkerId): { blocks: number; requests: number } | undefined {
    const own = this.sources.active.countsInto(workerId, this.counts);
    if (own.requests === 0) return undefined;
    this.loadEstimate(this.members.get(workerId), own, this.sources.loadOf(workerId));
    this.busyAnswer.blocks = this.estimate.activeBlocks;
    this.busyAnswer.requests = own.requests;
    return this.busyAnswer;
  }

  /**
   * Every candidate's view for `request`, in `candidates` order (`loads`: their last load reports, same
   * order): the reused views in the reused array, valid until the next `build`. Two walks down the
   * prompt's hashes (cached, in flight) serve all workers.
   */
  build(
    request: RouteRequest,
    halves: Uint32Array,
    candidates: readonly WorkerInfo[],
    loads: readonly (LoadMetrics | undefined)[],
  ): readonly WorkerView[] {
    const { indexer, active, predicted } = this.sources;
    const n = request.blockHashes.length;
    indexer.blocks.matchDepthsHalves(halves, n);
    active.matchInFlightHalves(halves, n);
    predicted?.expire();
    const offered = this.offered;
    offered.length = candidates.length;
    for (let i = 0; i < candidates.length; i++) {
      offered[i] = this.fill(this.memberAt(i, candidates[i]!), loads[i], request);
    }
    return offered;
  }

  /**
   * The member of the `i`th candidate: the previous decision's at that position when it is the same info
   * object (no lookup, and the card is not read). Otherwise looked up, and its view takes the card's
   * numbers (a changed card is a new info object).
   */
  private memberAt(i: number, info: WorkerInfo): MemberScratch {
    if (this.lastCandidates[i] === info) return this.lastMembers[i]!;
    let member = this.members.get(info.workerId);
    if (member === undefined) {
      this.addWorker(info);
      member = this.members.get(info.workerId)!;
    }
    member.view.blockSize = info.blockSize;
    member.view.totalBlocks = info.totalBlocks;
    this.lastCandidates[i] = info;
    this.lastMembers[i] = member;
    return member;
  }

  /** A copy of `view` that later decisions do not rewrite (for tools, tests and policies that keep one). */
  static copy(view: WorkerView): WorkerView {
    return { ...view, inFlight: { ...view.inFlight } };
  }

  private fill(member: MemberScratch, load: LoadMetrics | undefined, request: RouteRequest): WorkerView {
    const { indexer, active } = this.sources;
    const view = member.view;
    const workerId = view.workerId;
    const inFlight = view.inFlight;
    if (!active.isSlotOf(member.ledgerSlot, workerId)) member.ledgerSlot = active.slotOf(workerId);
    const inFlightDepth = active.countsAndDepthAt(member.ledgerSlot, inFlight);
    const blocks = indexer.blocks;
    if (!blocks.isSlotOf(member.indexSlot, workerId)) member.indexSlot = blocks.slotOf(workerId);
    const indexSlot = member.indexSlot;
    const indexed = blocks.depthAt(indexSlot);
    this.extendWithPredicted(workerId, request.blockHashes, indexed, inFlightDepth);
    const overlapBlocks = this.extendedOverlap;
    this.loadEstimate(member, inFlight, load);
    // Predicted blocks still being prefilled there are this request's own prefix, computed by another
    // request: waiting for them is no longer than computing them, so they are not a queue in front of it.
    // Counted over blocks of requests in flight there, bounded by their pending prefill (a block whose
    // request is past its prefill is no backlog at all).
    const sharedPrefillTokens = Math.min(inFlight.prefillTokens, this.extendedInFlight * request.blockSize);
    view.load = load;
    view.overlapBlocks = overlapBlocks;
    view.predictedBlocks = overlapBlocks - indexed;
    view.treeBlocks = blocks.blocksAt(indexSlot);
    view.activePrefillTokens = this.estimate.activePrefillTokens - sharedPrefillTokens;
    view.activeBlocks = this.estimate.activeBlocks;
    view.sharedPrefillTokens = sharedPrefillTokens;
    view.newBlocks = active.newBlocks(
      workerId,
      request.blockHashes,
      request.isl,
      request.blockSize,
      inFlightDepth,
    );
    return view;
  }

  /**
   * Prefill backlog and active blocks for the cost, into `estimate`: the router's own counts now, plus what
   * the worker's last report showed beyond the router's own counts while it was sampled (others' load). A
   * report is a sample up to ~100 ms old, and may arrive after a request it counts has ended here: taking
   * max(own, reported), as before, let a report sampled while a request was still prefilling charge that
   * finished request to its worker, and the very next request (the same user's follow-up, sharing its
   * prefix) was sent away from the cache it had just filled.
   */
  private loadEstimate(
    member: MemberScratch | undefined,
    own: InFlightCounts,
    load: LoadMetrics | undefined,
  ): void {
    const estimate = this.estimate;
    if (load === undefined) {
      estimate.activePrefillTokens = own.prefillTokens;
      estimate.activeBlocks = own.blocks;
      return;
    }
    const then = member?.reported ? member.ownAtReport : own;
    estimate.activePrefillTokens =
      own.prefillTokens + Math.max(0, load.activePrefillTokens - then.prefillTokens);
    estimate.activeBlocks = own.blocks + Math.max(0, load.activeDecodeBlocks - then.blocks);
  }

  /**
   * The indexer's match on `workerId` (`indexed` leading blocks), continued through blocks predicted
   * there: held by a request in flight there (the in-flight ledger: the first `inFlightDepth` blocks), or
   * left by one that ended before its events came (`predicted`), or indexed past a predicted one. Sets the
   * total and how many of the predicted blocks belong to requests in flight.
   */
  private extendWithPredicted(
    workerId: WorkerId,
    hashes: readonly SequenceHash[],
    indexed: number,
    inFlightDepth: number,
  ): void {
    this.extendedOverlap = indexed;
    this.extendedInFlight = 0;
    const predicted = this.sources.predicted;
    if (predicted === undefined) return;
    const ended = predicted.hasAny(workerId);
    if (inFlightDepth <= indexed && !ended) return;
    let n = indexed;
    let inFlight = 0;
    while (n < hashes.length) {
      const hash = hashes[n]!;
      if (n < inFlightDepth) inFlight++;
      else if (!(ended && predicted.holds(workerId, hash))) {
        // At n = indexed the indexer's match already ended there: it does not hold this block.
        if (n === indexed || !this.sources.indexer.blocks.holds(workerId, hash)) break;
      }
      n++;
    }
    this.extendedOverlap = n;
    this.extendedInFlight = inFlight;
  }
}

function emptyView(info: WorkerInfo): WorkerView {
  return {
    workerId: info.workerId,
    blockSize: info.blockSize,
    totalBlocks: info.totalBlocks,
    load: undefined,
    overlapBlocks: 0,
    predictedBlocks: 0,
    treeBlocks: 0,
    inFlight: zeroCounts(),
    activePrefillTokens: 0,
    activeBlocks: 0,
    sharedPrefillTokens: 0,
    newBlocks: 0,
  };
}

/** out = the field-wise max of a and b (out may be a or b). */
function maxInto(out: InFlightCounts, a: InFlightCounts, b: InFlightCounts): void {
  out.requests = Math.max(a.requests, b.requests);
  out.prefillTokens = Math.max(a.prefillTokens, b.prefillTokens);
  out.blocks = Math.max(a.blocks, b.blocks);
}

function copyInto(out: InFlightCounts, from: InFlightCounts): void {
  out.requests = from.requests;
  out.prefillTokens = from.prefillTokens;
  out.blocks = from.blocks;
}
