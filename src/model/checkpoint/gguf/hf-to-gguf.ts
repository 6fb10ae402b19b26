/**
 * `convertToGguf(dir)`: a Hugging Face Llama checkpoint → one GGUF file that llama.cpp loads, the job of
 * llama.cpp's convert_hf_to_gguf.py for the architectures we serve.
 *
 * Like a config-migration tool between two servers: read ours (config.json, safetensors, tokenizer.json),
 * write theirs (llama.* metadata, blk.N.* tensors, tokenizer.ggml.*). Tensors stream one at a time from
 * the safetensors reader to the GGUF writer, so memory stays at about one tensor.
 */
import { existsSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { ModelLoadError } from '../../../util/errors.ts';
import { type Progress, startProgress } from '../../../util/progress.ts';
import { loadModelConfig, type ModelConfig } from '../config.ts';
import { SafetensorsCheckpoint } from '../safetensors.ts';
import { expectedTensors } from '../weights.ts';
import {
  f32,
  type GgmlTypeName,
  type GgufValue,
  LLAMA_FILE_TYPE,
  Q8_0_BLOCK,
  str,
  u32,
} from './gguf-format.ts';
import { ggufTokenizerMetadata } from './gguf-tokenizer.ts';
import { type GgufTensorToWrite, writeGguf } from './gguf-writer.ts';
import { hfToGgufName, permuteForGguf, ropePermutationHeads } from './llama-layout.ts';

export type GgufExportDtype = 'f32' | 'f16' | 'q8_0';

const MATRIX_TYPE: Record<GgufExportDtype, GgmlTypeName> = { f32: 'F32', f16: 'F16', q8_0: 'Q8_0' };

export interface ConvertOptions {
  /** Output file (default DIR/<folder name>-<dtype>.gguf, where llama.cpp's converter puts it). */
  out?: string;
  /** Type of the 2-D weights; norms always stay F32, as in llama.cpp (default f32). */
  dtype?: GgufExportDtype;
}

export interface ConvertResult {
  file: string;
  bytes: number;
  tensors: number;
}

export async function convertToGguf(dir: string, options: ConvertOptions = {}): Promise<ConvertResult> {
  const dtype = options.dtype ?? 'f32';
  const file = options.out ?? join(dir, `${basename(dir)}-${dtype}.gguf`);
  const config = loadModelConfig(dir);
  checkExportable(config, dir);
  const checkpoint = await SafetensorsCheckpoint.open(dir);
  try {
    const tensors = planTensors(config, checkpoint, MATRIX_TYPE[dtype]);
    const metadata = {
      ...llamaMetadata(config, basename(dir), MATRIX_TYPE[dtype]),
      ...ggufTokenizerMetadata(join(dir, 'tokenizer.json'), config.vocabSize, {
        bos: config.bosTokenId,
        eos: config.eosTokenIds[0] ?? null,
        pad: null,
      }),
      ...chatTemplateMetadata(dir),
    };
    const progress = startProgress({
      label: `converting to ${dtype}`,
      total: tensors.length,
      unit: 'tensors',
    });
    try {
      const bytes = await writeGguf(file, {
        metadata,
        tensors: tensors.map((t) => countedTensor(t, progress)),
      });
      return { file, bytes, tensors: tensors.length };
    } finally {
      progress.stop();
    }
  } finally {
    await checkpoint.close();
  }
}

/**
 * `tokenizer.chat_template` from chat_template.jinja or tokenizer_config.json (a string, or the entry named
 * "default"), as llama.cpp's converter writes it: a served GGUF then renders chats like the folder did.
 */
function chatTemplateMetadata(dir: string): Record<string, GgufValue> {
  const jinja = join(dir, 'chat_template.jinja');
  if (existsSync(jinja)) return { 'tokenizer.chat_template': str(readFileSync(jinja, 'utf8')) };
  const configPath = join(dir, 'tokenizer_config.json');
  if (!existsSync(configPath)) return {};
  const field = (JSON.parse(readFileSync(configPath, 'utf8')) as { chat_template?: unknown }).chat_template;
  const named = Array.isArray(field)
    ? (field as { name?: unknown; template?: unknown }[]).find((t) => t?.name === 'default')?.template
    : field;
  return typeof named === 'string' ? { 'tokenizer.chat_template': str(named) } : {};
}

function checkExportable(config: ModelConfig, dir: string): void {
  if (config.architecture === 'Qwen2ForCausalLM') {
    throw new ModelLoadError(
      `${dir}: GGUF export supports LlamaForCausalLM and MistralForCausalLM (llama.cpp arch "llama"), not Qwen2`,
    );
  }
  if (config.rope.scaling.type === 'llama3') {
    throw new ModelLoadError(
      `${dir}: llama3 RoPE scaling is stored as a rope_freqs tensor in GGUF, which this exporter does not write`,
    );
  }
}

/** The `general.*` and `llama.*` keys llama.cpp reads to size the model. */
export function llamaMetadata(
  config: ModelConfig,
  name: string,
  matrixType: GgmlTypeName,
): Record<string, GgufValue> {
  const m: Record<string, GgufValue> = {
    'general.architecture': str('llama'),
    'general.name': str(name),
    'general.file_type': u32(LLAMA_FILE_TYPE[matrixType]),
    'llama.vocab_size': u32(config.vocabSize),
    'llama.context_length': u32(config.maxPositionEmbeddings),
    'llama.embedding_length': u32(config.hiddenSize),
    'llama.block_count': u32(config.numLayers),
    'llama.feed_forward_length': u32(config.intermediateSize),
    'llama.rope.dimension_count': u32(config.headDim),
    'llama.rope.freq_base': f32(config.rope.theta),
    'llama.attention.head_count': u32(config.numHeads),
    'llama.attention.head_count_kv': u32(config.numKvHeads),
    'llama.attention.key_length': u32(config.headDim),
    'llama.attention.value_length': u32(config.headDim),
    'llama.attention.layer_norm_rms_epsilon': f32(config.rmsNormEps),
  };
  if (matrixType === 'Q8_0') m['general.quantization_version'] = u32(2);
  if (config.rope.scaling.type === 'linear') {
    m['llama.rope.scaling.type'] = str('linear');
    m['llama.rope.scaling.factor'] = f32(config.rope.scaling.factor);
  }
  return m;
}

/** One GGUF tensor per expected HF tensor, each read (and Q/K-permuted) lazily when the writer gets to it. */
function planTensors(
  config: ModelConfig,
  checkpoint: SafetensorsCheckpoint,
  matrixType: GgmlTypeName,
): GgufTensorToWrite[] {
  const plan: GgufTensorToWrite[] = [];
  for (const [short, shape] of expectedTensors(config)) {
    const source = [`model.${short}`, short].find((n) => checkpoint.has(n));
    if (!source) throw new ModelLoadError(`checkpoint has no tensor "${short}" (expected shape [${shape}])`);
    const actual = checkpoint.info(source)!.shape;
    if (actual.join() !== shape.join()) {
      throw new ModelLoadError(
        `tensor "${source}" has shape [${actual}], expected [${shape}] from config.json`,
      );
    }
    const heads = ropePermutationHeads(short, config.numHeads, config.numKvHeads);
    const cols = shape.length === 2 ? shape[1]! : 1;
    plan.push({
      name: hfToGgufName(short)!,
      shape,
      type: typeFor(shape, matrixType),
      data: async () => {
        const values = await checkpoint.read(source);
        return heads === null ? values : permuteForGguf(values, heads, cols);
      },
    });
  }
  return plan;
}

/** Vectors stay F32; a matrix whose rows do not tile into Q8_0 blocks falls back to F16 (as llama.cpp does). */
function typeFor(shape: number[], matrixType: GgmlTypeName): GgmlTypeName {
  if (shape.length < 2) return 'F32';
  if (matrixType === 'Q8_0' && shape[shape.length - 1]! % Q8_0_BLOCK !== 0) return 'F16';
  return matrixType;
}

/** The tensor, counting one progress step once its values are read (the previous one is then written). */
function countedTensor(tensor: GgufTensorToWrite, progress: Progress): GgufTensorToWrite {
  return {
    ...tensor,
    data: async () => {
      const values = typeof tensor.data === 'function' ? await tensor.data() : tensor.data;
      progress.increment(1, tensor.name);
      return values;
    },
  };
}
