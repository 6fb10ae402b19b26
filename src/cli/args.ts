/**
 * Flag parsing for `dhw` commands: typed options with defaults, validated with messages that name the fix.
 * Built on node:util parseArgs (no dependency). Each command declares its flags; shared groups (engine,
 * sampling) are declared once here so every command spells them the same way.
 */
import { parseArgs } from 'node:util';
import { DhwError } from '../util/errors.ts';
import { closest } from './suggest.ts';

/** A usage error: the CLI prints the message and the command's help, exits 2. */
export class UsageError extends DhwError {}

type FlagSpec = { type: 'string' | 'boolean'; short?: string; default?: string | boolean; help: string };
export type FlagSpecs = Record<string, FlagSpec>;

export const LOGGING_FLAGS: FlagSpecs = {
  'log-level': { type: 'string', default: 'info', help: 'debug | info | warn | error' },
  'log-format': { type: 'string', default: 'text', help: 'text | json (one JSON object per line)' },
  help: { type: 'boolean', short: 'h', help: 'show this help' },
};

/** The checkpoint folder, for every command that loads a model. */
export const MODEL_FLAGS: FlagSpecs = {
  model: {
    type: 'string',
    help: 'checkpoint folder, or a .gguf file (or a folder holding one) (default: models/fortune-llama)',
  },
};

/** Tensor parallelism (vLLM's `--tensor-parallel-size`); parsed by tp-flags.ts. */
export const TP_FLAGS: FlagSpecs = {
  'tensor-parallel-size': {
    type: 'string',
    help: 'split the model over N ranks (heads and MLP columns; default 1). Legal sizes depend on the head counts',
  },
  'tp-transport': {
    type: 'string',
    help: 'threads (ranks share memory; default) | tcp (rank processes, ring all-reduce)',
  },
  'tp-peers': {
    type: 'string',
    help: 'tcp: HOST:PORT of every rank, rank 0 (this one) first; without it local rank processes are started',
  },
  'tp-host': { type: 'string', help: 'tcp: address this rank binds (default: its --tp-peers host)' },
  'tp-timeout': {
    type: 'string',
    help: 'seconds a rank may keep the others waiting before the group fails (30)',
  },
};

/** How the engine sizes and schedules its work (vLLM's flag names). */
export const ENGINE_FLAGS: FlagSpecs = {
  'block-size': { type: 'string', default: '16', help: 'tokens per KV cache block' },
  'kv-cache-memory': {
    type: 'string',
    help: 'KV cache memory budget, e.g. 512MiB (default: room for max-num-seqs full contexts, capped at 256MiB)',
  },
  'num-kv-blocks': { type: 'string', help: 'KV cache size as a block count (overrides --kv-cache-memory)' },
  'max-num-seqs': { type: 'string', default: '64', help: 'most sequences running at once' },
  'max-num-batched-tokens': {
    type: 'string',
    default: '2048',
    help: 'token budget of one engine step (chunked prefill above it)',
  },
  'no-prefix-caching': { type: 'boolean', help: 'disable reuse of cached prompt prefixes' },
  threads: { type: 'string', help: 'threads computing matmuls, this one included (default: the core count)' },
  'weight-dtype': {
    type: 'string',
    default: 'f32',
    help: 'f32 (exact) | q8_0 (int8 blocks: ~4x less memory)',
  },
  'relaxed-simd': {
    type: 'boolean',
    help: 'fused multiply-add matmul kernels (WebAssembly relaxed SIMD): faster prefill, logits differ in the last bits',
  },
  ...TP_FLAGS,
  'pipeline-parallel-size': {
    type: 'string',
    default: '1',
    help: 'split the layers over N pipeline stages: this process + N-1 stage processes (spawned here)',
  },
  'pipeline-micro-batches': {
    type: 'string',
    help: 'micro-batches per engine step with pipeline stages (default: the stage count)',
  },
};

/** Per-request sampling, named as in vLLM / OpenAI. */
export const SAMPLING_FLAGS: FlagSpecs = {
  temperature: { type: 'string', default: '0', help: '0 = greedy' },
  'top-p': { type: 'string', default: '1', help: 'nucleus sampling threshold' },
  'top-k': { type: 'string', default: '0', help: 'keep the k most likely tokens (0 = off)' },
  'min-p': { type: 'string', default: '0', help: 'drop tokens below min-p × the top probability' },
  seed: { type: 'string', help: 'random seed (same seed → same output)' },
  'repetition-penalty': { type: 'string', default: '1', help: '>1 discourages repeats' },
  'presence-penalty': { type: 'string', default: '0', help: 'OpenAI presence penalty' },
  'frequency-penalty': { type: 'string', default: '0', help: 'OpenAI frequency penalty' },
  'max-tokens': { type: 'string', default: '128', help: 'most tokens to generate' },
  'ignore-eos': { type: 'boolean', help: 'keep generating past the end-of-sequence token' },
};

export interface ParsedCommand {
  values: Record<string, string | boolean | undefined>;
  positionals: string[];
}

export function parseCommand(argv: string[], specs: FlagSpecs): ParsedCommand {
  const options: Record<string, { type: 'string' | 'boolean'; short?: string; default?: string | boolean }> =
    {};
  for (const [name, spec] of Object.entries(specs)) {
    options[name] = { type: spec.type };
    if (spec.short !== undefined) options[name].short = spec.short;
    if (spec.default !== undefined) options[name].default = spec.default;
  }
  try {
    const { values, positionals } = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
    return { values: values as ParsedCommand['values'], positionals };
  } catch (err) {
    const message = (err as Error).message;
    // parseArgs says "Unknown option '--foo'": offer the closest real flag.
    const unknown = /Unknown option '--([^'=]+)/.exec(message)?.[1];
    const guess = unknown === undefined ? undefined : closest(unknown, Object.keys(specs));
    if (unknown === undefined) throw new UsageError(message);
    throw new UsageError(
      `unknown flag --${unknown}${guess === undefined ? '' : `. Did you mean --${guess}?`}`,
    );
  }
}

export function formatHelp(usage: string, description: string, specs: FlagSpecs): string {
  const lines = [`usage: ${usage}`, '', description, '', 'options:'];
  for (const [name, spec] of Object.entries(specs)) {
    const flag = `${spec.short ? `-${spec.short}, ` : '    '}--${name}${spec.type === 'string' ? ' VALUE' : ''}`;
    const dflt = spec.default !== undefined && spec.default !== false ? ` (default: ${spec.default})` : '';
    lines.push(`  ${flag.padEnd(34)} ${spec.help}${dflt}`);
  }
  return lines.join('\n');
}

/** Read a numeric flag; a non-number is a usage error naming the flag. */
export function numberFlag(
  values: ParsedCommand['values'],
  name: string,
  opts: { integer?: boolean; min?: number } = {},
): number | undefined {
  const raw = values[name];
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (typeof raw !== 'string' || raw.trim() === '' || !Number.isFinite(n)) {
    throw new UsageError(`--${name} must be a number, got ${JSON.stringify(raw)}`);
  }
  if (opts.integer && !Number.isInteger(n)) throw new UsageError(`--${name} must be an integer, got ${raw}`);
  if (opts.min !== undefined && n < opts.min)
    throw new UsageError(`--${name} must be ≥ ${opts.min}, got ${raw}`);
  return n;
}

export function stringFlag(values: ParsedCommand['values'], name: string): string | undefined {
  const raw = values[name];
  return typeof raw === 'string' ? raw : undefined;
}
