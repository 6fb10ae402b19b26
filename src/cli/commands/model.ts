/**
 * `dhw model ...`: tools for checkpoints, like `df`/`tar`/`dd` for models.
 *   inspect DIR                 parameters, bytes, and what each token of context costs in KV cache memory
 *   convert DIR --to gguf       export to llama.cpp's GGUF (f32, f16 or q8_0)
 *   random --shape S --out DIR  write a random-weight checkpoint of a real model's shape (for benchmarks)
 */
import { existsSync, mkdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import {
  convertToGguf,
  describeModel,
  type GgufExportDtype,
  type ModelDescription,
  RANDOM_SHAPES,
  type RandomShape,
  writeRandomCheckpointAsync,
  CheckpointWriteAborted,
  ggufFileFor,
} from '../../model/index.ts';
import { DhwError } from '../../util/errors.ts';
import { formatBytes } from '../../util/format.ts';
import { startProgress } from '../../util/progress.ts';
import { formatHelp, LOGGING_FLAGS, numberFlag, parseCommand, stringFlag, UsageError } from '../args.ts';
import type { Command } from '../command.ts';
import { resolveModelDir } from '../engine-setup.ts';

const INSPECT_FLAGS = { ...LOGGING_FLAGS, json: { type: 'boolean' as const, help: 'print one JSON object' } };
const CONVERT_FLAGS = {
  ...LOGGING_FLAGS,
  to: { type: 'string' as const, default: 'gguf', help: 'output format (only gguf)' },
  out: {
    type: 'string' as const,
    help: 'output file (default: ~/.cache/dhw/gguf/<name>-<dtype>.gguf, outside the model folder)',
  },
  dtype: { type: 'string' as const, default: 'f32', help: 'f32 | f16 | q8_0 (norms stay f32)' },
};
const RANDOM_FLAGS = {
  ...LOGGING_FLAGS,
  shape: { type: 'string' as const, help: Object.keys(RANDOM_SHAPES).join(' | ') },
  out: { type: 'string' as const, help: 'output folder (created)' },
  seed: { type: 'string' as const, default: '0', help: 'same seed → same weights' },
  dtype: { type: 'string' as const, default: 'f32', help: 'f32 | bf16' },
};

const SUBCOMMANDS = {
  inspect: {
    usage: 'dhw model inspect [DIR] [--json]',
    about: "Print a checkpoint's architecture, size and KV memory cost.",
    flags: INSPECT_FLAGS,
  },
  convert: {
    usage: 'dhw model convert [DIR] --to gguf [--out FILE] [--dtype f32|f16|q8_0]',
    about: 'Export a Hugging Face Llama checkpoint to a GGUF file that llama.cpp loads (and `dhw` too).',
    flags: CONVERT_FLAGS,
  },
  random: {
    usage: 'dhw model random --shape smollm2-135m|tinyllama-1.1b --out DIR [--seed 0] [--dtype f32|bf16]',
    about: 'Write a random-weight checkpoint of a real model shape (for benchmarks; its text is noise).',
    flags: RANDOM_FLAGS,
  },
} as const;
type Subcommand = keyof typeof SUBCOMMANDS;

function printDescription(d: ModelDescription): void {
  const rows: [string, string][] = [
    ['path', d.dir],
    ['architecture', d.architecture],
    ['parameters', `${d.parameters.toLocaleString('en-US')} (${(d.parameters / 1e6).toFixed(2)}M)`],
    ['bytes on disk', `${formatBytes(d.bytesOnDisk)} (${d.dtype})`],
    ['layers', String(d.layers)],
    ['hidden size', String(d.hidden)],
    ['MLP size', String(d.intermediate)],
    ['attention heads', `${d.heads} query / ${d.kvHeads} KV (head_dim ${d.headDim})`],
    ['vocabulary', String(d.vocab)],
    ['context length', String(d.contextLength)],
    ['tied LM head', d.tieWordEmbeddings ? 'yes' : 'no'],
    ['RoPE', d.rope],
    ['EOS token ids', d.eosTokenIds.join(', ') || '(none)'],
    [
      'KV bytes per token',
      `${formatBytes(d.kvBytesPerToken.fp32)} as we store it (fp32), ${formatBytes(d.kvBytesPerToken.checkpointDtype)} at ${d.dtype}`,
    ],
    [
      'KV bytes at full context',
      `${formatBytes(d.kvBytesAtFullContext.fp32)} (fp32), ${formatBytes(d.kvBytesAtFullContext.checkpointDtype)} (${d.dtype}) per sequence of ${d.contextLength} tokens`,
    ],
  ];
  for (const [k, v] of rows) console.log(`${k.padEnd(26)} ${v}`);
  console.log('\nKV bytes per token = 2 (K and V) × layers × KV heads × head_dim × bytes per value');
}

async function inspect(values: Record<string, unknown>, positionals: string[]): Promise<void> {
  const description = await describeModel(resolveModelDir(positionals[0]));
  if (values.json) console.log(JSON.stringify(description));
  else printDescription(description);
}

async function convert(
  values: Record<string, string | boolean | undefined>,
  positionals: string[],
): Promise<void> {
  if (stringFlag(values, 'to') !== 'gguf')
    throw new UsageError(`--to must be gguf, got ${String(values.to)}`);
  const dtype = stringFlag(values, 'dtype') ?? 'f32';
  if (!['f32', 'f16', 'q8_0'].includes(dtype))
    throw new UsageError(`--dtype must be f32, f16 or q8_0, got ${dtype}`);
  if (positionals[0] && ggufFileFor(resolve(positionals[0]))) {
    throw new UsageError(`${positionals[0]} is already GGUF; convert takes a Hugging Face checkpoint folder`);
  }
  const dir = resolveModelDir(positionals[0]);
  // Default: the user's cache, never inside the model folder (which may be the repository's bundled model).
  const out = resolve(
    stringFlag(values, 'out') ?? join(homedir(), '.cache', 'dhw', 'gguf', `${basename(dir)}-${dtype}.gguf`),
  );
  mkdirSync(dirname(out), { recursive: true });
  const started = performance.now();
  const result = await convertToGguf(dir, { dtype: dtype as GgufExportDtype, out });
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  console.log(
    `wrote ${result.file}: ${result.tensors} tensors, ${formatBytes(result.bytes)} (${dtype}) in ${seconds} s`,
  );
}

async function random(values: Record<string, string | boolean | undefined>): Promise<void> {
  const shape = stringFlag(values, 'shape');
  if (!shape || !(shape in RANDOM_SHAPES)) {
    throw new UsageError(
      `--shape must be one of ${Object.keys(RANDOM_SHAPES).join(', ')}, got ${String(shape)}`,
    );
  }
  const out = stringFlag(values, 'out');
  if (!out) throw new UsageError('--out DIR is required');
  if (existsSync(resolve(out, 'config.json'))) {
    throw new DhwError(`${resolve(out)} already holds a checkpoint (config.json); pick an empty folder`);
  }
  const dtype = stringFlag(values, 'dtype') ?? 'f32';
  if (dtype !== 'f32' && dtype !== 'bf16') throw new UsageError(`--dtype must be f32 or bf16, got ${dtype}`);
  const started = performance.now();
  // A progress display (a TinyLlama-shaped checkpoint is 4.4 GB); Ctrl-C removes what was written.
  const progress = startProgress({ label: `writing ${shape}`, total: 0, unit: 'bytes' });
  const stop = new AbortController();
  const onInterrupt = () => stop.abort();
  process.once('SIGINT', onInterrupt);
  process.once('SIGTERM', onInterrupt);
  let result: Awaited<ReturnType<typeof writeRandomCheckpointAsync>>;
  try {
    result = await writeRandomCheckpointAsync(
      resolve(out),
      {
        shape: shape as RandomShape,
        seed: numberFlag(values, 'seed', { integer: true, min: 0 }) ?? 0,
        dtype: dtype === 'bf16' ? 'BF16' : 'F32',
      },
      {
        signal: stop.signal,
        onProgress: ({ doneBytes, totalBytes }) => {
          progress.setTotal(totalBytes);
          progress.update(doneBytes);
        },
      },
    );
  } catch (err) {
    if (err instanceof CheckpointWriteAborted)
      throw new DhwError(`${err.message}; nothing was written to ${resolve(out)}`);
    throw err;
  } finally {
    progress.stop();
    process.off('SIGINT', onInterrupt);
    process.off('SIGTERM', onInterrupt);
  }
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  console.log(
    `wrote ${result.dir}: ${shape}, ${(result.parameters / 1e6).toFixed(1)}M parameters, ` +
      `${result.shards.length} shard(s), ${formatBytes(result.bytes)} (${dtype}) in ${seconds} s`,
  );
}

export const modelCommand: Command = {
  name: 'model',
  summary: 'checkpoint tools: `dhw model inspect|convert|random`',
  async run(argv) {
    const [sub, ...rest] = argv;
    if (!sub || sub === '--help' || sub === '-h') {
      console.log(
        Object.values(SUBCOMMANDS)
          .map((s) => `${s.usage}\n    ${s.about}`)
          .join('\n'),
      );
      return 0;
    }
    if (!(sub in SUBCOMMANDS)) {
      throw new UsageError(
        `unknown subcommand "model ${sub}"; available: ${Object.keys(SUBCOMMANDS).join(', ')}`,
      );
    }
    const spec = SUBCOMMANDS[sub as Subcommand];
    const { values, positionals } = parseCommand(rest, spec.flags);
    if (values.help) {
      console.log(formatHelp(spec.usage, spec.about, spec.flags));
      return 0;
    }
    if (sub === 'inspect') await inspect(values, positionals);
    else if (sub === 'convert') await convert(values, positionals);
    else await random(values);
    return 0;
  },
};
