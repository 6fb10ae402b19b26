/**
 * The scheduler decides, every step, which sequences run and how many of their tokens go into the next
 * forward pass. Like a packet scheduler with a per-tick byte budget: `maxNumBatchedTokens` is the budget,
 * `maxNumSeqs` the number of flows, and KV blocks the buffer memory it must not overcommit.
 *
 * One step (vLLM v1 style, no separate prefill/decode phases):
 *   1. running sequences, decodes first (`seq.isDecoding`): each gets its uncomputed tokens (1 when decoding,
 *      a chunk of prompt when still prefilling) within the budget. When the KV pool is out of blocks, the
 *      NEWEST running sequence is preempted: its blocks are freed and it goes back to the head of `waiting`,
 *      to recompute prompt + generated tokens later (preemption by recompute).
 *   2. if nothing was preempted, admit waiting sequences in order: look up their prefix in the cache
 *      (numCachedTokens) under the block hashes the sequence keeps (hashed once however long it waits),
 *      then give them a prompt chunk within the budget (chunked prefill).
 *
 * Disaggregated serving (remote-prefill.ts): a waiting sequence with `remotePrefill` is admitted with
 * blocks for its first P−1 prompt tokens and parked in `loading` (vLLM's WAITING_FOR_REMOTE_KVS); the
 * step's `remote` list tells the engine which pulls to start (layer-wise, `awaitPush`: the same admission,
 * but the prefill worker pushes into the blocks). When a pull settles the engine calls
 * `finishLoad` (→ running, one prompt token left) or `failLoad` (→ head of waiting, prefilled locally).
 * A finished `holdKvOnFinish` sequence keeps its blocks: the engine's hold ledger frees them later.
 *
 * Synchronous and free of I/O: the engine calls `schedule()`, runs the model, then `update()`.
 */
import type { KvCacheManager } from '../kv/index.ts';
import type { BlockId, RequestId } from '../protocols/ids.ts';
import type { KvTransferParams } from '../protocols/kv-transfer.ts';
import { assert } from '../util/errors.ts';
import type { KvLoadPlan, KvReceivePlan } from './kv-connector.ts';
import { remoteSpan } from './remote-prefill.ts';
import type { Sequence } from './sequence.ts';

export interface SchedulerOptions {
  /** Most sequences running at once (vLLM's max_num_seqs). */
  maxNumSeqs: number;
  /** Most new tokens in one forward pass (vLLM's max_num_batched_tokens). */
  maxNumBatchedTokens: number;
}

/** The KV cache manager calls the scheduler needs. */
export type SchedulerKvCache = Pick<
  KvCacheManager,
  'getComputedBlocks' | 'allocateSlots' | 'cacheBlocks' | 'free' | 'getBlockTable' | 'blockSize'
>;

/**
 * What admission decided for a decode-side (`remotePrefill`) sequence, for the engine to act on:
 * `load`: the sequence is `loading`, start the pull; `release_only`: nothing to pull (local prefix hits
 * cover [0, P−1)), only tell the prefill worker to free its blocks; `rejected`: the hand-off does not fit
 * this prompt, the sequence prefills locally.
 */
export type RemoteAdmission =
  | { kind: 'load'; seq: Sequence; plan: KvLoadPlan }
  | { kind: 'release_only'; seq: Sequence; params: KvTransferParams }
  | { kind: 'rejected'; seq: Sequence; error: string }
  | { kind: 'receive'; seq: Sequence; plan: KvReceivePlan }
  | { kind: 'receive_none'; seq: Sequence; plan: KvReceivePlan };

export interface ScheduledSequence {
  seq: Sequence;
  /** Tokens of this sequence computed in this step, starting at seq.numComputedTokens. */
  numNewTokens: number;
  /** This chunk reaches the last known token, so the step produces the sequence's next token. */
  sample: boolean;
  /** A prompt (or recompute) chunk rather than a one-token decode: `!seq.isDecoding` when scheduled. */
  isPrefill: boolean;
}

export interface SchedulerOutput {
  scheduled: ScheduledSequence[];
  numBatchedTokens: number;
  /** New (not prefix-cached) tokens in prefill chunks: the mocker's "T". */
  numPrefillTokens: number;
  /** Sequences preempted while building this step. */
  preempted: Sequence[];
  /** Decode-side admissions of this step (remote KV pulls to start). */
  remote: RemoteAdmission[];
}

export class Scheduler {
  /** Admission queue, head first. Preempted sequences go back to the head. */
  readonly waiting: Sequence[] = [];
  /** Sequences holding KV blocks, oldest admission first. */
  readonly running: Sequence[] = [];
  /** Admitted sequences whose prompt KV is being pulled from a prefill worker (they hold blocks). */
  readonly loading: Sequence[] = [];

  constructor(
    private readonly kv: SchedulerKvCache,
    readonly options: SchedulerOptions,
  ) {
    assert(options.maxNumSeqs > 0 && options.maxNumBatchedTokens > 0, 'scheduler limits must be positive');
  }

  add(seq: Sequence): void {
    seq.status = 'waiting';
    this.waiting.push(seq);
  }

  /**
   * Remove a request wherever it is and free its blocks at once. Returns it, or undefined if unknown.
   * A `loading` sequence's blocks are NOT freed: its pull may still write into them, so the engine frees
   * them once the pull has settled.
   */
  abort(requestId: RequestId): Sequence | undefined {
    for (const queue of [this.running, this.waiting, this.loading]) {
      const i = queue.findIndex((s) => s.requestId === requestId);
      if (i < 0) continue;
      const [seq] = queue.splice(i, 1);
      if (queue !== this.loading) this.kv.free(requestId);
      seq!.finish('abort');
      return seq;
    }
    return undefined;
  }

  /** Work the step loop can do now (`loading` sequences wait for their pull, not for a step). */
  hasUnfinished(): boolean {
    return this.waiting.length > 0 || this.running.length > 0;
  }

  /**
   * The pull delivered KV for prompt tokens [0, P−1): the full blocks enter the prefix cache (`stored`
   * events), and the sequence runs with one prompt token left, which the next step computes and samples.
   */
  finishLoad(seq: Sequence): void {
    this.removeLoading(seq);
    const numTokens = seq.numPromptTokens - 1;
    seq.numComputedTokens = numTokens;
    this.kv.cacheBlocks(seq.requestId, seq, numTokens);
    seq.numCachedTokens = numTokens;
    seq.status = 'running';
    this.running.push(seq);
  }

  /** The pull failed: drop its blocks (contents undefined) and prefill locally, first in line. */
  failLoad(seq: Sequence): void {
    this.removeLoading(seq);
    this.kv.free(seq.requestId);
    seq.numComputedTokens = 0;
    seq.status = 'waiting';
    this.waiting.unshift(seq);
  }

  schedule(): SchedulerOutput {
    const out: SchedulerOutput = {
      scheduled: [],
      numBatchedTokens: 0,
      numPrefillTokens: 0,
      preempted: [],
      remote: [],
    };
    const budget = { left: this.options.maxNumBatchedTokens };
    this.scheduleRunning(out, budget);
    if (out.preempted.length === 0) this.admitWaiting(out, budget);
    out.numBatchedTokens = this.options.maxNumBatchedTokens - budget.left;
    for (const s of out.scheduled) if (s.isPrefill) out.numPrefillTokens += s.numNewTokens;
    return out;
  }

  private scheduleRunning(out: SchedulerOutput, budget: { left: number }): void {
    const decodes = this.running.filter((s) => s.isDecoding);
    const prefills = this.running.filter((s) => !s.isDecoding);
    for (const seq of [...decodes, ...prefills]) {
      if (budget.left <= 0) break;
      if (seq.status !== 'running') continue; // preempted earlier in this step
      const numNew = Math.min(seq.numUncomputedTokens, budget.left);
      while (this.kv.allocateSlots(seq.requestId, seq.numComputedTokens + numNew) === null) {
        const victim = this.running[this.running.length - 1]!;
        this.preempt(victim, out, budget);
        if (victim === seq) break;
      }
      if (seq.status !== 'running') continue;
      this.pushScheduled(out, budget, seq, numNew);
    }
  }

  private admitWaiting(out: SchedulerOutput, budget: { left: number }): void {
    while (this.waiting.length > 0 && budget.left > 0 && this.numAdmitted() < this.options.maxNumSeqs) {
      const seq = this.waiting[0]!;
      // A prompt to score is computed whole: a cached block holds K/V, not the logits of its positions.
      const hit = seq.needsPromptScores
        ? { blocks: [], numComputedTokens: 0 }
        : this.kv.getComputedBlocks(seq);
      if (seq.remotePrefill !== undefined || seq.awaitPush !== undefined) {
        const remote =
          seq.awaitPush !== undefined ? this.admitPush(seq, hit, out) : this.admitRemote(seq, hit, out);
        if (remote === 'no_room') break; // wait for blocks to free
        if (remote === 'loading') continue;
      }
      const numNew = Math.min(seq.numTokens - hit.numComputedTokens, budget.left);
      const total = hit.numComputedTokens + numNew;
      if (this.kv.allocateSlots(seq.requestId, total, hit.blocks) === null) break; // wait for blocks to free
      this.waiting.shift();
      seq.numComputedTokens = hit.numComputedTokens;
      if (seq.numCachedTokens < 0) seq.numCachedTokens = hit.numComputedTokens;
      seq.status = 'running';
      this.running.push(seq);
      this.pushScheduled(out, budget, seq, numNew);
    }
  }

  /**
   * Admit a decode-side sequence: blocks for its first P−1 prompt tokens (prefix hits by reference), and a
   * pull of the ones the hits lack. Returns 'local' when nothing is pulled (it is then admitted like any
   * sequence), 'no_room' when the blocks are not free yet (nothing changed).
   */
  private admitRemote(
    seq: Sequence,
    hit: { blocks: BlockId[]; numComputedTokens: number },
    out: SchedulerOutput,
  ): 'loading' | 'local' | 'no_room' {
    const params = seq.remotePrefill!;
    const span = remoteSpan(seq.numPromptTokens, hit.blocks.length, this.kv.blockSize, params);
    if ('error' in span) {
      seq.remotePrefill = undefined;
      out.remote.push({ kind: 'rejected', seq, error: span.error });
      return 'local';
    }
    if (span.first === span.end) {
      seq.remotePrefill = undefined;
      out.remote.push({ kind: 'release_only', seq, params });
      return 'local';
    }
    if (this.kv.allocateSlots(seq.requestId, seq.numPromptTokens - 1, hit.blocks) === null) return 'no_room';
    seq.remotePrefill = undefined; // one pull per request: a preempted sequence recomputes locally
    this.waiting.shift();
    seq.numComputedTokens = hit.numComputedTokens;
    seq.status = 'loading';
    this.loading.push(seq);
    const table = this.kv.getBlockTable(seq.requestId);
    const plan: KvLoadPlan = {
      requestId: seq.requestId,
      params,
      localBlockIds: table.slice(span.first, span.end),
      remoteBlockIds: params.remoteBlockIds.slice(span.first, span.end),
      numTokens: span.numTokens,
    };
    out.remote.push({ kind: 'load', seq, plan });
    return 'loading';
  }

  /**
   * Admit a layer-wise decode-side sequence: blocks for its first P−1 prompt tokens (prefix hits by
   * reference), parked in `loading` while the prefill worker pushes the ones the hits lack. 'local' when
   * nothing is needed (the prefill worker is told so, and the sequence is admitted like any other).
   */
  private admitPush(
    seq: Sequence,
    hit: { blocks: BlockId[]; numComputedTokens: number },
    out: SchedulerOutput,
  ): 'loading' | 'local' | 'no_room' {
    const source = seq.awaitPush!;
    const bs = this.kv.blockSize;
    const numNeeded = seq.numPromptTokens - 1;
    const end = Math.ceil(numNeeded / bs);
    const first = Math.min(hit.blocks.length, end);
    const plan: KvReceivePlan = {
      requestId: seq.requestId,
      remoteAgent: source.remoteAgent,
      firstBlock: first,
      localBlockIds: [],
      numCachedTokens: first * bs,
      numTokens: Math.max(0, numNeeded - first * bs),
    };
    if (first === end) {
      seq.awaitPush = undefined;
      out.remote.push({ kind: 'receive_none', seq, plan });
      return 'local';
    }
    if (this.kv.allocateSlots(seq.requestId, numNeeded, hit.blocks) === null) return 'no_room';
    seq.awaitPush = undefined; // one receive per request: a preempted sequence recomputes locally
    this.waiting.shift();
    seq.numComputedTokens = hit.numComputedTokens;
    seq.status = 'loading';
    this.loading.push(seq);
    plan.localBlockIds = this.kv.getBlockTable(seq.requestId).slice(first, end);
    out.remote.push({ kind: 'receive', seq, plan });
    return 'loading';
  }

  /** Sequences holding blocks and a seat in the batch: running, plus loading (they run next). */
  private numAdmitted(): number {
    return this.running.length + this.loading.length;
  }

  private removeLoading(seq: Sequence): void {
    const i = this.loading.indexOf(seq);
    assert(i >= 0, `${seq.requestId} is not loading remote KV`);
    this.loading.splice(i, 1);
  }

  private pushScheduled(out: SchedulerOutput, budget: { left: number }, seq: Sequence, numNew: number): void {
    const sample = seq.numComputedTokens + numNew === seq.numTokens;
    out.scheduled.push({ seq, numNewTokens: numNew, sample, isPrefill: !seq.isDecoding });
    budget.left -= numNew;
  }

  private preempt(victim: Sequence, out: SchedulerOutput, budget: { left: number }): void {
    this.running.pop();
    this.kv.free(victim.requestId);
    victim.preempt();
    this.waiting.unshift(victim);
    out.preempted.push(victim);
    const i = out.scheduled.findIndex((s) => s.seq === victim);
    if (i >= 0) budget.left += out.scheduled.splice(i, 1)[0]!.numNewTokens; // it was already given a share
  }

  /**
   * Apply a finished step: advance computed counts, register newly full blocks in the prefix cache, append
   * sampled tokens (`sampledTokenIds[i]` for `output.scheduled[i]` when it samples) and free finished
   * sequences (except `holdKvOnFinish` ones: the caller must hold or free their blocks). Entries aborted while the step ran are skipped. Returns the sequences that finished.
   */
  update(output: SchedulerOutput, sampledTokenIds: ReadonlyArray<number | undefined>): Sequence[] {
    const finished: Sequence[] = [];
    output.scheduled.forEach((entry, i) => {
      const seq = entry.seq;
      if (seq.status !== 'running') return;
      seq.numComputedTokens += entry.numNewTokens;
      this.kv.cacheBlocks(seq.requestId, seq, seq.numComputedTokens);
      if (!entry.sample) return;
      const tokenId = sampledTokenIds[i];
      assert(tokenId !== undefined, `no sampled token for ${seq.requestId}`);
      if (seq.appendToken(tokenId) !== undefined) {
        this.running.splice(this.running.indexOf(seq), 1);
        if (!seq.holdKvOnFinish) this.kv.free(seq.requestId); // else held for the decode worker
        finished.push(seq);
      }
    });
    return finished;
  }
}
