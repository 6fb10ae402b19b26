/**
 * One simulated worker of the fast simulator (`--sim fast`): the engine's scheduler (`src/engine/
 * scheduler.ts`: decodes first, chunked prefill within `maxNumBatchedTokens`, admission up to `maxNumSeqs`,
 * preemption of the newest request by recompute when blocks run out) and the mocker's timing model, on a
 * `FastKvCache` of trace-sized blocks, with no tokens, no async loop and no per-token work.
 *
 * Time moves in SEGMENTS, not steps. A step that prefills, admits, preempts or allocates a block is a
 * segment of its own. A pure decode step starts a RUN: nothing about the batch changes until a request
 * ends, a block fills (its `stored` event must go out at that step) or a request is routed here, and the
 * step time depends only on KV usage (constant while no block is allocated), so k identical steps are
 * computed at once: k = min over the batch of (tokens left, steps until its last block is full). A request
 * routed here mid-run cuts the run at the first step end at or after its arrival, as the engine would admit
 * it at the next step. Like a network simulator that computes a flow's completion time analytically
 * instead of simulating every packet.
 *
 *   plan(now): schedule one step ──► decode-only and nothing admissible? ──► run of k steps, each stepMs
 *   complete(end): apply the steps (tokens, ITLs, full blocks → stored), report load, then first tokens and
 *                  finished requests (the order the engine's stream consumers see them)
 */
import type { SequenceHash } from '../protocols/ids.ts';
import type { LoadMetrics } from '../protocols/kv-events.ts';
import { decodeMs, prefillMs } from '../mocker/timing-model.ts';
import type { FastKvCache } from './fast-kv-cache.ts';
import { FastScheduler, type FastSeq, isDecoding, numTokens, type Scheduled } from './fast-scheduler.ts';
import type { WorkerRecord } from './sim-workers.ts';

interface Segment {
  start: number;
  end: number;
  /** ends[j]: the end of step j + 1 (steps differ: KV usage grows by engine blocks as a run decodes). */
  ends: number[];
  /**
   * The engine reports its load after every step. Inside a run the load is constant (the blocks its first
   * step allocated), and the router's view of it settles after two reports (it keeps the peak of its own
   * counts since the report before: `Router.updateLoad`), so a run makes the reports after its first two
   * steps and the one at its end. The time of the next mid-run report, or Infinity when none is left.
   */
  reportAt: number;
  /** Mid-run reports made so far (at most MID_RUN_REPORTS). */
  reports: number;
  steps: number;
  scheduled: Scheduled[];
  numPrefillTokens: number;
  numPreempted: number;
}

/** Reports inside a run: the router's view of a constant load settles after two (see Segment.reportAt). */
const MID_RUN_REPORTS = 2;

export interface FastWorkerSettings {
  /** Tokens per simulated (trace) block. */
  blockSize: number;
  /** Tokens per engine block (divides blockSize): KV usage, hence decode time, counts these. */
  engineBlockSize: number;
  /** Engine blocks per worker. */
  numKvBlocks: number;
  maxNumSeqs: number;
  maxNumBatchedTokens: number;
  speedupRatio: number;
}

/** What a completed segment hands back to the run: requests past their first token, requests finished. */
export interface SegmentOutcome {
  firsts: FastSeq[];
  finished: FastSeq[];
}

export type { FastSeq } from './fast-scheduler.ts';

export class FastWorker {
  private readonly scheduler: FastScheduler;
  private segment: Segment | undefined;

  constructor(
    readonly record: WorkerRecord,
    readonly kv: FastKvCache,
    private readonly s: FastWorkerSettings,
    /** Every inter-token gap, pooled, as (value, count) pairs (the run's `itlsMs` and `itlCounts`). */
    private readonly itls: { values: number[]; counts: number[] },
  ) {
    this.scheduler = new FastScheduler(kv, s);
  }

  /** End of the segment in flight; Infinity when idle. */
  get busyUntil(): number {
    return this.segment?.end ?? Number.POSITIVE_INFINITY;
  }

  /** When this worker next needs the run's attention: its mid-run load report, else its segment's end. */
  get nextEventAt(): number {
    const seg = this.segment;
    return seg === undefined ? Number.POSITIVE_INFINITY : Math.min(seg.reportAt, seg.end);
  }

  /** True when the next event is the mid-run load report (then call `reported`), not the segment's end. */
  get reportDue(): boolean {
    const seg = this.segment;
    return seg !== undefined && seg.reportAt < seg.end;
  }

  /** The mid-run load report was made: schedule the next one, if any. */
  reported(): void {
    const seg = this.segment!;
    seg.reports++;
    const next = seg.ends[seg.reports]!;
    seg.reportAt =
      seg.reports < MID_RUN_REPORTS && seg.reports + 1 < seg.steps ? next : Number.POSITIVE_INFINITY;
  }

  get idle(): boolean {
    return this.segment === undefined;
  }

  get hasWork(): boolean {
    return this.scheduler.hasWork;
  }

  /** A request routed here at `now`: queued; a run in flight stops at the first step end ≥ now. */
  add(seq: FastSeq, now: number): void {
    this.scheduler.waiting.push(seq);
    const seg = this.segment;
    if (seg === undefined || seg.steps === 1 || now >= seg.end) return;
    let steps = 1;
    while (seg.ends[steps - 1]! < now) steps++;
    if (steps < seg.steps) {
      seg.steps = steps;
      seg.end = seg.ends[steps - 1]!;
      if (seg.reportAt >= seg.end) seg.reportAt = Number.POSITIVE_INFINITY; // the end reports
    }
  }

  /** Schedule the next segment at `now` (nothing when there is no work or nothing fits). */
  plan(now: number): void {
    this.segment = undefined;
    if (!this.hasWork) return;
    const { scheduled, preempted, fromRunning } = this.scheduler.schedule();
    if (scheduled.length === 0) return; // parked: nothing fits (a prompt larger than the cache)
    let numPrefillTokens = 0;
    let chargedPrefill = 0;
    let decodeSeqs = 0;
    for (const e of scheduled) {
      // Its first step: the time since it reached this worker (at routing) was its queue time.
      if (e.isPrefill && Number.isNaN(e.seq.record.queueMs))
        e.seq.record.queueMs = now - e.seq.record.arrivalMs;
      if (e.isPrefill) numPrefillTokens += e.numNew;
      if (!e.isPrefill || (e.numNew === 1 && e.sample)) decodeSeqs++;
      else chargedPrefill += e.numNew;
    }
    const prefill = chargedPrefill > 0 ? prefillMs(chargedPrefill) : 0;
    const pureDecode =
      preempted === 0 &&
      scheduled.length === fromRunning &&
      numPrefillTokens === 0 &&
      scheduled.length === this.scheduler.running.length;
    const steps = pureDecode ? this.runLength(scheduled) : 1;
    const ends: number[] = new Array(steps);
    // The executor reads KV usage after the step's allocation: run step j holds j more tokens per request,
    // so a request's last trace block fills one more engine block whenever its length passes a multiple of
    // the engine block size. Requests bucketed by that phase give each step's increment in O(1).
    const e = this.s.engineBlockSize;
    const phases = steps > 1 ? this.lastBlockPhases() : undefined;
    let inUse = this.engineBlocksInUse();
    let at = now;
    for (let j = 0; j < steps; j++) {
      if (j > 0) inUse += phases![(((1 - j) % e) + e) % e]!;
      at += (prefill + (decodeSeqs > 0 ? decodeMs(inUse / this.s.numKvBlocks) : 0)) / this.s.speedupRatio;
      ends[j] = at;
    }
    this.segment = {
      start: now,
      end: at,
      ends,
      reportAt: steps > 1 ? ends[0]! : Number.POSITIVE_INFINITY,
      reports: 0,
      steps,
      scheduled,
      numPrefillTokens,
      numPreempted: preempted,
    };
  }

  /** Apply the segment in flight (it ends now). */
  complete(): SegmentOutcome {
    const seg = this.segment!;
    this.segment = undefined;
    const outcome: SegmentOutcome = { firsts: [], finished: [] };
    let stepGaps = 0; // requests whose previous token ended the previous segment (first gap: step 1)
    for (const e of seg.scheduled) {
      const seq = e.seq;
      if (!seq.running) continue; // preempted by a later entry of the same step
      seq.computed += e.numNew + (seg.steps - 1);
      this.cacheFullBlocks(seq);
      if (!e.sample) continue;
      stepGaps += this.emitTokens(seq, seg, outcome);
      if (seq.generated === seq.osl) {
        this.scheduler.finish(seq);
        outcome.finished.push(seq);
      }
    }
    this.recordGaps(seg, stepGaps);
    this.record.steps += seg.steps;
    this.record.preemptions += seg.numPreempted;
    this.record.prefillTokens += seg.numPrefillTokens;
    return outcome;
  }

  /** The worker's load report, as `EngineCore.loadMetrics` builds it. */
  loadMetrics(workerId: LoadMetrics['workerId']): LoadMetrics {
    let activeDecodeBlocks = 0;
    let activePrefillTokens = 0;
    for (const seq of this.scheduler.running) {
      if (isDecoding(seq)) activeDecodeBlocks += seq.blocks.length;
      else activePrefillTokens += numTokens(seq) - seq.computed;
    }
    for (const seq of this.scheduler.waiting) activePrefillTokens += numTokens(seq) - seq.computed;
    return {
      workerId,
      activeDecodeBlocks,
      activePrefillTokens,
      kvUsedBlocks: this.kv.used,
      kvTotalBlocks: this.kv.capacity,
      numWaiting: this.scheduler.waiting.length,
      numRunning: this.scheduler.running.length,
      gpuCacheUsagePerc: Math.min(1, this.kv.used / this.kv.capacity),
    };
  }

  /** Identical decode steps from now: until a request ends or some request's last block is full. */
  private runLength(scheduled: readonly Scheduled[]): number {
    let k = Number.POSITIVE_INFINITY;
    for (const { seq } of scheduled) {
      const untilDone = seq.osl - seq.generated;
      const untilFull = seq.blocks.length * this.s.blockSize - seq.computed;
      k = Math.min(k, untilDone, untilFull);
    }
    return Math.max(1, k);
  }

  /**
   * The inter-token gaps of a segment, as (value, count): step 1's for the `continuing` requests (their last
   * token ended the previous segment), then each later step's for every request of the run (all decode).
   */
  private recordGaps(seg: Segment, continuing: number): void {
    const push = (gap: number, count: number) => {
      const last = this.itls.values.length - 1;
      if (last >= 0 && this.itls.values[last] === gap) this.itls.counts[last]! += count;
      else {
        this.itls.values.push(gap);
        this.itls.counts.push(count);
      }
    };
    if (continuing > 0) push(seg.ends[0]! - seg.start, continuing);
    for (let j = 1; j < seg.steps; j++) push(seg.ends[j]! - seg.ends[j - 1]!, seg.scheduled.length);
  }

  /**
   * Engine blocks in use (the exact engine's `kv.usage()` numerator): shared and full trace blocks count
   * whole, each request's last trace block only up to the engine blocks its allocated tokens fill.
   */
  private engineBlocksInUse(): number {
    const per = this.s.blockSize / this.s.engineBlockSize;
    let n = this.kv.used * per;
    for (const seq of this.scheduler.running) {
      if (seq.blocks.length === 0) continue;
      n -= per - Math.ceil(this.lastBlockTokens(seq) / this.s.engineBlockSize);
    }
    return n;
  }

  /** Running requests counted by (tokens in their last trace block) mod the engine block size. */
  private lastBlockPhases(): number[] {
    const phases = new Array<number>(this.s.engineBlockSize).fill(0);
    for (const seq of this.scheduler.running) {
      if (seq.blocks.length > 0) phases[this.lastBlockTokens(seq) % this.s.engineBlockSize]!++;
    }
    return phases;
  }

  private lastBlockTokens(seq: FastSeq): number {
    return seq.allocTokens - (seq.blocks.length - 1) * this.s.blockSize;
  }

  /** The segment's tokens for `seq`; returns 1 when its first gap is step 1's (counted by the caller). */
  private emitTokens(seq: FastSeq, seg: Segment, outcome: SegmentOutcome): number {
    const rec = seq.record;
    let stepGaps = 0;
    if (rec.outputTokens === 0) {
      rec.firstTokenMs = seg.ends[0]!;
      seq.cachedTokens = Math.max(0, seq.cachedTokens);
      rec.cachedTokens = seq.cachedTokens;
      outcome.firsts.push(seq);
    } else if (rec.finishMs === seg.start) {
      stepGaps++; // its last token ended the previous step, which this one follows at once
    } else {
      this.itls.values.push(seg.ends[0]! - rec.finishMs);
      this.itls.counts.push(1);
    }
    rec.finishMs = seg.end;
    rec.outputTokens += seg.steps;
    seq.generated += seg.steps;
    return stepGaps;
  }

  /** Newly full blocks enter the prefix cache (the engine's `cacheBlocks`). */
  private cacheFullBlocks(seq: FastSeq): void {
    const numFull = Math.min(Math.floor(seq.computed / this.s.blockSize), seq.blocks.length);
    if (numFull <= seq.cachedBlocks) return;
    const first = seq.cachedBlocks;
    const hashes: SequenceHash[] = [];
    const wires: string[] = [];
    for (let i = first; i < numFull; i++) {
      hashes.push(seq.hashes.at(i));
      wires.push(seq.hashes.wireAt(i));
    }
    const parent = first > 0 ? seq.hashes.wireAt(first - 1) : null;
    this.kv.cacheFull(parent, seq.blocks.slice(first, numFull), hashes, wires);
    seq.cachedBlocks = numFull;
  }
}
