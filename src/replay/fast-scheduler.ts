/**
 * The fast simulator's scheduler: the engine's rules (`src/engine/scheduler.ts`) on counts instead of
 * tokens. Each step: running requests first (decodes, then chunked prefills), preempting the newest by
 * recompute when blocks run out; then, if nothing was preempted, waiting requests in order (prefix hits by
 * reference, then a prompt chunk) while the token budget (`maxNumBatchedTokens`) and `maxNumSeqs` allow.
 * It decides WHAT runs in a step; `FastWorker` decides how long the step takes and what it emits.
 */
import type { RequestId } from '../protocols/ids.ts';
import type { BlockHashes, FastBlock, FastKvCache } from './fast-kv-cache.ts';
import type { RequestRecord } from './request-flow.ts';

/** A request on a fast worker: counts instead of token arrays. */
export interface FastSeq {
  requestId: RequestId;
  isl: number;
  osl: number;
  /** Hash of block i (prompt blocks: the router's; blocks holding generated tokens: unique to the request). */
  hashes: BlockHashes;
  blocks: FastBlock[];
  /** blocks[0 .. cachedBlocks) are registered in the prefix cache (or were found there). */
  cachedBlocks: number;
  computed: number;
  /** Tokens its blocks were last sized for (the engine's allocateSlots: computed + this step's new ones). */
  allocTokens: number;
  generated: number;
  /** Prompt tokens found in the cache at first admission; -1 until then. */
  cachedTokens: number;
  running: boolean;
  record: RequestRecord;
}

export interface Scheduled {
  seq: FastSeq;
  numNew: number;
  sample: boolean;
  isPrefill: boolean;
}

export function numTokens(seq: FastSeq): number {
  return seq.isl + seq.generated;
}

export function isDecoding(seq: FastSeq): boolean {
  return seq.computed >= seq.isl && numTokens(seq) - seq.computed === 1;
}

export interface SchedulerLimits {
  /** Tokens per simulated (trace) block. */
  blockSize: number;
  maxNumSeqs: number;
  maxNumBatchedTokens: number;
}

/** One step's batch, and what building it did. */
export interface StepBatch {
  scheduled: Scheduled[];
  /** Requests preempted to find blocks (admission is skipped in such a step). */
  preempted: number;
  /** Entries that were already running (the rest were admitted from the queue this step). */
  fromRunning: number;
}

export class FastScheduler {
  readonly waiting: FastSeq[] = [];
  readonly running: FastSeq[] = [];

  constructor(
    private readonly kv: FastKvCache,
    private readonly s: SchedulerLimits,
  ) {}

  get hasWork(): boolean {
    return this.waiting.length > 0 || this.running.length > 0;
  }

  /** The next step's batch within the token budget (empty when nothing fits). */
  schedule(): StepBatch {
    const budget = { left: this.s.maxNumBatchedTokens };
    const scheduled: Scheduled[] = [];
    const preempted = this.scheduleRunning(scheduled, budget);
    const fromRunning = scheduled.length;
    if (preempted === 0) this.admitWaiting(scheduled, budget);
    return { scheduled, preempted, fromRunning };
  }

  /** A request produced its last token: out of the batch, its blocks back to the pool (deepest first). */
  finish(seq: FastSeq): void {
    this.running.splice(this.running.indexOf(seq), 1);
    seq.running = false;
    this.kv.release(seq.blocks.reverse());
    seq.blocks = [];
  }

  private blocksFor(tokens: number): number {
    return Math.ceil(tokens / this.s.blockSize);
  }

  /** Running requests, decodes first: each gets its next tokens, preempting the newest when blocks run out. */
  private scheduleRunning(out: Scheduled[], budget: { left: number }): number {
    let preempted = 0;
    const order = this.running.slice();
    for (let pass = 0; pass < 2; pass++) {
      for (const seq of order) {
        if (budget.left <= 0) return preempted;
        if (!seq.running || isDecoding(seq) !== (pass === 0)) continue; // decodes first, then prefills
        preempted += this.scheduleOne(seq, out, budget);
      }
    }
    return preempted;
  }

  /** One running request's next tokens; returns how many requests it preempted to find blocks. */
  private scheduleOne(seq: FastSeq, out: Scheduled[], budget: { left: number }): number {
    let preempted = 0;
    const numNew = Math.min(numTokens(seq) - seq.computed, budget.left);
    const need = this.blocksFor(seq.computed + numNew) - seq.blocks.length;
    while (need > this.kv.free) {
      const victim = this.running[this.running.length - 1]!;
      this.preempt(victim, out, budget);
      preempted++;
      if (victim === seq) return preempted;
    }
    if (need > 0) for (const block of this.kv.take(need)) seq.blocks.push(block);
    seq.allocTokens = Math.max(seq.allocTokens, seq.computed + numNew);
    this.push(out, budget, seq, numNew, !isDecoding(seq));
    return preempted;
  }

  /** Waiting requests in order: prefix hits by reference, then a prompt chunk within the budget. */
  private admitWaiting(out: Scheduled[], budget: { left: number }): void {
    const bs = this.s.blockSize;
    while (this.waiting.length > 0 && budget.left > 0 && this.running.length < this.s.maxNumSeqs) {
      const seq = this.waiting[0]!;
      const total = numTokens(seq);
      const hits = this.kv.lookup(seq.hashes, Math.max(0, Math.floor((total - 1) / bs)));
      const numNew = Math.min(total - hits * bs, budget.left);
      const blocks = this.kv.acquire(seq.hashes, hits, this.blocksFor(hits * bs + numNew) - hits);
      if (blocks === null) break; // wait for blocks to free
      this.waiting.shift();
      seq.blocks = blocks;
      seq.cachedBlocks = hits;
      seq.computed = hits * bs;
      seq.allocTokens = hits * bs + numNew;
      if (seq.cachedTokens < 0) seq.cachedTokens = hits * bs;
      seq.running = true;
      this.running.push(seq);
      this.push(out, budget, seq, numNew, true);
    }
  }

  private push(out: Scheduled[], budget: { left: number }, seq: FastSeq, numNew: number, isPrefill: boolean) {
    out.push({ seq, numNew, sample: seq.computed + numNew === numTokens(seq), isPrefill });
    budget.left -= numNew;
  }

  /** Preemption by recompute: blocks back (deepest first), to the head of the queue, computed from 0. */
  private preempt(victim: FastSeq, out: Scheduled[], budget: { left: number }): void {
    this.running.pop();
    victim.running = false;
    this.kv.release(victim.blocks.reverse());
    victim.blocks = [];
    victim.cachedBlocks = 0;
    victim.computed = 0;
    victim.allocTokens = 0;
    this.waiting.unshift(victim);
    const i = out.findIndex((e) => e.seq === victim);
    if (i >= 0) budget.left += out.splice(i, 1)[0]!.numNew;
  }
}
