/**
 * ModelWeights: every parameter of a Llama-family model as fp32 arrays, like llama2.c's TransformerWeights,
 * and `expectedTensors(config)`: the name and shape of every tensor a config implies.
 *
 * Types only (plus one pure function), so every checkpoint reader (safetensors: load-model.ts, GGUF:
 * gguf/load-gguf.ts) can build a `LoadedModel` without importing the loader that picks between them.
 *
 * Hugging Face names (with or without the `model.` prefix):
 *   model.embed_tokens.weight, model.layers.N.self_attn.{q,k,v,o}_proj.{weight,bias},
 *   model.layers.N.mlp.{gate,up,down}_proj.weight, model.layers.N.{input,post_attention}_layernorm.weight,
 *   model.norm.weight, lm_head.weight (absent when tied to the embedding).
 */
import type { ModelConfig } from './config.ts';

/** One transformer block. dim = hiddenSize, qDim = numHeads*headDim, kvDim = numKvHeads*headDim. */
export interface LayerWeights {
  attnNorm: Float32Array; // (dim)
  wq: Float32Array; // (qDim, dim)
  wk: Float32Array; // (kvDim, dim)
  wv: Float32Array; // (kvDim, dim)
  wo: Float32Array; // (dim, qDim)
  bq: Float32Array | null; // (qDim) Qwen2 / attention_bias
  bk: Float32Array | null; // (kvDim)
  bv: Float32Array | null; // (kvDim)
  bo: Float32Array | null; // (dim) Llama attention_bias only
  mlpNorm: Float32Array; // (dim)
  wGate: Float32Array; // (intermediate, dim)
  wUp: Float32Array; // (intermediate, dim)
  wDown: Float32Array; // (dim, intermediate)
}

export interface ModelWeights {
  embed: Float32Array; // (vocab, dim)
  layers: LayerWeights[]; // (numLayers)
  finalNorm: Float32Array; // (dim)
  lmHead: Float32Array; // (vocab, dim) — the same array as `embed` when tieWordEmbeddings
}

export interface LoadedModel {
  config: ModelConfig;
  weights: ModelWeights;
  dir: string;
  /** The part held when it is not the whole model (a pipeline stage): `weights.layers` holds only its layers. */
  part?: ModelPart;
}

/**
 * Which part of the model a process holds: a pipeline stage's contiguous layers [start, end) (the full
 * model's numbering) and the ends it owns. Arrays of the parts it does not own are empty (length 0).
 */
export interface ModelPart {
  start: number;
  end: number;
  /** Holds the token embedding (the first stage). */
  embed: boolean;
  /** Holds the final norm and the LM head (the last stage). */
  head: boolean;
}

export function wholeModel(config: ModelConfig): ModelPart {
  return { start: 0, end: config.numLayers, embed: true, head: true };
}

const NOT_HELD = new Float32Array(0);

/** Keep only `part` of a fully loaded model (the GGUF path; safetensors reads only the part's tensors). */
export function selectPart(loaded: LoadedModel, part: ModelPart): LoadedModel {
  const w = loaded.weights;
  const weights: ModelWeights = {
    embed: part.embed ? w.embed : NOT_HELD,
    layers: w.layers.slice(part.start, part.end),
    finalNorm: part.head ? w.finalNorm : NOT_HELD,
    lmHead: part.head ? w.lmHead : NOT_HELD,
  };
  return { ...loaded, weights, part };
}

/** Does `part` need tensor `short` (a name from `expectedTensors`)? A tied head needs the embedding. */
export function partNeedsTensor(config: ModelConfig, part: ModelPart, short: string): boolean {
  const layer = /^layers\.(\d+)\./.exec(short);
  if (layer) return Number(layer[1]) >= part.start && Number(layer[1]) < part.end;
  if (short === 'embed_tokens.weight') return part.embed || (part.head && config.tieWordEmbeddings);
  return part.head; // norm.weight, lm_head.weight
}

/** Tensor name (without `model.` prefix) → expected shape, for every tensor the config implies. */
export function expectedTensors(config: ModelConfig): Map<string, number[]> {
  const { hiddenSize: dim, intermediateSize: hidden, vocabSize: vocab } = config;
  const qDim = config.numHeads * config.headDim;
  const kvDim = config.numKvHeads * config.headDim;
  const shapes = new Map<string, number[]>([['embed_tokens.weight', [vocab, dim]]]);
  for (let l = 0; l < config.numLayers; l++) {
    const p = `layers.${l}.`;
    shapes.set(`${p}input_layernorm.weight`, [dim]);
    shapes.set(`${p}self_attn.q_proj.weight`, [qDim, dim]);
    shapes.set(`${p}self_attn.k_proj.weight`, [kvDim, dim]);
    shapes.set(`${p}self_attn.v_proj.weight`, [kvDim, dim]);
    shapes.set(`${p}self_attn.o_proj.weight`, [dim, qDim]);
    if (config.attentionBias) {
      shapes.set(`${p}self_attn.q_proj.bias`, [qDim]);
      shapes.set(`${p}self_attn.k_proj.bias`, [kvDim]);
      shapes.set(`${p}self_attn.v_proj.bias`, [kvDim]);
    }
    if (config.attentionOutputBias) shapes.set(`${p}self_attn.o_proj.bias`, [dim]);
    shapes.set(`${p}post_attention_layernorm.weight`, [dim]);
    shapes.set(`${p}mlp.gate_proj.weight`, [hidden, dim]);
    shapes.set(`${p}mlp.up_proj.weight`, [hidden, dim]);
    shapes.set(`${p}mlp.down_proj.weight`, [dim, hidden]);
  }
  shapes.set('norm.weight', [dim]);
  if (!config.tieWordEmbeddings) shapes.set('lm_head.weight', [vocab, dim]);
  return shapes;
}
