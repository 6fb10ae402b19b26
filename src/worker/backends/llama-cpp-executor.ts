/**
 * The llama.cpp step executor: our scheduler decides each step's batch (continuous batching, chunked
 * prefill, preemption, prefix-cache accounting), llama.cpp computes it. Each running request is bound to
 * one of the context's sequences (llama.cpp's KV slots); all of a step's evaluations are issued in the same
 * tick, so node-llama-cpp packs them into one llama_decode batch.
 *
 * Like a storage driver under a block layer: the block layer (our KvCacheManager) owns the allocation map
 * and publishes it (KV events), the device (llama.cpp) holds the data. A freed slot keeps its tokens, and a
 * new request takes the free slot sharing its longest prefix, so llama.cpp skips recomputing that prefix —
 * the device's own cache, which our map only approximates (engines.md, "KV events").
 */
import type {
  SampleResult,
  ScheduledSequence,
  SchedulerOutput,
  Sequence,
  StepExecutor,
} from '../../engine/index.ts';
import type { RequestId } from '../../protocols/ids.ts';
import type {
  LlamaContextSequence,
  LlamaEvaluateItem,
  LlamaSamplingOptions,
  LlamaToken,
} from './llama-cpp-module.ts';

interface Binding {
  seq: Sequence;
  slot: LlamaContextSequence;
}

export class LlamaCppExecutor implements StepExecutor {
  private readonly free: LlamaContextSequence[];
  private readonly bound = new Map<RequestId, Binding>();

  /** `slots`: the context's sequences, at least the scheduler's maxNumSeqs of them. */
  constructor(slots: LlamaContextSequence[]) {
    this.free = [...slots];
  }

  async execute(output: SchedulerOutput): Promise<Array<SampleResult | undefined>> {
    this.unbindStopped();
    // Bind every scheduled sequence and trim its slot first, then issue every evaluation in one tick:
    // node-llama-cpp packs evaluations queued together into one batch.
    const work = output.scheduled.map((s) => ({ s, slot: this.slotFor(s.seq) }));
    const keeps = await Promise.all(work.map(({ s, slot }) => trimSlot(slot, s)));
    return Promise.all(work.map(({ s, slot }, i) => evaluateChunk(slot, s, keeps[i]!)));
  }

  /** Sequences bound to a slot (tests, metrics). */
  get numBound(): number {
    return this.bound.size;
  }

  /** Finished, aborted and preempted sequences give their slot back; it keeps its tokens for reuse. */
  private unbindStopped(): void {
    for (const [id, { seq, slot }] of this.bound) {
      if (seq.status === 'running') continue;
      this.bound.delete(id);
      this.free.push(slot);
    }
  }

  private slotFor(seq: Sequence): LlamaContextSequence {
    const bound = this.bound.get(seq.requestId);
    if (bound) return bound.slot;
    let best = 0;
    for (let i = 1; i < this.free.length; i++) {
      if (
        sharedPrefix(this.free[i]!.contextTokens, seq.tokenIds) >
        sharedPrefix(this.free[best]!.contextTokens, seq.tokenIds)
      )
        best = i;
    }
    const slot = this.free.splice(best, 1)[0];
    if (slot === undefined) {
      // The scheduler runs at most maxNumSeqs sequences and the context has that many: a bug if reached.
      throw new Error('llama.cpp engine: more running sequences than context sequences');
    }
    this.bound.set(seq.requestId, { seq, slot });
    return slot;
  }
}

/**
 * Keep what `slot` already holds of the chunk's tokens and erase the rest (another request's tail, or
 * tokens of a preempted run). A sampling chunk always re-evaluates its last token, since the logits come
 * from evaluating it. Returns how many tokens the slot keeps.
 */
async function trimSlot(
  slot: LlamaContextSequence,
  { seq, numNewTokens, sample }: ScheduledSequence,
): Promise<number> {
  const end = seq.numComputedTokens + numNewTokens;
  const keep = Math.min(sharedPrefix(slot.contextTokens, seq.tokenIds.slice(0, end)), sample ? end - 1 : end);
  if (slot.nextTokenIndex > keep)
    await slot.eraseContextTokenRanges([{ start: keep, end: slot.nextTokenIndex }]);
  return keep;
}

/** Evaluate the chunk's tokens past `keep`, and sample the next token when the chunk ends the sequence. */
async function evaluateChunk(
  slot: LlamaContextSequence,
  { seq, numNewTokens, sample }: ScheduledSequence,
  keep: number,
): Promise<SampleResult | undefined> {
  const end = seq.numComputedTokens + numNewTokens;
  const tokens = seq.tokenIds.slice(0, end) as LlamaToken[];
  const items: LlamaEvaluateItem[] = tokens.slice(keep);
  if (!sample) {
    if (items.length > 0) await slot.controlledEvaluate(items);
    return undefined;
  }
  const last = items.length - 1;
  items[last] = [tokens[end - 1]!, { generateNext: { token: true, options: samplingOptions(seq) } }];
  const outputs = await slot.controlledEvaluate(items);
  const tokenId = outputs[last]?.next.token;
  if (tokenId === undefined || tokenId === null) {
    throw new Error(`llama.cpp generated no token for request ${seq.requestId}`);
  }
  return { tokenId };
}

/** Our sampling parameters in llama.cpp's terms (temperature 0 = greedy argmax in both). */
export function samplingOptions(seq: Sequence): LlamaSamplingOptions {
  const { temperature, topK, topP, minP, seed } = seq.sampling;
  const options: LlamaSamplingOptions = { temperature, topP, minP };
  if (topK > 0) options.topK = topK;
  // llama.cpp reseeds its sampler per call: step the seed with the position so draws do not repeat.
  if (seed !== undefined) options.seed = seed + seq.numOutputTokens;
  return options;
}

function sharedPrefix(a: readonly number[], b: readonly number[]): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a[i] === b[i]) i++;
  return i;
}
