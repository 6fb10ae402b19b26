/**
 * ModelConfig: the handful of numbers that fix a Llama-family model's shape, parsed from a Hugging Face
 * checkpoint's `config.json` (plus `generation_config.json` for stop ids).
 *
 * Like parsing a server's config file at startup: validate everything once, fail loudly with the file
 * name and the offending key, and hand the rest of the program a plain, fully defaulted object.
 *
 * Supported: LlamaForCausalLM, Qwen2ForCausalLM (bias on q/k/v), MistralForCausalLM (without a sliding
 * window). RoPE: default, linear and llama3 scaling, in either the transformers-4 style (`rope_theta` +
 * `rope_scaling`) or the transformers-5 style (`rope_parameters`).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ModelLoadError } from '../../util/errors.ts';

export type Architecture = 'LlamaForCausalLM' | 'Qwen2ForCausalLM' | 'MistralForCausalLM';
export const SUPPORTED_ARCHITECTURES: readonly Architecture[] = [
  'LlamaForCausalLM',
  'Qwen2ForCausalLM',
  'MistralForCausalLM',
];

/** How rotary position embeddings turn a position into angles. */
export type RopeScaling =
  | { type: 'default' }
  /** Positions divided by `factor` (all frequencies divided by it). */
  | { type: 'linear'; factor: number }
  /** Llama 3.x: low frequencies divided by `factor`, high kept, a smooth ramp in between. */
  | {
      type: 'llama3';
      factor: number;
      lowFreqFactor: number;
      highFreqFactor: number;
      originalMaxPositionEmbeddings: number;
    };

export interface RopeConfig {
  theta: number;
  scaling: RopeScaling;
}

export interface ModelConfig {
  architecture: Architecture;
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  vocabSize: number;
  rmsNormEps: number;
  maxPositionEmbeddings: number;
  tieWordEmbeddings: boolean;
  /** Bias on the q/k/v projections (Qwen2 always; Llama when `attention_bias`). */
  attentionBias: boolean;
  /** Bias on the output projection too (Llama's `attention_bias` covers o_proj; Qwen2's does not). */
  attentionOutputBias: boolean;
  rope: RopeConfig;
  /** Token ids that end generation (config.json and generation_config.json, merged, deduplicated). */
  eosTokenIds: number[];
  bosTokenId: number | null;
  /** Checkpoint dtype as declared (`torch_dtype` / `dtype`), e.g. "bfloat16"; null when absent. */
  declaredDtype: string | null;
}

type Json = Record<string, unknown>;

/** Reads `config.json` (and `generation_config.json` when present) from a checkpoint folder. */
export function loadModelConfig(dir: string): ModelConfig {
  const configPath = join(dir, 'config.json');
  const raw = readJsonFile(configPath);
  const genPath = join(dir, 'generation_config.json');
  const gen = existsSync(genPath) ? readJsonFile(genPath) : {};
  return parseModelConfig(raw, gen, configPath);
}

/** Parses already-loaded JSON; `file` only names the source in error messages. */
export function parseModelConfig(raw: Json, generation: Json = {}, file = 'config.json'): ModelConfig {
  const fail = (what: string): never => {
    throw new ModelLoadError(`${file}: ${what}`);
  };
  const architecture = parseArchitecture(raw, fail);
  const num = (key: string, fallback?: number): number => {
    const v = raw[key] ?? fallback;
    if (typeof v !== 'number' || !Number.isFinite(v))
      return fail(`"${key}" must be a number, got ${JSON.stringify(v)}`);
    return v;
  };

  const hiddenSize = num('hidden_size');
  const numHeads = num('num_attention_heads');
  const numKvHeads = num('num_key_value_heads', numHeads);
  const headDim = raw['head_dim'] == null ? hiddenSize / numHeads : num('head_dim');
  if (!Number.isInteger(headDim) || headDim % 2 !== 0) fail(`head_dim ${headDim} must be an even integer`);
  if (numHeads % numKvHeads !== 0) {
    fail(`num_attention_heads (${numHeads}) must be a multiple of num_key_value_heads (${numKvHeads})`);
  }
  rejectUnsupportedFeatures(raw, architecture, fail);

  const qkvBias = architecture === 'Qwen2ForCausalLM' ? true : raw['attention_bias'] === true;
  return {
    architecture,
    hiddenSize,
    intermediateSize: num('intermediate_size'),
    numLayers: num('num_hidden_layers'),
    numHeads,
    numKvHeads,
    headDim,
    vocabSize: num('vocab_size'),
    rmsNormEps: num('rms_norm_eps', 1e-6),
    maxPositionEmbeddings: num('max_position_embeddings', 2048),
    tieWordEmbeddings: raw['tie_word_embeddings'] === true,
    attentionBias: qkvBias,
    attentionOutputBias: architecture !== 'Qwen2ForCausalLM' && raw['attention_bias'] === true,
    rope: parseRope(raw, fail),
    eosTokenIds: mergeIds(generation['eos_token_id'], raw['eos_token_id']),
    bosTokenId: firstId(generation['bos_token_id']) ?? firstId(raw['bos_token_id']),
    declaredDtype:
      typeof (raw['torch_dtype'] ?? raw['dtype']) === 'string'
        ? String(raw['torch_dtype'] ?? raw['dtype'])
        : null,
  };
}

function parseArchitecture(raw: Json, fail: (what: string) => never): Architecture {
  const list = raw['architectures'];
  const name = Array.isArray(list) ? list[0] : undefined;
  if (typeof name !== 'string') {
    return fail(`no "architectures" entry; expected one of ${SUPPORTED_ARCHITECTURES.join(', ')}`);
  }
  if (!(SUPPORTED_ARCHITECTURES as readonly string[]).includes(name)) {
    return fail(`architecture "${name}" is not supported; supported: ${SUPPORTED_ARCHITECTURES.join(', ')}`);
  }
  return name as Architecture;
}

/** Features that would silently change the math if ignored: refuse them instead. */
function rejectUnsupportedFeatures(raw: Json, arch: Architecture, fail: (what: string) => never): void {
  const act = raw['hidden_act'] ?? 'silu';
  if (act !== 'silu') fail(`hidden_act "${String(act)}" is not supported; only "silu" (SwiGLU MLP)`);
  if (raw['mlp_bias'] === true) fail('mlp_bias: true is not supported; only bias-free MLPs');
  const window = raw['sliding_window'];
  const windowInUse =
    arch === 'Qwen2ForCausalLM'
      ? raw['use_sliding_window'] === true
      : typeof window === 'number' && window < Number(raw['max_position_embeddings'] ?? Infinity);
  if (windowInUse) {
    fail(
      `sliding-window attention (sliding_window ${String(window)}) is not supported; only full causal ` +
        'attention (sliding_window null, or at least max_position_embeddings)',
    );
  }
}

/** RoPE settings from `rope_parameters` (transformers 5) or `rope_theta` + `rope_scaling` (transformers 4). */
function parseRope(raw: Json, fail: (what: string) => never): RopeConfig {
  const params = (raw['rope_parameters'] ?? raw['rope_scaling'] ?? {}) as Json;
  if (typeof params !== 'object') return fail('rope_scaling / rope_parameters must be an object');
  const theta = Number(params['rope_theta'] ?? raw['rope_theta'] ?? 10000);
  const kind = String(params['rope_type'] ?? params['type'] ?? 'default');
  const factor = (key: string): number => {
    const v = params[key];
    if (typeof v !== 'number') return fail(`RoPE type "${kind}" needs a numeric "${key}"`);
    return v;
  };
  if (raw['partial_rotary_factor'] != null && raw['partial_rotary_factor'] !== 1) {
    fail('partial_rotary_factor is not supported; RoPE must rotate the whole head');
  }
  switch (kind) {
    case 'default':
      return { theta, scaling: { type: 'default' } };
    case 'linear':
      return { theta, scaling: { type: 'linear', factor: factor('factor') } };
    case 'llama3':
      return {
        theta,
        scaling: {
          type: 'llama3',
          factor: factor('factor'),
          lowFreqFactor: factor('low_freq_factor'),
          highFreqFactor: factor('high_freq_factor'),
          originalMaxPositionEmbeddings: factor('original_max_position_embeddings'),
        },
      };
    default:
      return fail(`RoPE type "${kind}" is not supported; supported: default, linear, llama3`);
  }
}

function idList(v: unknown): number[] {
  if (typeof v === 'number') return [v];
  if (Array.isArray(v)) return v.filter((x): x is number => typeof x === 'number');
  return [];
}

function mergeIds(...sources: unknown[]): number[] {
  return [...new Set(sources.flatMap(idList))];
}

function firstId(v: unknown): number | null {
  return idList(v)[0] ?? null;
}

function readJsonFile(path: string): Json {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (cause) {
    throw new ModelLoadError(`cannot read ${path}: is this a Hugging Face checkpoint folder?`, { cause });
  }
  try {
    return JSON.parse(text) as Json;
  } catch (cause) {
    throw new ModelLoadError(`${path} is not valid JSON`, { cause });
  }
}
