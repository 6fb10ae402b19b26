/**
 * `loadGguf(file)`: a llama.cpp GGUF file (arch "llama") → the same `LoadedModel` that `loadModel` builds
 * from a Hugging Face folder, so the forward pass runs on either source. The inverse of `hf-to-gguf.ts`:
 * metadata → ModelConfig, blk.N.* → LayerWeights, Q/K rows put back in Hugging Face order, every type
 * dequantized to fp32.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ModelLoadError } from '../../../util/errors.ts';
import { startProgress } from '../../../util/progress.ts';
import type { ModelConfig } from '../config.ts';
import type { LayerWeights, LoadedModel } from '../weights.ts';
import type { GgufMetadata } from './gguf-format.ts';
import { GgufFile } from './gguf-reader.ts';
import { unpermuteFromGguf } from './llama-layout.ts';

const DTYPE_NAMES: Record<number, string> = { 0: 'float32', 1: 'float16', 7: 'q8_0', 32: 'bfloat16' };

/**
 * The GGUF file to load for `path`: the path itself if it is a .gguf file; for a folder without a
 * safetensors checkpoint, its single .gguf file. null means "not a GGUF source".
 */
export function ggufFileFor(path: string): string | null {
  if (path.endsWith('.gguf') && existsSync(path) && statSync(path).isFile()) return path;
  if (!existsSync(path) || !statSync(path).isDirectory()) return null;
  const names = readdirSync(path);
  if (names.some((n) => n.endsWith('.safetensors') || n === 'model.safetensors.index.json')) return null;
  const ggufs = names.filter((n) => n.endsWith('.gguf'));
  if (ggufs.length > 1) {
    throw new ModelLoadError(
      `${path} holds ${ggufs.length} GGUF files (${ggufs.join(', ')}); pass one file's path`,
    );
  }
  return ggufs.length === 1 ? join(path, ggufs[0]!) : null;
}

export async function loadGguf(file: string): Promise<LoadedModel> {
  const gguf = GgufFile.open(file);
  // Dequantizing every tensor to fp32 takes seconds for a 1B model: one progress step per tensor.
  const progress = startProgress({ label: 'loading gguf', total: gguf.tensors.size, unit: 'tensors' });
  try {
    const config = ggufModelConfig(gguf.metadata, file, gguf.tensors.has('output.weight'));
    const read = (name: string, shape: number[]): Float32Array => {
      const info = gguf.tensors.get(name);
      if (!info) throw new ModelLoadError(`${file}: tensor "${name}" is missing (expected shape [${shape}])`);
      if (info.shape.join() !== shape.join()) {
        throw new ModelLoadError(`${file}: tensor "${name}" has shape [${info.shape}], expected [${shape}]`);
      }
      const tensor = gguf.read(name);
      progress.increment(1, name);
      return tensor;
    };
    const optional = (name: string, shape: number[]): Float32Array | null =>
      gguf.tensors.has(name) ? read(name, shape) : null;
    const { hiddenSize: dim, intermediateSize: hidden, numHeads, numKvHeads, headDim } = config;
    const qDim = numHeads * headDim;
    const kvDim = numKvHeads * headDim;
    const layers: LayerWeights[] = [];
    for (let l = 0; l < config.numLayers; l++) {
      const p = `blk.${l}.`;
      const bq = optional(`${p}attn_q.bias`, [qDim]);
      const bk = optional(`${p}attn_k.bias`, [kvDim]);
      layers.push({
        attnNorm: read(`${p}attn_norm.weight`, [dim]),
        wq: unpermuteFromGguf(read(`${p}attn_q.weight`, [qDim, dim]), numHeads, dim),
        wk: unpermuteFromGguf(read(`${p}attn_k.weight`, [kvDim, dim]), numKvHeads, dim),
        wv: read(`${p}attn_v.weight`, [kvDim, dim]),
        wo: read(`${p}attn_output.weight`, [dim, qDim]),
        bq: bq && unpermuteFromGguf(bq, numHeads, 1),
        bk: bk && unpermuteFromGguf(bk, numKvHeads, 1),
        bv: optional(`${p}attn_v.bias`, [kvDim]),
        bo: optional(`${p}attn_output.bias`, [dim]),
        mlpNorm: read(`${p}ffn_norm.weight`, [dim]),
        wGate: read(`${p}ffn_gate.weight`, [hidden, dim]),
        wUp: read(`${p}ffn_up.weight`, [hidden, dim]),
        wDown: read(`${p}ffn_down.weight`, [dim, hidden]),
      });
    }
    const embed = read('token_embd.weight', [config.vocabSize, dim]);
    const weights = {
      embed,
      layers,
      finalNorm: read('output_norm.weight', [dim]),
      lmHead: config.tieWordEmbeddings ? embed : read('output.weight', [config.vocabSize, dim]),
    };
    const hasBias = layers[0]?.bq !== null && layers[0]?.bq !== undefined;
    return {
      config: { ...config, attentionBias: hasBias, attentionOutputBias: !!layers[0]?.bo },
      weights,
      dir: dirname(file),
    };
  } finally {
    progress.stop();
    gguf.close();
  }
}

/** ModelConfig from `llama.*` metadata; `hasOutput` = the file has its own output.weight (untied head). */
export function ggufModelConfig(metadata: GgufMetadata, file: string, hasOutput: boolean): ModelConfig {
  const arch = metadata.get('general.architecture')?.value;
  if (arch !== 'llama') {
    throw new ModelLoadError(
      `${file}: general.architecture is ${JSON.stringify(arch)}; only "llama" GGUF files load`,
    );
  }
  const num = (key: string, fallback?: number): number => {
    const v = metadata.get(key)?.value ?? fallback;
    if (v === undefined || typeof v === 'string' || typeof v === 'boolean' || Array.isArray(v)) {
      throw new ModelLoadError(`${file}: metadata "${key}" is missing or not a number`);
    }
    return Number(v);
  };
  const hiddenSize = num('llama.embedding_length');
  const numHeads = num('llama.attention.head_count');
  const tokens = metadata.get('tokenizer.ggml.tokens');
  const vocabSize = num('llama.vocab_size', Array.isArray(tokens?.value) ? tokens.value.length : undefined);
  const eos = metadata.get('tokenizer.ggml.eos_token_id')?.value;
  const bos = metadata.get('tokenizer.ggml.bos_token_id')?.value;
  const scaling = metadata.get('llama.rope.scaling.type')?.value;
  if (scaling !== undefined && scaling !== 'none' && scaling !== 'linear') {
    throw new ModelLoadError(`${file}: RoPE scaling "${String(scaling)}" is not supported (none, linear)`);
  }
  return {
    architecture: 'LlamaForCausalLM',
    hiddenSize,
    intermediateSize: num('llama.feed_forward_length'),
    numLayers: num('llama.block_count'),
    numHeads,
    numKvHeads: num('llama.attention.head_count_kv', numHeads),
    headDim: num('llama.attention.key_length', hiddenSize / numHeads),
    vocabSize,
    rmsNormEps: decimalFromF32(num('llama.attention.layer_norm_rms_epsilon')),
    maxPositionEmbeddings: num('llama.context_length'),
    tieWordEmbeddings: !hasOutput,
    attentionBias: false,
    attentionOutputBias: false,
    rope: {
      theta: decimalFromF32(num('llama.rope.freq_base', 10000)),
      scaling:
        scaling === 'linear'
          ? { type: 'linear', factor: num('llama.rope.scaling.factor') }
          : { type: 'default' },
    },
    eosTokenIds: typeof eos === 'number' ? [eos] : [],
    bosTokenId: typeof bos === 'number' ? bos : null,
    declaredDtype: DTYPE_NAMES[num('general.file_type', 0)] ?? null,
  };
}

/** GGUF stores these as float32: 1e-5 comes back as 9.99999974e-6. Recover the decimal config.json had. */
function decimalFromF32(x: number): number {
  return Number(x.toPrecision(7));
}
