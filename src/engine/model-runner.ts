/**
 * The model runner turns a scheduler decision into one forward pass and samples the results: the only part
 * of the engine that touches tensors. Like a NIC driver that packs queued packets into one DMA descriptor
 * ring: the scheduler said which sequences and how many tokens; the runner lays them end to end
 * (`ForwardBatch`), computes where each token's K/V goes (slot mapping from the block table), fires one
 * forward call, and hands each sampling sequence its row of logits.
 */
import { type ForwardBatch, type KvCacheTensors, makeBatch } from '../model/index.ts';
import type { BlockId } from '../protocols/ids.ts';
import type { RequestId } from '../protocols/ids.ts';
import { assert } from '../util/errors.ts';
import { type SampleResult, sampleToken } from './sampler.ts';
import type { SchedulerOutput } from './scheduler.ts';
import type { Sequence } from './sequence.ts';

/** One forward pass: returns logits of shape (batch.logitsRows.length, vocab), row-major. */
export type ForwardFn = (batch: ForwardBatch, kv: KvCacheTensors) => Float32Array;

/** Where a request's blocks are (the KV cache manager's block table). */
export type BlockTableLookup = (requestId: RequestId) => readonly BlockId[];

/** What runs a scheduled step: the real model runner, or the mocker's timing model. */
export interface StepExecutor {
  /** One result per `output.scheduled` entry: the sampled token where the entry samples, else undefined. */
  execute(
    output: SchedulerOutput,
  ): Array<SampleResult | undefined> | Promise<Array<SampleResult | undefined>>;
}

/** Flatten a scheduler step into the forward pass's packet format (rows laid end to end, slots from block tables). */
export function buildForwardBatch(
  output: SchedulerOutput,
  blockTable: BlockTableLookup,
  blockSize: number,
): ForwardBatch {
  const chunks = output.scheduled.map(({ seq, numNewTokens, sample }) => {
    const start = seq.numComputedTokens;
    return {
      tokens: seq.tokenIds.slice(start, start + numNewTokens),
      startPos: start,
      blockTable: Int32Array.from(blockTable(seq.requestId)),
      wantsLogits: sample,
    };
  });
  return makeBatch(chunks, blockSize);
}

export class ModelRunner implements StepExecutor {
  constructor(
    private readonly forward: ForwardFn,
    readonly kvTensors: KvCacheTensors,
    private readonly blockTable: BlockTableLookup,
    readonly vocabSize: number,
  ) {}

  execute(output: SchedulerOutput): Array<SampleResult | undefined> {
    const batch = buildForwardBatch(output, this.blockTable, this.kvTensors.blockSize);
    const logits = this.forward(batch, this.kvTensors);
    const vocab = this.vocabSize;
    assert(logits.length === batch.logitsRows.length * vocab, 'forward returned the wrong number of logits');
    let j = 0;
    return output.scheduled.map(({ seq, sample }) => {
      if (!sample) return undefined;
      const row = logits.subarray(j * vocab, (j + 1) * vocab);
      j++;
      return sampleSequence(seq, row);
    });
  }
}

/** Sample one sequence's next token from its logits row. */
export function sampleSequence(seq: Sequence, logits: Float32Array): SampleResult {
  const p = seq.sampling;
  const needsHistory = p.repetitionPenalty !== 1 || p.presencePenalty !== 0 || p.frequencyPenalty !== 0;
  return sampleToken({
    logits,
    promptTokenIds: needsHistory ? seq.promptTokenIds : [],
    outputTokenIds: needsHistory ? seq.outputTokenIds : [],
    params: p,
    rng: seq.rng,
    numLogprobs: seq.logprobs,
    mask: seq.tokenMask,
  });
}
