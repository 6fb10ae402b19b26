/**
 * `dhw model inspect DIR`: a checkpoint's vital statistics, like `df`/`du` for a model — parameters, bytes,
 * and what each token of context costs in KV cache memory.
 */
import { describeModel, type ModelDescription } from '../../model/index.ts';
import { formatHelp, LOGGING_FLAGS, parseCommand, UsageError } from '../args.ts';
import type { Command } from '../command.ts';
import { resolveModelDir } from '../engine-setup.ts';
import { formatBytes } from '../format.ts';

const FLAGS = { ...LOGGING_FLAGS, json: { type: 'boolean' as const, help: 'print one JSON object' } };
const USAGE = 'dhw model inspect [DIR] [--json]';

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

export const modelCommand: Command = {
  name: 'model',
  summary: 'inspect a checkpoint: `dhw model inspect DIR`',
  async run(argv) {
    const [sub, ...rest] = argv;
    if (!sub || sub === '--help' || sub === '-h') {
      console.log(formatHelp(USAGE, "Print a checkpoint's architecture, size and KV memory cost.", FLAGS));
      return 0;
    }
    if (sub !== 'inspect') throw new UsageError(`unknown subcommand "model ${sub}"; available: inspect`);
    const { values, positionals } = parseCommand(rest, FLAGS);
    if (values.help) {
      console.log(formatHelp(USAGE, "Print a checkpoint's architecture, size and KV memory cost.", FLAGS));
      return 0;
    }
    const description = await describeModel(resolveModelDir(positionals[0]));
    if (values.json) console.log(JSON.stringify(description));
    else printDescription(description);
    return 0;
  },
};
