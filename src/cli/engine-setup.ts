/**
 * Turns CLI flags into engine options and sampling parameters, so `serve`, `generate` and `chat` share one
 * spelling and one set of defaults. Also resolves the model folder: a positional path, `--model`, or the
 * bundled fortune-llama.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { EngineOptions } from '../engine/llm-engine.ts';
import { parseByteSize } from '../kv/sizes.ts';
import { ggufFileFor, ggufModelFolder } from '../model/index.ts';
import { DEFAULT_SAMPLING, type SamplingParams, type StoppingParams } from '../protocols/engine.ts';
import { DhwError } from '../util/errors.ts';
import { defaultModelDir } from '../util/paths.ts';
import { numberFlag, type ParsedCommand, stringFlag, UsageError } from './args.ts';
import { loadProgressBar } from './load-progress.ts';
import { tpOptionsFromFlags } from './tp-flags.ts';

/**
 * The model folder a path means: a Hugging Face checkpoint folder as is; a `.gguf` file (or a folder holding
 * one .gguf and no safetensors) as the folder derived from its metadata (gguf-model-folder.ts), so every
 * command serves a GGUF like a checkpoint folder.
 */
export function resolveModelDir(path: string | undefined): string {
  const dir = resolve(path ?? defaultModelDir);
  const gguf = ggufFileFor(dir);
  // A folder that already has the files a frontend reads (e.g. a derived folder handed to a child worker)
  // is used as is; loadModel still finds its .gguf.
  const complete = existsSync(resolve(dir, 'config.json')) && existsSync(resolve(dir, 'tokenizer.json'));
  if (gguf && !complete) return ggufModelFolder(gguf);
  if (!existsSync(resolve(dir, 'config.json'))) {
    throw new DhwError(
      `No model at ${dir}: config.json is missing. Pass a Hugging Face checkpoint folder (config.json + ` +
        'model.safetensors + tokenizer.json), a .gguf file (or a folder holding one), or leave the path out ' +
        'to use the bundled models/fortune-llama.',
    );
  }
  return dir;
}

/** The model folder from `--model`, else the positional path, else the bundled model. */
export function modelDirFromFlags(values: ParsedCommand['values'], positional: string | undefined): string {
  return resolveModelDir(stringFlag(values, 'model') ?? positional);
}

export function engineOptionsFromFlags(values: ParsedCommand['values'], modelDir: string): EngineOptions {
  const memory = stringFlag(values, 'kv-cache-memory');
  let kvCacheMemoryBytes: number | undefined;
  if (memory !== undefined) {
    try {
      kvCacheMemoryBytes = parseByteSize(memory);
    } catch (err) {
      throw new UsageError(`--kv-cache-memory: ${(err as Error).message}`);
    }
  }
  return {
    modelDir,
    blockSize: numberFlag(values, 'block-size', { integer: true, min: 1 }),
    numKvBlocks: numberFlag(values, 'num-kv-blocks', { integer: true, min: 1 }),
    kvCacheMemoryBytes,
    maxNumSeqs: numberFlag(values, 'max-num-seqs', { integer: true, min: 1 }),
    maxNumBatchedTokens: numberFlag(values, 'max-num-batched-tokens', { integer: true, min: 1 }),
    enablePrefixCaching: values['no-prefix-caching'] !== true,
    threads: numberFlag(values, 'threads', { integer: true, min: 1 }),
    weightDtype: weightDtypeFlag(values),
    relaxedSimd: values['relaxed-simd'] === true ? true : undefined,
    onLoadProgress: loadProgressBar(values.json === true),
    ...tpOptionsFromFlags(values),
    ...pipelineOptionsFromFlags(values),
  };
}

/** `--pipeline-parallel-size`, `--pipeline-micro-batches`, and (dhw worker) `--pipeline-stage-addresses`. */
function pipelineOptionsFromFlags(values: ParsedCommand['values']): Partial<EngineOptions> {
  const size = numberFlag(values, 'pipeline-parallel-size', { integer: true, min: 1 });
  const microBatches = numberFlag(values, 'pipeline-micro-batches', { integer: true, min: 1 });
  const addresses = stringFlag(values, 'pipeline-stage-addresses');
  const options: Partial<EngineOptions> = {};
  if (size !== undefined && size > 1) options.pipelineParallelSize = size;
  if (microBatches !== undefined) options.pipelineMicroBatches = microBatches;
  if (addresses !== undefined) {
    if ((size ?? 1) < 2)
      throw new UsageError('--pipeline-stage-addresses needs --pipeline-parallel-size 2 or more');
    options.pipelineStageAddresses = addresses.split(',').map((a) => a.trim());
  }
  return options;
}

function weightDtypeFlag(values: ParsedCommand['values']): EngineOptions['weightDtype'] {
  const dtype = stringFlag(values, 'weight-dtype');
  if (dtype === undefined || dtype === 'f32' || dtype === 'q8_0') return dtype;
  throw new UsageError(`--weight-dtype must be f32 or q8_0, got ${dtype}`);
}

export function samplingFromFlags(values: ParsedCommand['values']): SamplingParams {
  const num = (name: string, fallback: number) => numberFlag(values, name) ?? fallback;
  return {
    temperature: num('temperature', 0),
    topP: num('top-p', DEFAULT_SAMPLING.topP),
    topK: num('top-k', DEFAULT_SAMPLING.topK),
    minP: num('min-p', DEFAULT_SAMPLING.minP),
    seed: numberFlag(values, 'seed', { integer: true }),
    repetitionPenalty: num('repetition-penalty', DEFAULT_SAMPLING.repetitionPenalty),
    presencePenalty: num('presence-penalty', DEFAULT_SAMPLING.presencePenalty),
    frequencyPenalty: num('frequency-penalty', DEFAULT_SAMPLING.frequencyPenalty),
  };
}

export function stoppingFromFlags(values: ParsedCommand['values'], eosTokenIds: number[]): StoppingParams {
  return {
    maxTokens: numberFlag(values, 'max-tokens', { integer: true, min: 1 }) ?? 128,
    stopTokenIds: eosTokenIds,
    ignoreEos: values['ignore-eos'] === true,
  };
}
