/**
 * Random-weight Hugging Face checkpoints of real model shapes (SmolLM2-135M, TinyLlama-1.1B): what a
 * benchmark needs when the real weights are out of reach. Speed depends on shapes, not on the values.
 *
 * Like a load generator's synthetic payloads: realistic sizes, deterministic content (same seed → same
 * bytes), no dependence on anything downloaded. Weights are N(0, initializer_range) as transformers
 * initializes them, norms are 1, so activations stay in a sane range. Tensors are generated and written
 * one at a time (a 1.1B model in f32 is 4.4 GB), into shards of at most `maxShardBytes`.
 */
import { closeSync, mkdirSync, openSync, renameSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { parseModelConfig } from './config.ts';
import { BYTES_PER_ELEMENT, f32ToBf16Bits, type SafetensorsDtype } from './dtypes.ts';
import { INDEX_FILE, SINGLE_FILE } from './safetensors.ts';
import { expectedTensors } from './weights.ts';
import { Mulberry32 } from '../../util/prng.ts';

export type RandomShape = 'smollm2-135m' | 'tinyllama-1.1b';

const LLAMA_COMMON = {
  architectures: ['LlamaForCausalLM'],
  model_type: 'llama',
  attention_bias: false,
  hidden_act: 'silu',
  mlp_bias: false,
  rms_norm_eps: 1e-5,
  rope_scaling: null,
  initializer_range: 0.02,
};

/** config.json of each shape: the architecture numbers of the published checkpoints. */
export const RANDOM_SHAPES: Record<RandomShape, Record<string, unknown>> = {
  'smollm2-135m': {
    ...LLAMA_COMMON,
    hidden_size: 576,
    intermediate_size: 1536,
    num_hidden_layers: 30,
    num_attention_heads: 9,
    num_key_value_heads: 3,
    head_dim: 64,
    vocab_size: 49152,
    max_position_embeddings: 8192,
    rope_theta: 100000,
    tie_word_embeddings: true,
    bos_token_id: 0,
    eos_token_id: 0,
  },
  'tinyllama-1.1b': {
    ...LLAMA_COMMON,
    hidden_size: 2048,
    intermediate_size: 5632,
    num_hidden_layers: 22,
    num_attention_heads: 32,
    num_key_value_heads: 4,
    vocab_size: 32000,
    max_position_embeddings: 2048,
    rope_theta: 10000,
    tie_word_embeddings: false,
    bos_token_id: 1,
    eos_token_id: 2,
  },
};

const SPECIAL_TOKENS: Record<RandomShape | 'custom', string[]> = {
  'smollm2-135m': ['<|endoftext|>', '<|im_start|>', '<|im_end|>'],
  'tinyllama-1.1b': ['<unk>', '<s>', '</s>'],
  custom: ['<|endoftext|>', '<|im_start|>', '<|im_end|>'],
};

export interface RandomCheckpointOptions {
  /** A named shape, or a config.json object (tests use tiny ones). */
  shape: RandomShape | Record<string, unknown>;
  seed?: number;
  /** Stored dtype (default F32). */
  dtype?: 'F32' | 'BF16';
  /** Largest shard file before a new one is started (default 2 GiB). */
  maxShardBytes?: number;
}

export interface RandomCheckpoint {
  dir: string;
  parameters: number;
  /** Safetensors files written. */
  shards: string[];
  bytes: number;
}

interface PlannedTensor {
  name: string;
  shape: number[];
  /** Standard deviation; 0 = a norm weight (all ones). */
  std: number;
}

/** Progress of a checkpoint being written: bytes of tensor data so far, of the total. */
export interface WriteProgress {
  doneBytes: number;
  totalBytes: number;
}

export function writeRandomCheckpoint(dir: string, options: RandomCheckpointOptions): RandomCheckpoint {
  const steps = randomCheckpointSteps(dir, options);
  for (;;) {
    const step = steps.next();
    if (step.done) return step.value;
  }
}

/**
 * The same, yielding to the event loop after every tensor, so a progress bar can draw and Ctrl-C can stop
 * it. Written into a staging folder beside `dir` and renamed into place at the end (like a package manager
 * unpacking into a temp dir): an interrupted run (abort `signal`) deletes the staging folder and leaves no
 * partial shard anywhere.
 */
export async function writeRandomCheckpointAsync(
  dir: string,
  options: RandomCheckpointOptions,
  run: { onProgress?: (p: WriteProgress) => void; signal?: AbortSignal } = {},
): Promise<RandomCheckpoint> {
  const staging = join(dirname(dir), `.${basename(dir)}.partial-${process.pid}`);
  rmSync(staging, { recursive: true, force: true });
  const steps = randomCheckpointSteps(staging, options);
  try {
    for (;;) {
      if (run.signal?.aborted)
        throw new CheckpointWriteAborted(`interrupted: removed the unfinished ${staging}`);
      const step = steps.next();
      if (step.done) {
        mkdirSync(dirname(dir), { recursive: true });
        // rename(2) may replace an empty directory, so an empty --out folder the user made is fine.
        renameSync(staging, dir);
        return { ...step.value, dir, shards: step.value.shards.map((f) => join(dir, basename(f))) };
      }
      run.onProgress?.(step.value);
      await new Promise((resolve) => setImmediate(resolve));
    }
  } catch (err) {
    steps.return(undefined as never);
    rmSync(staging, { recursive: true, force: true });
    throw err;
  }
}

/** Ctrl-C (or another abort) stopped `writeRandomCheckpointAsync`; nothing was left behind. */
export class CheckpointWriteAborted extends Error {}

/** The writer as steps: one yield per tensor written (with progress), the summary as the return value. */
function* randomCheckpointSteps(
  dir: string,
  options: RandomCheckpointOptions,
): Generator<WriteProgress, RandomCheckpoint> {
  const named = typeof options.shape === 'string' ? options.shape : null;
  const raw: Record<string, unknown> = {
    ...(named ? RANDOM_SHAPES[named] : (options.shape as Record<string, unknown>)),
  };
  const dtype: SafetensorsDtype = options.dtype ?? 'F32';
  raw['torch_dtype'] = dtype === 'BF16' ? 'bfloat16' : 'float32';
  const config = parseModelConfig(raw);
  const std = Number(raw['initializer_range'] ?? 0.02);
  const plan: PlannedTensor[] = [...expectedTensors(config)].map(([short, shape]) => ({
    name: short === 'lm_head.weight' ? short : `model.${short}`,
    shape,
    std: shape.length === 1 ? 0 : std,
  }));
  mkdirSync(dir, { recursive: true });
  const shards = planShards(plan, BYTES_PER_ELEMENT[dtype], options.maxShardBytes ?? 2 ** 31);
  const seed = options.seed ?? 0;
  const elementBytes = BYTES_PER_ELEMENT[dtype];
  const progress: WriteProgress = {
    doneBytes: 0,
    totalBytes: plan.reduce((sum, t) => sum + t.shape.reduce((a, b) => a * b, 1) * elementBytes, 0),
  };
  let bytes = 0;
  for (const [file, tensors] of shards) {
    bytes += yield* writeSafetensorsStreaming(join(dir, file), tensors, dtype, progress, (t) =>
      fillTensor(t, seed, plan.indexOf(t)),
    );
  }
  if (shards.size > 1) writeIndex(dir, shards, BYTES_PER_ELEMENT[dtype]);
  const specials = SPECIAL_TOKENS[named ?? 'custom'];
  writeJson(join(dir, 'config.json'), raw);
  writeJson(join(dir, 'generation_config.json'), {
    bos_token_id: raw['bos_token_id'] ?? null,
    eos_token_id: raw['eos_token_id'] ?? null,
  });
  writeJson(join(dir, 'tokenizer.json'), byteLevelTokenizer(config.vocabSize, specials));
  writeJson(join(dir, 'tokenizer_config.json'), {
    tokenizer_class: 'PreTrainedTokenizerFast',
    bos_token: specials[1],
    eos_token: specials[2],
    model_max_length: config.maxPositionEmbeddings,
  });
  const parameters = plan
    .filter((t) => t.name !== 'lm_head.weight' || !config.tieWordEmbeddings)
    .reduce((sum, t) => sum + t.shape.reduce((a, b) => a * b, 1), 0);
  return { dir, parameters, shards: [...shards.keys()].map((f) => join(dir, f)), bytes };
}

/** Groups tensors (in order) into shard files no larger than `maxBytes` (a lone bigger tensor gets its own). */
function planShards(
  plan: PlannedTensor[],
  elementBytes: number,
  maxBytes: number,
): Map<string, PlannedTensor[]> {
  const groups: PlannedTensor[][] = [[]];
  let size = 0;
  for (const t of plan) {
    const tBytes = t.shape.reduce((a, b) => a * b, 1) * elementBytes;
    if (size + tBytes > maxBytes && groups[groups.length - 1]!.length > 0) {
      groups.push([]);
      size = 0;
    }
    groups[groups.length - 1]!.push(t);
    size += tBytes;
  }
  if (groups.length === 1) return new Map([[SINGLE_FILE, groups[0]!]]);
  const n = String(groups.length).padStart(5, '0');
  return new Map(groups.map((g, i) => [`model-${String(i + 1).padStart(5, '0')}-of-${n}.safetensors`, g]));
}

/** Header first (every size is known from the shapes), then each tensor as `produce` makes it. */
function* writeSafetensorsStreaming(
  file: string,
  tensors: PlannedTensor[],
  dtype: SafetensorsDtype,
  progress: WriteProgress,
  produce: (t: PlannedTensor) => Float32Array,
): Generator<WriteProgress, number> {
  const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
  let offset = 0;
  for (const t of tensors) {
    const length = t.shape.reduce((a, b) => a * b, 1) * BYTES_PER_ELEMENT[dtype];
    header[t.name] = { dtype, shape: t.shape, data_offsets: [offset, offset + length] };
    offset += length;
  }
  let text = JSON.stringify(header);
  text += ' '.repeat((8 - ((8 + Buffer.byteLength(text)) % 8)) % 8); // data starts 8-byte aligned
  const prefix = Buffer.alloc(8 + Buffer.byteLength(text));
  prefix.writeBigUInt64LE(BigInt(prefix.length - 8), 0);
  prefix.write(text, 8, 'utf8');
  const fd = openSync(file, 'w');
  try {
    let position = 0;
    const write = (bytes: Uint8Array): void => {
      for (let done = 0; done < bytes.length; )
        done += writeSync(fd, bytes, done, bytes.length - done, position + done);
      position += bytes.length;
    };
    write(prefix);
    for (const t of tensors) {
      const data = encode(produce(t), dtype);
      write(data);
      progress.doneBytes += data.length;
      yield progress;
    }
    return position;
  } finally {
    closeSync(fd);
  }
}

function encode(values: Float32Array, dtype: SafetensorsDtype): Uint8Array {
  if (dtype === 'F32') return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
  const bits = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) bits[i] = f32ToBf16Bits(values[i]!);
  return new Uint8Array(bits.buffer);
}

/** N(0, std²) values (ones for a norm), from a stream seeded by (seed, tensor index): order-independent. */
function fillTensor(t: PlannedTensor, seed: number, index: number): Float32Array {
  const out = new Float32Array(t.shape.reduce((a, b) => a * b, 1));
  if (t.std === 0) return out.fill(1);
  // mulberry32: fast, and plenty for weight noise.
  const rng = new Mulberry32((Math.imul(seed + 1, 0x9e3779b1) ^ Math.imul(index + 1, 0x85ebca6b)) >>> 0);
  for (let i = 0; i < out.length; i += 2) {
    // Box–Muller: two uniforms → two independent standard normals.
    const r = Math.sqrt(-2 * Math.log(1 - rng.nextFloat())) * t.std;
    const theta = 2 * Math.PI * rng.nextFloat();
    out[i] = r * Math.cos(theta);
    if (i + 1 < out.length) out[i + 1] = r * Math.sin(theta);
  }
  return out;
}

/**
 * A valid byte-level BPE tokenizer.json with exactly `vocabSize` entries: the special tokens, the 256
 * byte symbols, then two-symbol merges until the vocabulary is full. Loadable by our tokenizer and
 * exportable to GGUF; it does not split text like the real model's tokenizer (benchmarks feed token ids).
 */
export function byteLevelTokenizer(vocabSize: number, specials: string[]): Record<string, unknown> {
  const bytes = byteSymbols();
  if (vocabSize < specials.length + bytes.length) {
    throw new RangeError(
      `vocab_size ${vocabSize} is too small for ${specials.length} specials + 256 byte tokens`,
    );
  }
  const vocab: Record<string, number> = {};
  for (const s of [...specials, ...bytes]) vocab[s] = Object.keys(vocab).length;
  const merges: [string, string][] = [];
  let id = Object.keys(vocab).length;
  for (let a = 0; a < bytes.length && id < vocabSize; a++) {
    for (let b = 0; b < bytes.length && id < vocabSize; b++) {
      merges.push([bytes[a]!, bytes[b]!]);
      vocab[bytes[a]! + bytes[b]!] = id++;
    }
  }
  const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true };
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: specials.map((content, i) => ({
      id: i,
      content,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: true,
    })),
    normalizer: null,
    pre_tokenizer: byteLevel,
    post_processor: { ...byteLevel, trim_offsets: false },
    decoder: byteLevel,
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab,
      merges,
    },
  };
}

/** GPT-2's bytes_to_unicode: each byte as a printable character ("Ġ" for space, "Ċ" for newline). */
function byteSymbols(): string[] {
  const printable = (b: number): boolean =>
    (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
  const symbols: string[] = [];
  let extra = 0;
  for (let b = 0; b < 256; b++) symbols.push(String.fromCharCode(printable(b) ? b : 256 + extra++));
  return symbols;
}

function writeIndex(dir: string, shards: Map<string, PlannedTensor[]>, elementBytes: number): void {
  const weightMap: Record<string, string> = {};
  let total = 0;
  for (const [file, tensors] of shards) {
    for (const t of tensors) {
      weightMap[t.name] = file;
      total += t.shape.reduce((a, b) => a * b, 1) * elementBytes;
    }
  }
  writeJson(join(dir, INDEX_FILE), { metadata: { total_size: total }, weight_map: weightMap });
}

function writeJson(path: string, value: unknown): void {
  writeFileSync(path, `${JSON.stringify(value, null, 2)}\n`);
}
