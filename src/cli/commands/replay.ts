/**
 * `dhw replay TRACE.jsonl`: replay a Mooncake request trace through the real router and N simulated
 * workers in virtual time, and print what the routing policy bought: TTFT / TPOT / ITL / E2E percentiles,
 * throughput, goodput, prefix hit rate and per-worker balance. Like replaying a production access log
 * against a staging load balancer with stub backends; `--compare kv,random` is the bake-off.
 *
 * `--prefill-workers P --decode-workers D` replays a disaggregated cluster instead (KV over `--link`);
 * `--synthetic mixed` replays a generated long/short mix instead of a trace file.
 */
import { writeChartFiles } from '../../util/chart-files.ts';
import {
  DEFAULT_SLO,
  DISAGG_REPLAY_DEFAULTS,
  DISAGG_RULES,
  formatReplayTable,
  formatSweepTable,
  MIXED_TRACE_DEFAULTS,
  KV_TRANSFER_MODES,
  parseSweep,
  renderSweepChart,
  type SweepPoint,
  type SweepSpec,
  mixedTrace,
  REPLAY_DEFAULTS,
  type ReplayMetrics,
  type ReplayOptions,
  type ReplayResult,
  readTrace,
  renderReplayChart,
  resolveReplayOptions,
  runReplay,
  SIM_DEFAULT,
  SIM_MODES,
  type SimMode,
  SYNTHETIC_WORKLOADS,
  sloNote,
  summarizeReplay,
  TraceBlockHasher,
  type TraceRecord,
} from '../../replay/index.ts';
import { describeLink, type LinkSpec, parseLinkSpec } from '../../util/link-spec.ts';
import { startProgress } from '../../util/progress.ts';
import {
  BUILTIN_POLICIES,
  DEFAULT_ROUTER_POLICY,
  isBuiltinPolicy,
  isPolicyPath,
} from '../../router/index.ts';
import { LOGGING_FLAGS, numberFlag, type ParsedCommand, stringFlag, UsageError } from '../args.ts';
import type { Command } from '../command.ts';
import { beginCommand } from '../command-prologue.ts';

const D = REPLAY_DEFAULTS;
const M = MIXED_TRACE_DEFAULTS;
const AGGREGATED_WORKERS = 4;
const SYNTHETIC_FLAGS = ['requests', 'rate', 'long-tokens', 'short-tokens', 'long-fraction', 'output-tokens'];
const DISAGG_FLAGS = [
  'link',
  'kv-bytes-per-token',
  'max-local-prefill-length',
  'max-prefill-queue-size',
  'kv-transfer-mode',
  'kv-layers',
  'disagg-rule',
];
const FLAGS = {
  router: {
    type: 'string' as const,
    default: DEFAULT_ROUTER_POLICY,
    help: `${BUILTIN_POLICIES.join(' | ')} | ./policy.ts`,
  },
  compare: {
    type: 'string' as const,
    help: 'comma-separated policies to run on the same trace, side by side (overrides --router)',
  },
  workers: {
    type: 'string' as const,
    help: `aggregated simulated workers (mockers); default ${AGGREGATED_WORKERS}`,
  },
  'prefill-workers': {
    type: 'string' as const,
    help: 'disaggregated: prefill-only workers (with --decode-workers, instead of --workers)',
  },
  'decode-workers': { type: 'string' as const, help: 'disaggregated: decode workers' },
  link: {
    type: 'string' as const,
    help: `disaggregated: KV link BANDWIDTH[,LATENCY] (default ${DISAGG_REPLAY_DEFAULTS.link})`,
  },
  'kv-bytes-per-token': {
    type: 'string' as const,
    help: `disaggregated: KV bytes per token moved (default ${DISAGG_REPLAY_DEFAULTS.kvBytesPerToken}: Llama-3-8B bf16)`,
  },
  'max-local-prefill-length': {
    type: 'string' as const,
    help: `disaggregated: uncached tokens up to which decode prefills locally (default ${DISAGG_REPLAY_DEFAULTS.maxLocalPrefillLength})`,
  },
  'max-prefill-queue-size': {
    type: 'string' as const,
    help: `disaggregated: remote prefills in flight at which decode prefills locally (default ${DISAGG_REPLAY_DEFAULTS.maxPrefillQueueSize})`,
  },
  'kv-transfer-mode': {
    type: 'string' as const,
    help: `disaggregated: ${KV_TRANSFER_MODES.join(' | ')}: pull after the prefill (default ${DISAGG_REPLAY_DEFAULTS.kvTransferMode}, as live) or stream layer by layer during it`,
  },
  'kv-layers': {
    type: 'string' as const,
    help: `disaggregated, layerwise: model layers (default ${DISAGG_REPLAY_DEFAULTS.kvLayers})`,
  },
  'disagg-rule': {
    type: 'string' as const,
    help: `disaggregated: ${DISAGG_RULES.join(' | ')} (default ${DISAGG_REPLAY_DEFAULTS.disaggRule}: Dynamo's; link-aware also keeps a prompt local when the hand-off costs more than its prefill)`,
  },
  synthetic: {
    type: 'string' as const,
    help: `generate the workload instead of reading TRACE: ${SYNTHETIC_WORKLOADS.join(' | ')}`,
  },
  requests: { type: 'string' as const, help: `synthetic: requests (default ${M.requests})` },
  rate: { type: 'string' as const, help: `synthetic: Poisson arrivals per second (default ${M.rate})` },
  'long-tokens': { type: 'string' as const, help: `synthetic: long prompt tokens (default ${M.longTokens})` },
  'short-tokens': {
    type: 'string' as const,
    help: `synthetic: short prompt tokens (default ${M.shortTokens})`,
  },
  'long-fraction': {
    type: 'string' as const,
    help: `synthetic: share of long prompts, 0..1 (default ${M.longFraction})`,
  },
  'output-tokens': {
    type: 'string' as const,
    help: `synthetic: output tokens per request (default ${M.outputTokens})`,
  },
  'max-requests': { type: 'string' as const, help: 'replay only the first K requests of the trace' },
  concurrency: {
    type: 'string' as const,
    help: "closed loop: N users, each sends its next request (its session's next turn after `delay`) when the last finished; timestamps ignored",
  },
  sweep: {
    type: 'string' as const,
    help: 'run every policy at several loads: time-scale=1,0.5,0.25 or concurrency=8,16,32 (--plot: TTFT/TPOT vs load)',
  },
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
  seed: {
    type: 'string' as const,
    default: String(D.seed),
    help: 'router seed (random picks, tie-breaks); also seeds --synthetic',
  },
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
  sim: {
    type: 'string' as const,
    help:
      `simulator: fast (KV per trace block, decode runs computed at once; aggregated clusters whose block ` +
      `size divides the trace's) or exact (the mocker, every step and engine block); default ${SIM_DEFAULT} ` +
      `(exact where fast cannot run)`,
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
  'dhw replay TRACE.jsonl [--router kv] [--workers 4] [--compare random,round-robin,kv] [--json] [--plot out.svg]\n' +
  '       dhw replay TRACE.jsonl --prefill-workers 2 --decode-workers 6 [--link 25gbit,10us]\n' +
  '       dhw replay --synthetic mixed [--long-tokens 8192 --short-tokens 200 --long-fraction 0.2 --rate 16 --requests 400]\n' +
  '       dhw replay TRACE.jsonl --concurrency 16 | --sweep time-scale=1,0.5,0.25 | --sweep concurrency=8,16,32';
const DESCRIPTION =
  'Replay a Mooncake trace ({timestamp, input_length, output_length, hash_ids} per line) through the real\n' +
  'router and simulated workers (the mocker) in virtual time: no sleeping, deterministic for a seed.\n' +
  'With --prefill-workers/--decode-workers the cluster is disaggregated: long uncached prompts are prefilled\n' +
  'on a prefill worker and their KV moves over the simulated --link (the frontend rule decides, per request).';

function policiesFrom(values: ParsedCommand['values']): string[] {
  const list = stringFlag(values, 'compare') ?? stringFlag(values, 'router') ?? DEFAULT_ROUTER_POLICY;
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

/** Flags that were given on the command line (the ones these commands read have no defaults). */
function given(values: ParsedCommand['values'], names: readonly string[]): string[] {
  return names.filter((n) => values[n] !== undefined).map((n) => `--${n}`);
}

/** `--sim fast|exact`, or undefined (the default, which falls back to exact where fast cannot run). */
function simFrom(values: ParsedCommand['values']): SimMode | undefined {
  const sim = stringFlag(values, 'sim');
  if (sim === undefined) return undefined;
  if (!(SIM_MODES as readonly string[]).includes(sim)) {
    throw new UsageError(`--sim takes ${SIM_MODES.join(' or ')}, got ${JSON.stringify(sim)}`);
  }
  return sim as SimMode;
}

/** Aggregated (`--workers N`) or disaggregated (`--prefill-workers P --decode-workers D`) cluster flags. */
function clusterFrom(values: ParsedCommand['values']): Partial<ReplayOptions> {
  const prefill = int(values, 'prefill-workers');
  const decode = int(values, 'decode-workers');
  const workers = int(values, 'workers');
  if (prefill === undefined && decode === undefined) {
    const stray = given(values, DISAGG_FLAGS);
    if (stray.length > 0) {
      throw new UsageError(
        `${stray.join(', ')} only apply to a disaggregated replay: add --prefill-workers P --decode-workers D`,
      );
    }
    return { workers: workers ?? AGGREGATED_WORKERS };
  }
  if (workers !== undefined) {
    throw new UsageError(
      '--workers is for an aggregated replay; a disaggregated one takes --prefill-workers P --decode-workers D ' +
        '(P + D workers in all), not both',
    );
  }
  if (prefill === undefined || decode === undefined) {
    throw new UsageError(
      'a disaggregated replay needs both --prefill-workers and --decode-workers (≥ 1 each)',
    );
  }
  return {
    prefillWorkers: prefill,
    decodeWorkers: decode,
    link: linkFrom(stringFlag(values, 'link') ?? DISAGG_REPLAY_DEFAULTS.link),
    kvBytesPerToken: int(values, 'kv-bytes-per-token'),
    maxLocalPrefillLength: int(values, 'max-local-prefill-length', 0),
    maxPrefillQueueSize: int(values, 'max-prefill-queue-size', 0),
    kvTransferMode: oneOf(values, 'kv-transfer-mode', KV_TRANSFER_MODES),
    kvLayers: int(values, 'kv-layers', 1),
    disaggRule: oneOf(values, 'disagg-rule', DISAGG_RULES),
  };
}

function oneOf<T extends string>(
  values: ParsedCommand['values'],
  name: string,
  allowed: readonly T[],
): T | undefined {
  const text = stringFlag(values, name);
  if (text === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(text))
    throw new UsageError(`--${name} must be ${allowed.join(' or ')}, got "${text}"`);
  return text as T;
}

function linkFrom(spec: string): LinkSpec {
  try {
    return parseLinkSpec(spec);
  } catch (err) {
    throw new UsageError(`--link: ${(err as Error).message}`);
  }
}

interface Workload {
  /** What the JSON's `trace` names: the file, or "synthetic:mixed". */
  name: string;
  records: TraceRecord[];
  /** The generator's settings, for a synthetic workload. */
  synthetic?: Record<string, number | string>;
}

/** A trace file, or a generated workload (`--synthetic mixed` and its flags); never both. */
function workloadFrom(
  values: ParsedCommand['values'],
  positionals: string[],
  traceBlockSize: number | undefined,
): Workload {
  const [tracePath, ...extra] = positionals;
  if (extra.length > 0) throw new UsageError(`unexpected arguments: ${extra.join(' ')}`);
  const synthetic = stringFlag(values, 'synthetic');
  if (synthetic === undefined) {
    const stray = given(values, SYNTHETIC_FLAGS);
    if (stray.length > 0) throw new UsageError(`${stray.join(', ')} only apply with --synthetic mixed`);
    if (tracePath === undefined) {
      throw new UsageError(
        'give the trace file (dhw replay TRACE.jsonl) or a generated one (--synthetic mixed)',
      );
    }
    return {
      name: tracePath,
      records: readTrace(tracePath, { maxRequests: int(values, 'max-requests'), traceBlockSize }),
    };
  }
  if (tracePath !== undefined)
    throw new UsageError(`give a trace file or --synthetic, not both (got ${tracePath})`);
  if (values['max-requests'] !== undefined) {
    throw new UsageError(
      '--max-requests reads the first K lines of a trace file; with --synthetic use --requests',
    );
  }
  if (!(SYNTHETIC_WORKLOADS as readonly string[]).includes(synthetic)) {
    throw new UsageError(`unknown synthetic workload "${synthetic}": use ${SYNTHETIC_WORKLOADS.join(', ')}`);
  }
  const options = {
    requests: int(values, 'requests') ?? M.requests,
    rate: numberFlag(values, 'rate', { min: 0 }) ?? M.rate,
    longTokens: int(values, 'long-tokens') ?? M.longTokens,
    shortTokens: int(values, 'short-tokens') ?? M.shortTokens,
    longFraction: numberFlag(values, 'long-fraction', { min: 0 }) ?? M.longFraction,
    outputTokens: int(values, 'output-tokens') ?? M.outputTokens,
    seed: int(values, 'seed', 0) ?? M.seed,
  };
  const records = mixedTrace({ ...options, traceBlockSize });
  return { name: `synthetic:${synthetic}`, records, synthetic: { workload: synthetic, ...options } };
}

function sweepFrom(values: ParsedCommand['values']): SweepSpec | undefined {
  const spec = stringFlag(values, 'sweep');
  if (spec === undefined) return undefined;
  const sweep = parseSweep(spec);
  if (values.concurrency !== undefined) {
    throw new UsageError(
      sweep.parameter === 'concurrency'
        ? '--sweep concurrency=... sets the users of each run: drop --concurrency'
        : '--sweep time-scale=... compresses timestamps, which a closed loop ignores: drop --concurrency, or sweep concurrency=...',
    );
  }
  if (sweep.parameter === 'concurrency' && values['time-scale'] !== String(D.timeScale)) {
    throw new UsageError(
      '--time-scale has no effect in a closed-loop sweep (timestamps are ignored): drop it',
    );
  }
  return sweep;
}

function describeLoad(o: Partial<ReplayOptions>): string {
  if (o.concurrency !== undefined) return `, closed loop with ${o.concurrency} users`;
  return o.timeScale !== undefined && o.timeScale !== D.timeScale ? `, time scale ${o.timeScale}` : '';
}

function describeCluster(options: Partial<ReplayOptions>): string {
  if (options.prefillWorkers === undefined) return `${options.workers} workers`;
  const link = options.link as LinkSpec;
  return `${options.prefillWorkers} prefill + ${options.decodeWorkers} decode workers (KV link ${describeLink(link)})`;
}

export const replayCommand: Command = {
  name: 'replay',
  summary: 'replay a request trace through the real router and simulated workers (virtual time)',
  async run(argv) {
    const parsed = beginCommand(argv, { usage: USAGE, description: DESCRIPTION, flags: FLAGS });
    if (!parsed) return 0;
    const { values, positionals } = parsed;
    const policies = policiesFrom(values);
    const cluster = clusterFrom(values);
    const options = {
      ...cluster,
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
      sim: simFrom(values),
      temperature: numberFlag(values, 'router-temperature', { min: 0 }),
    };
    const slo = {
      ttftMs: numberFlag(values, 'slo-ttft-ms', { min: 0 })!,
      tpotMs: numberFlag(values, 'slo-tpot-ms', { min: 0 })!,
    };
    const workload = workloadFrom(values, positionals, options.traceBlockSize);
    const trace = workload.records;
    const hasher = new TraceBlockHasher(
      options.blockSize ?? D.blockSize,
      options.traceBlockSize ?? D.traceBlockSize,
      D.vocabSize,
    );
    const sweepSpec = sweepFrom(values);
    const concurrency = int(values, 'concurrency');
    const loads: Array<Partial<ReplayOptions>> = sweepSpec
      ? sweepSpec.values.map((v) =>
          sweepSpec.parameter === 'concurrency' ? { concurrency: v } : { timeScale: v },
        )
      : [concurrency === undefined ? {} : { concurrency }];
    const results: ReplayResult[] = [];
    const metrics: ReplayMetrics[] = [];
    const points: SweepPoint[] = [];
    for (const [i, load] of loads.entries()) {
      for (const router of policies) {
        const runOptions = { ...options, ...load, router, hasher };
        process.stderr.write(
          `replaying ${trace.length} requests through ${router} on ${describeCluster(cluster)}` +
            ` (${resolveReplayOptions(runOptions).sim} simulator)` +
            `${describeLoad(runOptions)}\n`,
        );
        const progress = startProgress({ label: `replay ${router}`, total: trace.length, unit: 'requests' });
        const result = await runReplay(trace, {
          ...runOptions,
          onProgress: (finished) => progress.update(finished),
        }).finally(() => progress.stop());
        const m = summarizeReplay(result, slo);
        results.push(result);
        metrics.push(m);
        if (sweepSpec) points.push({ value: sweepSpec.values[i]!, metrics: m });
        const simulated = (result.simulatedMs / 1000).toFixed(1);
        process.stderr.write(
          `${router}: ${simulated} s of traffic replayed in ${(result.wallMs / 1000).toFixed(1)} s\n`,
        );
      }
    }
    if (sweepSpec) console.log(formatSweepTable(sweepSpec, points));
    else console.log(formatReplayTable(metrics));
    console.log(sloNote(metrics[0]!));
    const plot = stringFlag(values, 'plot');
    if (plot !== undefined) {
      const title = `Trace replay: ${trace.length} requests`;
      const files = await writeChartFiles(
        plot,
        sweepSpec ? renderSweepChart(sweepSpec, points, title) : renderReplayChart(results, title),
      );
      console.log(`chart written to ${files.svg} and ${files.png}`);
    }
    if (values.json === true) {
      const config = { ...results[0]!.options, router: undefined, policies };
      const runs = sweepSpec
        ? points.map((p) => ({ ...p.metrics, load: { [sweepSpec.parameter]: p.value } }))
        : metrics;
      const report: Record<string, unknown> = { trace: workload.name, requests: trace.length, config, runs };
      if (sweepSpec) report.sweep = sweepSpec;
      if (workload.synthetic) report.workload = workload.synthetic;
      console.log(JSON.stringify(report));
    }
    return 0;
  },
};
