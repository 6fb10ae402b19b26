/**
 * Cuts one rank's shard out of a loaded checkpoint: Megatron-LM's column- and row-parallel split.
 *
 *   column-parallel  wq/wk/wv (+ biases), wGate/wUp: keep this rank's output ROWS (its heads, its MLP slice)
 *   row-parallel     wo, wDown: keep this rank's input COLUMNS; the partial products are all-reduced (summed)
 *   replicated       embedding, norms, LM head (see docs/parallelism.md: why not vocabulary-parallel)
 *
 * A row-parallel bias (Llama's o_proj bias) is added once, on rank 0, so the sum counts it once.
 * The shard is a `LoadedModel` whose config has the rank's LOCAL head, KV-head and MLP counts, so the
 * ordinary `prepareWeights` places it and the attention kernels see a small model with fewer heads.
 * Copies, never views: the full checkpoint can be dropped once every rank has cut its shard.
 */
import type { ModelConfig } from '../checkpoint/config.ts';
import type { LayerWeights, LoadedModel } from '../checkpoint/weights.ts';
import { type RankShard, type Span, spanLength } from './tp-plan.ts';

/** The config a rank's kernels see: the same model with only its heads and MLP columns. */
export function shardConfig(c: ModelConfig, shard: RankShard): ModelConfig {
  return {
    ...c,
    numHeads: spanLength(shard.heads),
    numKvHeads: spanLength(shard.kvHeads),
    intermediateSize: spanLength(shard.intermediate),
  };
}

export function shardWeights(loaded: LoadedModel, shard: RankShard): LoadedModel {
  const c = loaded.config;
  const w = loaded.weights;
  const dim = c.hiddenSize;
  const hd = c.headDim;
  const headRows = { start: shard.heads.start * hd, end: shard.heads.end * hd };
  const kvRows = { start: shard.kvHeads.start * hd, end: shard.kvHeads.end * hd };
  const mlp = shard.intermediate;
  const layers = w.layers.map(
    (l): LayerWeights => ({
      attnNorm: l.attnNorm,
      wq: rows(l.wq, dim, headRows),
      wk: rows(l.wk, dim, kvRows),
      wv: rows(l.wv, dim, kvRows),
      wo: columns(l.wo, dim, c.numHeads * hd, headRows),
      bq: l.bq?.slice(headRows.start, headRows.end) ?? null,
      bk: l.bk?.slice(kvRows.start, kvRows.end) ?? null,
      bv: l.bv?.slice(kvRows.start, kvRows.end) ?? null,
      bo: shard.rank === 0 ? l.bo : null,
      mlpNorm: l.mlpNorm,
      wGate: rows(l.wGate, dim, mlp),
      wUp: rows(l.wUp, dim, mlp),
      wDown: columns(l.wDown, dim, c.intermediateSize, mlp),
    }),
  );
  return {
    config: shardConfig(c, shard),
    weights: { embed: w.embed, layers, finalNorm: w.finalNorm, lmHead: w.lmHead },
    dir: loaded.dir,
  };
}

/** Rows [span) of a row-major (outDim, inDim) matrix: one contiguous copy. */
function rows(m: Float32Array, inDim: number, span: Span): Float32Array {
  return m.slice(span.start * inDim, span.end * inDim);
}

/** Columns [span) of a row-major (outDim, inDim) matrix: one strided gather per row. */
function columns(m: Float32Array, outDim: number, inDim: number, span: Span): Float32Array {
  const width = spanLength(span);
  const out = new Float32Array(outDim * width);
  for (let r = 0; r < outDim; r++)
    out.set(m.subarray(r * inDim + span.start, r * inDim + span.end), r * width);
  return out;
}
