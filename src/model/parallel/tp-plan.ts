/**
 * Which slice of the model each tensor-parallel rank owns (Megatron-LM's split, vLLM's legality rules).
 *
 *   q/k/v, gate/up   column-parallel: rank r computes its own output columns (its heads, its MLP slice)
 *   o, down          row-parallel: rank r multiplies its slice of the input, partial sums all-reduced
 *
 * Attention heads are split evenly (numHeads % size === 0). KV heads are split when there are at least as
 * many as ranks (numKvHeads % size === 0); with fewer KV heads than ranks each is replicated on
 * size / numKvHeads ranks (size % numKvHeads === 0), so every rank's query heads find their KV head locally.
 * Any other size would split a GQA group across ranks: refused, naming the sizes that work.
 * The MLP's intermediate dimension is split as evenly as it goes (it need not divide).
 */
import type { ModelConfig } from '../checkpoint/config.ts';
import { ModelLoadError } from '../../util/errors.ts';

/** A half-open range [start, end) of heads or intermediate columns. */
export interface Span {
  start: number;
  end: number;
}

export interface RankShard {
  rank: number;
  size: number;
  heads: Span; // query heads this rank computes
  kvHeads: Span; // KV heads this rank computes and caches (shared with other ranks when replicated)
  intermediate: Span; // MLP columns of gate/up, rows... of down's input
  /** True when several ranks hold the same KV head (numKvHeads < size). */
  kvReplicated: boolean;
}

/** Sizes that divide a model cleanly, for error messages and tests. */
export function legalTensorParallelSizes(c: ModelConfig, upTo = 16): number[] {
  const sizes: number[] = [];
  for (let n = 1; n <= upTo; n++) if (tpSizeProblem(c, n) === null) sizes.push(n);
  return sizes;
}

/** Why `size` cannot split this model, or null when it can. */
export function tpSizeProblem(c: ModelConfig, size: number): string | null {
  if (!Number.isInteger(size) || size < 1)
    return `tensor-parallel size must be a positive integer, got ${size}`;
  if (c.numHeads % size !== 0) return `${c.numHeads} attention heads do not split over ${size} ranks`;
  const kvOk = c.numKvHeads % size === 0 || size % c.numKvHeads === 0;
  if (!kvOk)
    return `${c.numKvHeads} KV heads neither split over ${size} ranks nor replicate evenly onto them`;
  if (c.intermediateSize < size) return `an MLP of ${c.intermediateSize} columns cannot feed ${size} ranks`;
  return null;
}

/** Throws a ModelLoadError naming the legal sizes when `size` does not fit the model. */
export function checkTensorParallelSize(c: ModelConfig, size: number): void {
  const problem = tpSizeProblem(c, size);
  if (problem === null) return;
  throw new ModelLoadError(
    `--tensor-parallel-size ${size} does not fit this model: ${problem} ` +
      `(${c.numHeads} heads, ${c.numKvHeads} KV heads). Legal sizes: ${legalTensorParallelSizes(c).join(', ')}.`,
  );
}

export function rankShard(c: ModelConfig, rank: number, size: number): RankShard {
  checkTensorParallelSize(c, size);
  if (!Number.isInteger(rank) || rank < 0 || rank >= size)
    throw new RangeError(`rank ${rank} is outside a group of ${size}`);
  const headsPerRank = c.numHeads / size;
  const heads = { start: rank * headsPerRank, end: (rank + 1) * headsPerRank };
  let kvHeads: Span;
  if (c.numKvHeads >= size) {
    const per = c.numKvHeads / size;
    kvHeads = { start: rank * per, end: (rank + 1) * per };
  } else {
    const kv = Math.floor((rank * c.numKvHeads) / size); // size/numKvHeads consecutive ranks share it
    kvHeads = { start: kv, end: kv + 1 };
  }
  const intermediate = {
    start: Math.floor((rank * c.intermediateSize) / size),
    end: Math.floor(((rank + 1) * c.intermediateSize) / size),
  };
  return { rank, size, heads, kvHeads, intermediate, kvReplicated: c.numKvHeads < size };
}

export function spanLength(s: Span): number {
  return s.end - s.start;
}
