/**
 * `dhw worker` flags and specs of the external engines (docs/engines.md): `--engine llamacpp` (a GGUF file
 * through node-llama-cpp) and `--engine openai` (any OpenAI-compatible server). Kept apart from worker.ts
 * so the in-house engines' flags stay where they were.
 */
import { existsSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { ggufModelFolder } from '../../model/index.ts';
import { DhwError } from '../../util/errors.ts';
import type { WorkerEngineSpec } from '../../worker/index.ts';
import { numberFlag, type ParsedCommand, stringFlag, UsageError } from '../args.ts';
import { resolveModelDir } from '../engine-setup.ts';

export const EXTERNAL_ENGINE_FLAGS = {
  tokenizer: {
    type: 'string' as const,
    help:
      "llamacpp: folder with the GGUF model's tokenizer.json, for frontends (default: the GGUF's folder, " +
      'else one rebuilt from the GGUF metadata)',
  },
  upstream: {
    type: 'string' as const,
    help: 'openai: the OpenAI-compatible server to relay to, e.g. http://127.0.0.1:8000 (vLLM, SGLang, dhw frontend)',
  },
  'upstream-model': {
    type: 'string' as const,
    help: 'openai: model name at the upstream (default: its first model)',
  },
  'upstream-prompt': {
    type: 'string' as const,
    default: 'auto',
    help: 'openai: how prompts travel: auto (probe once) | tokens (token-id list) | text',
  },
  'upstream-api-key': { type: 'string' as const, help: 'openai: bearer token the upstream wants' },
};

type Values = ParsedCommand['values'];

/** The spec of `--engine llamacpp|openai`, or undefined for the other engines. */
export function externalEngineSpec(
  kind: string,
  values: Values,
  positional: string | undefined,
): WorkerEngineSpec | undefined {
  if (kind === 'llamacpp') return llamaCppSpec(values, positional);
  if (kind === 'openai') return openAiSpec(values, positional);
  return undefined;
}

function llamaCppSpec(values: Values, positional: string | undefined): WorkerEngineSpec {
  const model = stringFlag(values, 'model') ?? positional;
  if (
    model === undefined ||
    !model.toLowerCase().endsWith('.gguf') ||
    !existsSync(model) ||
    !statSync(model).isFile()
  ) {
    throw new UsageError(
      `--engine llamacpp needs --model FILE.gguf (an existing GGUF file), got ${JSON.stringify(model ?? null)}. ` +
        'Export ours with `dhw model convert --to gguf --out fortune.gguf`.',
    );
  }
  const ggufFile = resolve(model);
  const tokenizer = stringFlag(values, 'tokenizer') ?? tokenizerFolderFor(ggufFile);
  if (!existsSync(join(tokenizer, 'tokenizer.json'))) {
    throw new DhwError(
      `no tokenizer.json in ${tokenizer}: frontends tokenize for this worker. Pass --tokenizer DIR, the Hugging ` +
        'Face folder the GGUF came from (e.g. models/fortune-llama for `dhw model convert` exports).',
    );
  }
  const int = (name: string) => numberFlag(values, name, { integer: true, min: 1 });
  return {
    kind: 'llamacpp',
    modelDir: resolve(tokenizer),
    options: {
      ggufFile,
      modelName: stringFlag(values, 'served-model-name'),
      blockSize: int('block-size'),
      numKvBlocks: int('num-kv-blocks'),
      maxNumSeqs: int('max-num-seqs'),
      maxNumBatchedTokens: int('max-num-batched-tokens'),
      enablePrefixCaching: values['no-prefix-caching'] !== true,
      threads: int('threads'),
    },
  };
}

function openAiSpec(values: Values, positional: string | undefined): WorkerEngineSpec {
  const upstream = stringFlag(values, 'upstream');
  if (upstream === undefined) {
    throw new UsageError('--engine openai needs --upstream URL, e.g. --upstream http://127.0.0.1:8000');
  }
  const format = stringFlag(values, 'upstream-prompt') ?? 'auto';
  if (!['auto', 'tokens', 'text'].includes(format)) {
    throw new UsageError(`--upstream-prompt must be auto, tokens or text, got ${JSON.stringify(format)}`);
  }
  // --model is the tokenizer's folder here, as for the mocker.
  const modelDir = resolveModelDir(stringFlag(values, 'model') ?? positional);
  const int = (name: string) => numberFlag(values, name, { integer: true, min: 1 });
  return {
    kind: 'openai',
    modelDir,
    options: {
      upstream,
      tokenizerDir: modelDir,
      upstreamModel: stringFlag(values, 'upstream-model'),
      modelName: stringFlag(values, 'served-model-name'),
      apiKey: stringFlag(values, 'upstream-api-key'),
      ...(format === 'auto' ? {} : { promptFormat: format as 'tokens' | 'text' }),
      blockSize: int('block-size'),
      numKvBlocks: int('num-kv-blocks'),
      maxNumSeqs: int('max-num-seqs'),
      enablePrefixCaching: values['no-prefix-caching'] !== true,
    },
  };
}

/**
 * Where frontends get this GGUF's tokenizer when no --tokenizer is given: a tokenizer.json beside the file
 * (a Hugging Face folder holding its export), else one rebuilt from the GGUF's own metadata
 * (`tokenizer.ggml.*`, the way `dhw generate FILE.gguf` does), so a GGUF downloaded on its own serves too.
 */
function tokenizerFolderFor(ggufFile: string): string {
  const beside = dirname(ggufFile);
  if (existsSync(join(beside, 'tokenizer.json'))) return beside;
  try {
    return ggufModelFolder(ggufFile);
  } catch (err) {
    throw new DhwError(
      `no tokenizer.json beside ${ggufFile}, and its GGUF metadata gave none (${(err as Error).message}). ` +
        'Pass --tokenizer DIR, the Hugging Face folder the GGUF came from.',
    );
  }
}
