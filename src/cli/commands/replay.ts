/**
 * `dhw replay TRACE.jsonl`: replay a Mooncake request trace through the real router and N simulated
 * workers in virtual time, and print what the routing policy bought: TTFT / TPOT / ITL / E2E percentiles,
 * throughput, goodput, prefix hit rate and per-worker balance. Like replaying a production access log
 * against a staging load balancer with stub backends; `--compare kv,random` is the bake-off.
 */
import { writeFileSync } from 'node:fs';
import {
  DEFAULT_SLO,
  formatReplayTable,
  REPLAY_DEFAULTS,
  type ReplayMetrics,
  type ReplayResult,
  readTrace,
  renderReplayChart,
  runReplay,
  sloNote,
  summarizeReplay,
  TraceBlockHasher,
} from '../../replay/index.ts';
import { BUILTIN_POLICIES, isBuiltinPolicy, isPolicyPath } from '../../router/index.ts';
import { LOGGING_FLAGS, numberFlag, type ParsedCommand, stringFlag, UsageError } from '../args.ts';
import type { Command } from '../command.ts';
import { beginCommand } from '../command-prologue.ts';

const D = REPLAY_DEFAULTS;
const FLAGS = {
  router: {
    type: 'string' as const,
    default: 'kv',
    help: `${BUILTIN_POLICIES.join(' | ')} | ./policy.ts`,
  },
  compare: {
    type: 'string' as const,
    help: 'comma-separated policies to run on the same trace, side by side (overrides --router)',
  },
  workers: { type: 'string' as const, default: '4', help: 'simulated workers (mockers)' },
  'max-requests': { type: 'string' as const, help: 'replay only the first K requests of the trace' },
  'time-scale': {
    type: 'string' as const,
    default: String(D.timeScale),
    help: 'arrival = timestamp × scale (0.5 = same requests in half the time, twice the rate)',
  },
  'speedup-ratio': {
    type: 'string' as const,
    default: String(D.speedupRatio),
    help: 'simulated engine speed: step times from the timing model are divided by it',
  },
  seed: { type: 'string' as const, default: String(D.seed), help: 'router seed (random picks, tie-breaks)' },
  'block-size': { type: 'string' as const, default: String(D.blockSize), help: 'tokens per KV block' },
  'num-kv-blocks': {
    type: 'string' as const,
    default: String(D.numKvBlocks),
    help: 'KV blocks per worker (default = 1,048,576 tokens: an 8-GPU node serving a 70B model)',
  },
  'max-num-seqs': { type: 'string' as const, default: String(D.maxNumSeqs), help: 'sequences per step' },
  'max-num-batched-tokens': {
    type: 'string' as const,
    default: String(D.maxNumBatchedTokens),
    help: 'token budget of one step (chunked prefill above it)',
  },
  'context-length': {
    type: 'string' as const,
    default: String(D.contextLength),
    help: 'longest prompt + output; longer prompts are rejected (counted, not timed)',
  },
  'trace-block-size': {
    type: 'string' as const,
    default: String(D.traceBlockSize),
    help: 'tokens per hash id in the trace',
  },
  'kv-overlap-score-weight': { type: 'string' as const, help: 'kv policies: prefill vs decode weight (1.0)' },
  'router-temperature': { type: 'string' as const, help: 'kv policies: softmax temperature (0 = argmin)' },
  'slo-ttft-ms': {
    type: 'string' as const,
    default: String(DEFAULT_SLO.ttftMs),
    help: 'goodput: TTFT limit',
  },
  'slo-tpot-ms': {
    type: 'string' as const,
    default: String(DEFAULT_SLO.tpotMs),
    help: 'goodput: TPOT limit',
  },
  json: { type: 'boolean' as const, help: 'also print one JSON object (config + metrics per policy) last' },
  plot: { type: 'string' as const, help: 'write an SVG chart (TTFT/E2E CDFs, hit rate over time) here' },
  ...LOGGING_FLAGS,
  'log-level': { ...LOGGING_FLAGS['log-level']!, default: 'warn' },
};
const USAGE =
  'dhw replay TRACE.jsonl [--router kv] [--workers 4] [--compare random,round-robin,kv] [--json] [--plot out.svg]';
const DESCRIPTION =
  'Replay a Mooncake trace ({timestamp, input_length, output_length, hash_ids} per line) through the real\n' +
  'router and simulated workers (the mocker) in virtual time: no sleeping, deterministic for a seed.';

function policiesFrom(values: ParsedCommand['values']): string[] {
  const list = stringFlag(values, 'compare') ?? stringFlag(values, 'router') ?? 'kv';
  const policies = list
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '');
  if (policies.length === 0) throw new UsageError('--compare needs at least one policy name');
  for (const p of policies) {
    if (!isBuiltinPolicy(p) && !isPolicyPath(p)) {
      throw new UsageError(`unknown policy "${p}": use ${BUILTIN_POLICIES.join(', ')} or a ./policy.ts path`);
    }
  }
  return policies;
}

function int(values: ParsedCommand['values'], name: string, min = 1): number | undefined {
  return numberFlag(values, name, { integer: true, min });
}

export const replayCommand: Command = {
  name: 'replay',
  summary: 'replay a request trace through the real router and simulated workers (virtual time)',
  async run(argv) {
    const parsed = beginCommand(argv, { usage: USAGE, description: DESCRIPTION, flags: FLAGS });
    if (!parsed) return 0;
    const { values, positionals } = parsed;
    const [tracePath, ...extra] = positionals;
    if (tracePath === undefined) throw new UsageError('give the trace file: dhw replay TRACE.jsonl');
    if (extra.length > 0) throw new UsageError(`unexpected arguments: ${extra.join(' ')}`);
    const policies = policiesFrom(values);
    const options = {
      workers: int(values, 'workers')!,
      blockSize: int(values, 'block-size'),
      numKvBlocks: int(values, 'num-kv-blocks'),
      maxNumSeqs: int(values, 'max-num-seqs'),
      maxNumBatchedTokens: int(values, 'max-num-batched-tokens'),
      contextLength: int(values, 'context-length'),
      speedupRatio: numberFlag(values, 'speedup-ratio', { min: 0 }), // 0 is refused by runReplay, with the reason
      timeScale: numberFlag(values, 'time-scale', { min: 0 }),
      seed: int(values, 'seed', 0),
      traceBlockSize: int(values, 'trace-block-size'),
      overlapScoreWeight: numberFlag(values, 'kv-overlap-score-weight', { min: 0 }),
      temperature: numberFlag(values, 'router-temperature', { min: 0 }),
    };
    const slo = {
      ttftMs: numberFlag(values, 'slo-ttft-ms', { min: 0 })!,
      tpotMs: numberFlag(values, 'slo-tpot-ms', { min: 0 })!,
    };
    const trace = readTrace(tracePath, {
      maxRequests: int(values, 'max-requests'),
      traceBlockSize: options.traceBlockSize,
    });
    const hasher = new TraceBlockHasher(
      options.blockSize ?? D.blockSize,
      options.traceBlockSize ?? D.traceBlockSize,
      D.vocabSize,
    );
    const results: ReplayResult[] = [];
    const metrics: ReplayMetrics[] = [];
    for (const router of policies) {
      process.stderr.write(
        `replaying ${trace.length} requests through ${router} on ${options.workers} workers\n`,
      );
      const result = await runReplay(trace, { ...options, router, hasher });
      results.push(result);
      metrics.push(summarizeReplay(result, slo));
      const simulated = (result.simulatedMs / 1000).toFixed(1);
      process.stderr.write(
        `${router}: ${simulated} s of traffic replayed in ${(result.wallMs / 1000).toFixed(1)} s\n`,
      );
    }
    console.log(formatReplayTable(metrics));
    console.log(sloNote(metrics[0]!));
    const plot = stringFlag(values, 'plot');
    if (plot !== undefined) {
      writeFileSync(plot, renderReplayChart(results, `Trace replay: ${trace.length} requests`));
      console.log(`chart written to ${plot}`);
    }
    if (values.json === true) {
      const config = { ...results[0]!.options, router: undefined, policies };
      console.log(JSON.stringify({ trace: tracePath, requests: trace.length, config, runs: metrics }));
    }
    return 0;
  },
};
