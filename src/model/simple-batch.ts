/**
 * Building ForwardBatches by hand, and running one sequence without a scheduler.
 *
 * The engine's scheduler and block manager normally decide block tables and slots; these helpers are the
 * "loopback interface" for tests, the CLI and labs: `makeBatch` packs sequences whose block tables you
 * already have, and `SequenceSession` owns a private KV cache and feeds one sequence step by step.
 */
import type { ForwardBatch, SequenceSlice } from './forward-batch.ts';
import type { KvCacheTensors } from './forward-batch.ts';
import type { LlamaModel } from './forward.ts';
import { argmax } from './kernels.ts';

export interface SequenceChunk {
  /** New tokens of this sequence. */
  tokens: ArrayLike<number>;
  /** Position of the first new token (= tokens already in the cache). */
  startPos: number;
  /** Physical blocks of the sequence, in logical order; must cover startPos + tokens.length. */
  blockTable: Int32Array;
  /** False for a prompt chunk whose last row needs no logits (a chunked prefill that is not done yet). */
  wantsLogits?: boolean;
}

/** Which rows get logits: each sequence's last new token, or every row (reference tests). */
export type LogitsWanted = 'last' | 'all';

/** Packs sequences end to end into one batch, computing positions and slots from the block tables. */
export function makeBatch(
  chunks: SequenceChunk[],
  blockSize: number,
  logits: LogitsWanted = 'last',
): ForwardBatch {
  const numTokens = chunks.reduce((sum, c) => sum + c.tokens.length, 0);
  const tokenIds = new Int32Array(numTokens);
  const positions = new Int32Array(numTokens);
  const slotMapping = new Int32Array(numTokens);
  const seqs: SequenceSlice[] = [];
  const logitsRows: number[] = [];
  let row = 0;
  for (const chunk of chunks) {
    const contextLen = chunk.startPos + chunk.tokens.length;
    if (chunk.blockTable.length * blockSize < contextLen) {
      throw new RangeError(
        `block table of ${chunk.blockTable.length} blocks cannot hold ${contextLen} tokens`,
      );
    }
    seqs.push({ queryStart: row, queryLen: chunk.tokens.length, contextLen, blockTable: chunk.blockTable });
    for (let i = 0; i < chunk.tokens.length; i++, row++) {
      const pos = chunk.startPos + i;
      tokenIds[row] = chunk.tokens[i]!;
      positions[row] = pos;
      slotMapping[row] = chunk.blockTable[Math.floor(pos / blockSize)]! * blockSize + (pos % blockSize);
      const last = i === chunk.tokens.length - 1;
      if (logits === 'all' || (last && chunk.wantsLogits !== false)) logitsRows.push(row);
    }
  }
  return { tokenIds, positions, slotMapping, seqs, logitsRows: Int32Array.from(logitsRows) };
}

/** A batch holding one sequence's new tokens. */
export function makeSingleSequenceBatch(
  tokens: ArrayLike<number>,
  startPos: number,
  blockTable: Int32Array,
  blockSize: number,
  logits: LogitsWanted = 'last',
): ForwardBatch {
  return makeBatch([{ tokens, startPos, blockTable }], blockSize, logits);
}

export interface SessionOptions {
  /** Most tokens (prompt + generated) the session will hold. */
  maxTokens: number;
  /** Tokens per KV block (default 16). */
  blockSize?: number;
  /** Physical block ids to use, in logical order (default 0, 1, 2, ...). Shuffle it to test paging. */
  blockTable?: Int32Array;
}

/** One sequence with its own KV cache: feed tokens, get logits, no scheduler involved. */
export class SequenceSession {
  readonly kv: KvCacheTensors;
  readonly blockSize: number;
  readonly blockTable: Int32Array;
  /** Tokens already in the cache. */
  length = 0;

  constructor(
    readonly model: LlamaModel,
    options: SessionOptions,
  ) {
    this.blockSize = options.blockSize ?? 16;
    const blocksNeeded = Math.ceil(options.maxTokens / this.blockSize);
    this.blockTable = options.blockTable ?? Int32Array.from({ length: blocksNeeded }, (_, i) => i);
    if (this.blockTable.length < blocksNeeded) {
      throw new RangeError(
        `block table has ${this.blockTable.length} blocks, ${blocksNeeded} needed for ${options.maxTokens} tokens`,
      );
    }
    const numBlocks = this.blockTable.reduce((max, id) => Math.max(max, id), 0) + 1;
    this.kv = model.allocateKvCache(numBlocks, this.blockSize);
  }

  /** Runs the new tokens; returns logits (1, vocab) of the last one, or (tokens, vocab) with 'all'. */
  feed(tokens: ArrayLike<number>, logits: LogitsWanted = 'last'): Float32Array {
    const batch = makeSingleSequenceBatch(tokens, this.length, this.blockTable, this.blockSize, logits);
    const out = this.model.forward(batch, this.kv);
    this.length += tokens.length;
    return out;
  }
}

export interface GreedyOptions extends Partial<SessionOptions> {
  /** Stop after emitting one of these (it is included in the output). Empty: never stop early. */
  eosTokenIds?: number[];
}

/** Greedy decoding: prefill the prompt, then one token per step through the KV cache (argmax, no sampling). */
export function greedyGenerate(
  model: LlamaModel,
  prompt: ArrayLike<number>,
  maxNewTokens: number,
  options: GreedyOptions = {},
): number[] {
  const session = new SequenceSession(model, {
    ...options,
    maxTokens: options.maxTokens ?? prompt.length + maxNewTokens,
  });
  const eos = new Set(options.eosTokenIds ?? []);
  const output: number[] = [];
  let logits = session.feed(prompt);
  while (output.length < maxNewTokens) {
    const next = argmax(logits);
    output.push(next);
    if (eos.has(next) || output.length === maxNewTokens) break;
    logits = session.feed([next]);
  }
  return output;
}
