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
import { rawLogprobs, type SampleResult, sampleToken } from './sampler.ts';
import type { SchedulerOutput } from './scheduler.ts';
import type { Sequence } from './sequence.ts';

/**
 * One forward pass: returns logits of shape (batch.logitsRows.length, vocab), row-major. `onLayerDone(l)`,
 * when given, is called as soon as layer l's K/V of every token in the batch is in the cache.
 */
export type ForwardFn = (
  batch: ForwardBatch,
  kv: KvCacheTensors,
  onLayerDone?: (layer: number) => void,
) => Float32Array;

/** Called between layers of a step's forward pass (layer-wise KV push); must return at once. */
export type LayerDoneListener = (layer: number) => void;

/** Where a request's blocks are (the KV cache manager's block table). */
export type BlockTableLookup = (requestId: RequestId) => readonly BlockId[];

/** What runs a scheduled step: the real model runner, or the mocker's timing model. */
export interface StepExecutor {
  /**
   * One result per `output.scheduled` entry: the sampled token where the entry samples, else undefined.
   * `onLayerDone` (layer-wise KV push): an executor that can, calls it after each layer; one that cannot
   * ignores it, and the pusher sends every layer once the step is done.
   */
  execute(
    output: SchedulerOutput,
    onLayerDone?: LayerDoneListener,
  ): Array<SampleResult | undefined> | Promise<Array<SampleResult | undefined>>;
  /** True when it computes logits for prompt positions on request (`promptLogprobs`); else refused. */
  readonly scoresPrompts?: boolean;
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
      allLogits: scoresPrompt(seq, start),
    };
  });
  return makeBatch(chunks, blockSize);
}

/** Does this step's chunk of `seq` (starting at `start`) need a logits row per token to score the prompt? */
function scoresPrompt(seq: Sequence, start: number): boolean {
  return seq.needsPromptScores && start < seq.numPromptTokens;
}

/**
 * Row i of a chunk starting at `start` predicts the token at start + i + 1: where that is a prompt token
 * not scored yet, record its log-probability (raw logits, like sampled tokens' logprobs) and top n.
 */
function recordPromptScores(seq: Sequence, start: number, rows: Float32Array, vocab: number): void {
  const numRows = rows.length / vocab;
  for (let i = 0; i < numRows; i++) {
    const target = start + i + 1;
    if (target >= seq.numPromptTokens || target !== seq.promptScores.length) continue;
    const tokenId = seq.tokenIds[target]!;
    const row = rows.subarray(i * vocab, (i + 1) * vocab);
    let above = 0;
    const own = row[tokenId]!;
    for (let v = 0; v < vocab; v++) if (row[v]! > own) above++;
    seq.promptScores.push({
      tokenId,
      rank: above + 1,
      ...rawLogprobs(row, tokenId, seq.promptLogprobs ?? 0),
    });
  }
}

export class ModelRunner implements StepExecutor {
  /** It computes real logits, so it can score prompts (`promptLogprobs`). */
  readonly scoresPrompts = true;

  constructor(
    private readonly forward: ForwardFn,
    readonly kvTensors: KvCacheTensors,
    private readonly blockTable: BlockTableLookup,
    readonly vocabSize: number,
  ) {}

  execute(output: SchedulerOutput, onLayerDone?: LayerDoneListener): Array<SampleResult | undefined> {
    // Read before the batch is built: where each chunk starts, and whether it scores the prompt.
    const starts = output.scheduled.map(({ seq }) => seq.numComputedTokens);
    const scoredChunk = output.scheduled.map(({ seq }, i) => scoresPrompt(seq, starts[i]!));
    const batch = buildForwardBatch(output, this.blockTable, this.kvTensors.blockSize);
    const logits = this.forward(batch, this.kvTensors, onLayerDone);
    const vocab = this.vocabSize;
    assert(logits.length === batch.logitsRows.length * vocab, 'forward returned the wrong number of logits');
    let j = 0;
    return output.scheduled.map(({ seq, sample, numNewTokens }, i) => {
      const numRows = scoredChunk[i] ? numNewTokens : sample ? 1 : 0;
      const rows = logits.subarray(j * vocab, (j + numRows) * vocab);
      j += numRows;
      if (scoredChunk[i]) recordPromptScores(seq, starts[i]!, rows, vocab);
      if (!sample) return undefined;
      return sampleSequence(seq, rows.subarray((numRows - 1) * vocab));
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
