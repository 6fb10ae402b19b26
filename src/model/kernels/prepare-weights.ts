/**
 * Moves a loaded checkpoint's matrices into the kernel backend's memory (and format), producing the
 * weights forward.ts multiplies by. Norm weights are copied into the arena too (the wasm RMSNorm reads them in
 * place); biases stay plain f32 arrays (the bias add runs in TypeScript).
 *
 * Like warming a cache at boot: one copy (or quantization) per matrix at load time so that no step pays
 * for it later. The original arrays are not kept, so their memory is freed once the caller drops them.
 */
import type { ModelConfig } from '../checkpoint/config.ts';
import type { ModelPart, ModelWeights } from '../checkpoint/weights.ts';
import type { KernelBackend, Matrix, WeightDtype } from './backend.ts';
import { q8x4Bytes } from './q8x4-pack.ts';
import { canQuantizeQ8 } from './quantize.ts';

/** One transformer block, matrices placed for the backend. dim = hiddenSize, qDim = numHeads*headDim. */
export interface PreparedLayer {
  attnNorm: Float32Array; // (dim)
  wq: Matrix; // (qDim, dim)
  wk: Matrix; // (kvDim, dim)
  wv: Matrix; // (kvDim, dim)
  wo: Matrix; // (dim, qDim)
  bq: Float32Array | null; // (qDim)
  bk: Float32Array | null; // (kvDim)
  bv: Float32Array | null; // (kvDim)
  bo: Float32Array | null; // (dim)
  mlpNorm: Float32Array; // (dim)
  wGate: Matrix; // (intermediate, dim)
  wUp: Matrix; // (intermediate, dim)
  wDown: Matrix; // (dim, intermediate)
}

export interface PreparedWeights {
  embed: Float32Array; // (vocab, dim) row lookups; shares the LM head's f32 storage when tied
  layers: PreparedLayer[];
  finalNorm: Float32Array; // (dim)
  lmHead: Matrix; // (vocab, dim)
}

/**
 * Bytes of shared memory the matrices of `config` (or of one `part` of it) need in `dtype` (to size the arena
 * once): q8_0 in the packed layout of the integer kernel (1.0625 bytes per weight); the f32-activation
 * kernel's layout (f32 scales, 1.125) grows the arena by the difference.
 */
export function matrixBytes(config: ModelConfig, dtype: WeightDtype, part?: ModelPart): number {
  const { hiddenSize: dim, intermediateSize: hidden, vocabSize: vocab } = config;
  const qDim = config.numHeads * config.headDim;
  const kvDim = config.numKvHeads * config.headDim;
  const bytes = (outDim: number, inDim: number): number =>
    dtype === 'q8_0' && canQuantizeQ8(inDim) ? q8x4Bytes(outDim, inDim) + 16 : outDim * inDim * 4 + 16;
  const perLayer =
    bytes(qDim, dim) + 2 * bytes(kvDim, dim) + bytes(dim, qDim) + 2 * bytes(hidden, dim) + bytes(dim, hidden);
  const norm = dim * 4 + 16; // one norm weight vector
  const layerBytes = perLayer + 2 * norm;
  if (part) return (part.end - part.start) * layerBytes + (part.head ? bytes(vocab, dim) + norm : 0);
  return config.numLayers * layerBytes + bytes(vocab, dim) + norm;
}

export function prepareWeights(w: ModelWeights, c: ModelConfig, backend: KernelBackend): PreparedWeights {
  const dim = c.hiddenSize;
  const qDim = c.numHeads * c.headDim;
  const kvDim = c.numKvHeads * c.headDim;
  const layers = w.layers.map((l) => ({
    attnNorm: backend.vector(l.attnNorm),
    wq: backend.matrix(l.wq, qDim, dim),
    wk: backend.matrix(l.wk, kvDim, dim),
    wv: backend.matrix(l.wv, kvDim, dim),
    wo: backend.matrix(l.wo, dim, qDim),
    bq: l.bq,
    bk: l.bk,
    bv: l.bv,
    bo: l.bo,
    mlpNorm: backend.vector(l.mlpNorm),
    wGate: backend.matrix(l.wGate, c.intermediateSize, dim),
    wUp: backend.matrix(l.wUp, c.intermediateSize, dim),
    wDown: backend.matrix(l.wDown, dim, c.intermediateSize),
  }));
  // A pipeline stage without the head holds an empty one (0 rows); a stage holding only one end of a tied
  // pair gets distinct arrays from the loader, so it never shares.
  const lmHead = backend.matrix(w.lmHead, w.lmHead.length === 0 ? 0 : c.vocabSize, dim);
  // A tied f32 head already holds the embedding table: look rows up there instead of keeping two copies.
  const shared = c.tieWordEmbeddings && w.lmHead === w.embed && lmHead.f32 && lmHead.dtype === 'f32';
  const embed = shared && lmHead.f32 ? lmHead.f32 : w.embed;
  return { embed, layers, finalNorm: backend.vector(w.finalNorm), lmHead };
}
