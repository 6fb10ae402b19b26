/**
 * Running one sequence without a scheduler: the "loopback interface" for tests, the CLI, benchmarks and
 * labs. `SequenceSession` owns a private KV cache and block table and feeds one sequence step by step;
 * `greedyGenerate` decodes with argmax on top of it. The engine never uses these: its scheduler and KV
 * manager decide block tables, and its model runner packs batches with `makeBatch` (batch-builder.ts).
 */
import { type LogitsWanted, makeBatch } from './batch-builder.ts';
import type { ForwardBatch, KvCacheTensors } from './forward-batch.ts';
import type { LlamaModel } from './forward.ts';

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

  /** Runs the new tokens; returns the greedy next token (the argmax of the last one's logits, no copy). */
  feedGreedy(tokens: ArrayLike<number>): number {
    const batch = makeSingleSequenceBatch(tokens, this.length, this.blockTable, this.blockSize, 'last');
    const [next] = this.model.forwardGreedy(batch, this.kv);
    this.length += tokens.length;
    return next!;
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
  let next = session.feedGreedy(prompt);
  while (output.length < maxNewTokens) {
    output.push(next);
    if (eos.has(next) || output.length === maxNewTokens) break;
    next = session.feedGreedy([next]);
  }
  return output;
}
