/**
 * `dhw trace generate --kind conversation|tool-agent|shared-prefix [...] --out FILE`: write a seeded,
 * Mooncake-format trace of multi-turn sessions (growing per-session prefixes, shared system prompts or tool
 * definitions, think time, Poisson or bursty session starts) for `dhw replay`. Like a traffic generator
 * that writes its session script to a pcap instead of a socket: the same seed, the same file.
 */
import { writeFileSync } from 'node:fs';
import {
  cacheCeiling,
  describeSessionTrace,
  formatDistribution,
  formatTraceLine,
  parseDistribution,
  SESSION_TRACE_KINDS,
  SESSION_TRACE_PRESETS,
  type SessionTraceKind,
  type SessionTraceOptions,
  sessionTrace,
  sessionTraceOptions,
} from '../../replay/index.ts';
import { LOGGING_FLAGS, numberFlag, type ParsedCommand, stringFlag, UsageError } from '../args.ts';
import type { Command } from '../command.ts';
import { beginCommand } from '../command-prologue.ts';

const C = SESSION_TRACE_PRESETS.conversation;
const FLAGS = {
  kind: { type: 'string' as const, help: `${SESSION_TRACE_KINDS.join(' | ')} (required)` },
  out: { type: 'string' as const, help: 'write the JSONL trace here (default: stdout)' },
  sessions: { type: 'string' as const, help: `sessions to generate (conversation: ${C.sessions})` },
  'turns-mean': {
    type: 'string' as const,
    help: `mean turns per session, geometric ≥ 1 (conversation: ${C.turnsMean})`,
  },
  'think-time': {
    type: 'string' as const,
    help: `ms between an answer and the next turn (conversation: ${formatDistribution(C.thinkTimeMs)})`,
  },
  'system-prompt-tokens': {
    type: 'string' as const,
    help: `tokens of the prefix sessions share (conversation: ${C.systemPromptTokens})`,
  },
  'system-prompts': {
    type: 'string' as const,
    help: `distinct shared prefixes (conversation: ${C.systemPrompts})`,
  },
  isl: {
    type: 'string' as const,
    help: `new tokens of a first turn: N | exp:MEAN | lognormal:MEAN,CV | uniform:MIN,MAX (conversation: ${formatDistribution(C.isl)})`,
  },
  'turn-isl': {
    type: 'string' as const,
    help: `new tokens of each later turn (conversation: ${formatDistribution(C.turnIsl)})`,
  },
  osl: {
    type: 'string' as const,
    help: `output tokens per turn (conversation: ${formatDistribution(C.osl)})`,
  },
  arrival: { type: 'string' as const, help: 'session starts: poisson | bursty (conversation: poisson)' },
  rate: { type: 'string' as const, help: `sessions started per second (conversation: ${C.rate})` },
  'burst-size': { type: 'string' as const, help: 'bursty: mean sessions per burst' },
  'max-context': { type: 'string' as const, help: 'a session ends before a prompt longer than this' },
  'timestamp-grid': {
    type: 'string' as const,
    help: 'stamp each request at the start of its slot of MS (default 0: exact; Mooncake conversation: 3000)',
  },
  seed: { type: 'string' as const, help: 'seed (default 0): the same seed and flags give the same file' },
  'trace-block-size': { type: 'string' as const, help: 'tokens per hash id (default 512, as Mooncake)' },
  ...LOGGING_FLAGS,
  'log-level': { ...LOGGING_FLAGS['log-level']!, default: 'warn' },
};
const USAGE =
  'dhw trace generate --kind conversation|tool-agent|shared-prefix [--sessions N] [--turns-mean M]\n' +
  '       [--think-time exp:MS] [--system-prompt-tokens T] [--isl DIST] [--turn-isl DIST] [--osl DIST]\n' +
  '       [--arrival poisson|bursty] [--rate R] [--timestamp-grid MS] [--seed S] [--out FILE]';
const DESCRIPTION =
  'Generate a Mooncake-format trace ({timestamp, input_length, output_length, hash_ids, session_id, delay}\n' +
  'per line) of multi-turn sessions: each turn resends the previous prompt and its output plus new tokens,\n' +
  'sessions share system prompts (tool definitions, documents), turns are separated by think time. Defaults\n' +
  'per kind reproduce the published Mooncake statistics (src/replay/README.md, "Generated traces").';

function int(values: ParsedCommand['values'], name: string, min = 1): number | undefined {
  return numberFlag(values, name, { integer: true, min });
}

function distribution(values: ParsedCommand['values'], name: string) {
  const spec = stringFlag(values, name);
  return spec === undefined ? undefined : parseDistribution(spec, name);
}

function kindFrom(values: ParsedCommand['values']): SessionTraceKind {
  const kind = stringFlag(values, 'kind');
  if (kind === undefined) throw new UsageError(`--kind is required: ${SESSION_TRACE_KINDS.join(', ')}`);
  if (!(SESSION_TRACE_KINDS as readonly string[]).includes(kind)) {
    throw new UsageError(`unknown --kind "${kind}": use ${SESSION_TRACE_KINDS.join(', ')}`);
  }
  return kind as SessionTraceKind;
}

function arrivalFrom(values: ParsedCommand['values']): SessionTraceOptions['arrival'] | undefined {
  const arrival = stringFlag(values, 'arrival');
  if (arrival === undefined || arrival === 'poisson' || arrival === 'bursty') return arrival;
  throw new UsageError(`--arrival must be poisson or bursty, got ${arrival}`);
}

export function traceOptionsFrom(values: ParsedCommand['values']): SessionTraceOptions {
  return sessionTraceOptions(kindFrom(values), {
    sessions: int(values, 'sessions'),
    turnsMean: numberFlag(values, 'turns-mean', { min: 1 }),
    thinkTimeMs: distribution(values, 'think-time'),
    systemPromptTokens: int(values, 'system-prompt-tokens', 0),
    systemPrompts: int(values, 'system-prompts'),
    isl: distribution(values, 'isl'),
    turnIsl: distribution(values, 'turn-isl'),
    osl: distribution(values, 'osl'),
    arrival: arrivalFrom(values),
    rate: numberFlag(values, 'rate', { min: 0 }),
    burstSize: numberFlag(values, 'burst-size', { min: 1 }),
    maxContext: int(values, 'max-context'),
    timestampGridMs: int(values, 'timestamp-grid', 0),
    seed: int(values, 'seed', 0),
    traceBlockSize: int(values, 'trace-block-size'),
  });
}

export const traceCommand: Command = {
  name: 'trace',
  summary: 'generate a Mooncake-format trace of multi-turn sessions (trace generate --kind ...)',
  async run(argv) {
    const parsed = beginCommand(argv, { usage: USAGE, description: DESCRIPTION, flags: FLAGS });
    if (!parsed) return 0;
    const { values, positionals } = parsed;
    const [sub, ...extra] = positionals;
    if (sub !== 'generate') {
      throw new UsageError(
        sub === undefined ? 'missing subcommand: dhw trace generate' : `unknown subcommand "trace ${sub}"`,
      );
    }
    if (extra.length > 0) throw new UsageError(`unexpected arguments: ${extra.join(' ')}`);
    const options = traceOptionsFrom(values);
    const records = sessionTrace(options);
    const text = `${records.map(formatTraceLine).join('\n')}\n`;
    const out = stringFlag(values, 'out');
    if (out === undefined) process.stdout.write(text);
    else writeFileSync(out, text);
    const sessions = new Set(records.map((r) => r.sessionId)).size;
    const input = records.reduce((s, r) => s + r.inputLength, 0) / records.length;
    const output = records.reduce((s, r) => s + r.outputLength, 0) / records.length;
    const spanS = (records.at(-1)!.timestampMs - records[0]!.timestampMs) / 1000;
    const reuse = cacheCeiling(records, {
      blockSize: options.traceBlockSize,
      traceBlockSize: options.traceBlockSize,
      capacityBlocks: Number.POSITIVE_INFINITY,
    }).infiniteHitRate;
    process.stderr.write(
      `${records.length} requests in ${sessions} sessions over ${spanS.toFixed(0)} s ` +
        `(${(records.length / Math.max(spanS, 1e-3)).toFixed(2)} req/s)${out ? ` → ${out}` : ''}\n` +
        `mean input ${input.toFixed(0)} tokens, mean output ${output.toFixed(0)}, ` +
        `reusable prompt blocks ${(100 * reuse).toFixed(1)} % (infinite cache, ${options.traceBlockSize}-token blocks)\n` +
        `reproduce: dhw trace generate ${describeSessionTrace(options)}\n`,
    );
    return 0;
  },
};
