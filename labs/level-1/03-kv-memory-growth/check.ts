/**
 * Lab 1.3's check: does a KV-size function agree with the model code, on models of every shape? The
 * learner's `kvBytesPerToken(config, bytes)` and `kvBytesForTokens(config, tokens, blockSize, bytes)` get the
 * raw config.json of the bundled model, of the reference fixtures (grouped-query, multi-query, no head_dim),
 * of two published shapes and of a multi-head checkpoint; each answer is compared with the figure our code
 * computes for the same checkpoint (`describeModel`, what `dhw model inspect` prints) and with the bytes the
 * KV allocator really reserves. Like checking a capacity-planning spreadsheet against `df` on real disks.
 *
 *   npm run lab -- 1.3 --check [FILE]        # default: starter.ts as shipped
 *   npm run lab -- 1.3 --check --reference
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  allocateKvCacheTensors,
  BYTES_PER_ELEMENT,
  describeModel,
  loadModelConfig,
  kvBytesPerToken as modelKvBytesPerToken,
  parseModelConfig,
  RANDOM_SHAPES,
  type SafetensorsDtype,
} from '../../../src/model/index.ts';
import { defaultModelDir, fixtureDir } from '../../../src/util/paths.ts';
import {
  type Check,
  type CheckResult,
  checkMain,
  isMain,
  loadSolution,
  runChecks,
} from '../../lib/exercise.ts';
import type { HfConfig } from './reference.ts';

export interface KvSizing {
  kvBytesPerToken(config: HfConfig, bytesPerValue: number): number;
  kvBytesForTokens(config: HfConfig, tokens: number, blockSize: number, bytesPerValue: number): number;
}

const BLOCK_SIZE = 16;
const SEQUENCE_LENGTHS = [1, 16, 17, 100, 1000];
const thousands = (n: number) => (Number.isFinite(n) ? n.toLocaleString('en-US') : String(n));

function readConfig(dir: string): HfConfig {
  return JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as HfConfig;
}

function fixture(name: string): string {
  return fixtureDir(name);
}

/** Why a per-token answer is off, in the words of the usual mistake; undefined when it is right. */
function perTokenProblem(
  answer: number,
  expected: number,
  config: HfConfig,
  bytes: number,
): string | undefined {
  if (answer === expected) return undefined;
  const c = parseModelConfig(config);
  const got = `got ${thousands(answer)}, expected ${thousands(expected)} at ${bytes} bytes per value`;
  if (Number.isNaN(answer)) {
    const absent = ['head_dim', 'num_key_value_heads'].filter((f) => config[f] === undefined);
    return (
      `${got}: NaN means a field was missing (this config.json has no ${absent.join(' and ') || '?'}). ` +
      'Without head_dim it is hidden_size / num_attention_heads; without num_key_value_heads there is one K/V ' +
      'head per query head.'
    );
  }
  const ratio = answer / expected;
  if (c.numHeads !== c.numKvHeads && ratio === c.numHeads / c.numKvHeads) {
    return (
      `${got}: ${ratio}× too much, exactly num_attention_heads / num_key_value_heads (${c.numHeads} / ` +
      `${c.numKvHeads}). Only the K/V heads are cached: with grouped-query attention ${ratio} query heads share one.`
    );
  }
  if (ratio === 0.5) return `${got}: half. Each token caches a key AND a value vector per KV head.`;
  if (ratio === 2) return `${got}: twice. Count K and V once each (2 ×), not twice.`;
  if (ratio === 4 / bytes || ratio === 1 / bytes)
    return `${got}: the number format is off. Multiply by bytesPerValue (${bytes}), nothing else.`;
  return `${got} (= 2 × ${c.numLayers} layers × ${c.numKvHeads} KV heads × ${c.headDim} head dim × ${bytes} bytes)`;
}

/** Per-token bytes of a checkpoint folder, fp32 and at its stored dtype, against `describeModel`. */
async function checkCheckpoint(solution: KvSizing, dir: string): Promise<string | undefined> {
  const config = readConfig(dir);
  const described = await describeModel(dir);
  const dtypeBytes = BYTES_PER_ELEMENT[described.dtype as SafetensorsDtype];
  return (
    perTokenProblem(solution.kvBytesPerToken(config, 4), described.kvBytesPerToken.fp32, config, 4) ??
    perTokenProblem(
      solution.kvBytesPerToken(config, dtypeBytes),
      described.kvBytesPerToken.checkpointDtype,
      config,
      dtypeBytes,
    )
  );
}

/** Per-token bytes of a config with no weights, against the model code's formula on the parsed config. */
function checkShape(solution: KvSizing, config: HfConfig, bytes: number): string | undefined {
  const c = parseModelConfig(config);
  const expected = modelKvBytesPerToken(c.numLayers, c.numKvHeads, c.headDim, bytes);
  return perTokenProblem(solution.kvBytesPerToken(config, bytes), expected, config, bytes);
}

/** Bytes the KV allocator really reserves for one sequence of `tokens` tokens of the model in `dir`. */
function allocatedBytes(dir: string, tokens: number): number {
  const c = loadModelConfig(dir);
  const numBlocks = Math.ceil(tokens / BLOCK_SIZE);
  const tensors = allocateKvCacheTensors({
    numBlocks,
    blockSize: BLOCK_SIZE,
    numLayers: c.numLayers,
    numKvHeads: c.numKvHeads,
    headDim: c.headDim,
  });
  return [...tensors.key, ...tensors.value].reduce((sum, buffer) => sum + buffer.byteLength, 0);
}

function checkPagedPool(solution: KvSizing, dir: string): string | undefined {
  const config = readConfig(dir);
  for (const tokens of SEQUENCE_LENGTHS) {
    const answer = solution.kvBytesForTokens(config, tokens, BLOCK_SIZE, 4);
    const expected = allocatedBytes(dir, tokens);
    if (answer === expected) continue;
    const unrounded = tokens * solution.kvBytesPerToken(config, 4);
    const why =
      answer === unrounded
        ? ': the cache hands out whole blocks, so round tokens up to a multiple of blockSize'
        : ` (${Math.ceil(tokens / BLOCK_SIZE)} blocks of ${BLOCK_SIZE} tokens, fp32)`;
    return `a ${tokens}-token sequence: got ${thousands(answer)}, the allocator reserves ${thousands(expected)} bytes${why}`;
  }
  return undefined;
}

/** A multi-head-attention checkpoint: Llama-2-7B's shape, whose config.json has no num_key_value_heads. */
const { num_key_value_heads: _absent, ...TINYLLAMA_WITHOUT_KV_HEADS } = RANDOM_SHAPES['tinyllama-1.1b'];
const LLAMA2_7B: HfConfig = {
  ...TINYLLAMA_WITHOUT_KV_HEADS,
  hidden_size: 4096,
  intermediate_size: 11008,
  num_hidden_layers: 32,
  num_attention_heads: 32,
  max_position_embeddings: 4096,
};

export const CHECKS: Check<KvSizing>[] = [
  {
    title: 'bundled fortune-llama (8 query heads share 4 KV heads): per token = dhw model inspect',
    run: (s) => checkCheckpoint(s, defaultModelDir),
  },
  {
    title: 'fixture llama-gqa-untied (grouped-query: 4 query heads, 2 KV heads)',
    run: (s) => checkCheckpoint(s, fixture('llama-gqa-untied')),
  },
  {
    title: 'fixture llama3-ropescaling-bf16 (multi-query: 1 KV head; stored as bf16)',
    run: (s) => checkCheckpoint(s, fixture('llama3-ropescaling-bf16')),
  },
  {
    title: 'fixture qwen2-bias-tied (its config.json has no head_dim)',
    run: (s) => checkCheckpoint(s, fixture('qwen2-bias-tied')),
  },
  {
    title: 'published shapes at bf16: SmolLM2-135M (3 KV heads), TinyLlama-1.1B (no head_dim)',
    run: (s) =>
      checkShape(s, RANDOM_SHAPES['smollm2-135m'], 2) ?? checkShape(s, RANDOM_SHAPES['tinyllama-1.1b'], 2),
  },
  {
    title: 'multi-head attention, no num_key_value_heads in config.json (Llama-2-7B shape, fp16)',
    run: (s) => checkShape(s, LLAMA2_7B, 2),
  },
  {
    title: `paged cache: bytes reserved for ${SEQUENCE_LENGTHS.join(', ')} tokens in ${BLOCK_SIZE}-token blocks = what the allocator allocates`,
    run: (s) =>
      checkPagedPool(s, defaultModelDir) ??
      checkPagedPool(s, fixture('llama-gqa-untied')) ??
      checkPagedPool(s, fixture('qwen2-bias-tied')),
  },
];

export async function checkKvSizing(path: string): Promise<CheckResult[]> {
  const solution = await loadSolution<KvSizing>(path, ['kvBytesPerToken', 'kvBytesForTokens']);
  return runChecks(CHECKS, solution);
}

if (isMain(import.meta.url)) await checkMain(import.meta.url, checkKvSizing);
