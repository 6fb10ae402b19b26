/**
 * `dhw replay`'s flags → replay options: which policies, which cluster (aggregated or disaggregated), which
 * workload (a trace file or `--synthetic mixed`), which loads (`--sweep`). Every mistake is a `UsageError`
 * that names the flag to fix, raised before anything replays.
 */
import {
  DISAGG_REPLAY_DEFAULTS,
  DISAGG_RULES,
  KV_TRANSFER_MODES,
  MIXED_TRACE_DEFAULTS,
  mixedTrace,
  parseSweep,
  REPLAY_DEFAULTS,
  type ReplayOptions,
  readTrace,
  SIM_MODES,
  type SimMode,
  type SweepSpec,
  SYNTHETIC_WORKLOADS,
  type TraceRecord,
} from '../../replay/index.ts';
import {
  BUILTIN_POLICIES,
  DEFAULT_ROUTER_POLICY,
  isBuiltinPolicy,
  isPolicyPath,
} from '../../router/index.ts';
import { describeLink, type LinkSpec, parseLinkSpec } from '../../util/link-spec.ts';
import { numberFlag, type ParsedCommand, stringFlag, UsageError } from '../args.ts';
import { AGGREGATED_WORKERS, DISAGG_FLAGS, SYNTHETIC_FLAGS } from './replay-flags.ts';

const D = REPLAY_DEFAULTS;
const M = MIXED_TRACE_DEFAULTS;

export function policiesFrom(values: ParsedCommand['values']): string[] {
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

export function int(values: ParsedCommand['values'], name: string, min = 1): number | undefined {
  return numberFlag(values, name, { integer: true, min });
}

/** Flags that were given on the command line (the ones these commands read have no defaults). */
function given(values: ParsedCommand['values'], names: readonly string[]): string[] {
  return names.filter((n) => values[n] !== undefined).map((n) => `--${n}`);
}

/** `--sim fast|exact`, or undefined (the default, which falls back to exact where fast cannot run). */
export function simFrom(values: ParsedCommand['values']): SimMode | undefined {
  const sim = stringFlag(values, 'sim');
  if (sim === undefined) return undefined;
  if (!(SIM_MODES as readonly string[]).includes(sim)) {
    throw new UsageError(`--sim takes ${SIM_MODES.join(' or ')}, got ${JSON.stringify(sim)}`);
  }
  return sim as SimMode;
}

/** Aggregated (`--workers N`) or disaggregated (`--prefill-workers P --decode-workers D`) cluster flags. */
export function clusterFrom(values: ParsedCommand['values']): Partial<ReplayOptions> {
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

export interface Workload {
  /** What the JSON's `trace` names: the file, or "synthetic:mixed". */
  name: string;
  records: TraceRecord[];
  /** The generator's settings, for a synthetic workload. */
  synthetic?: Record<string, number | string>;
}

/** A trace file, or a generated workload (`--synthetic mixed` and its flags); never both. */
export function workloadFrom(
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

export function sweepFrom(values: ParsedCommand['values']): SweepSpec | undefined {
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

export function describeLoad(o: Partial<ReplayOptions>): string {
  const queue = o.routerQueue
    ? `, router queue (threshold ${o.routerQueue.threshold}, ${o.routerQueue.policy ?? 'fcfs'})`
    : '';
  if (o.concurrency !== undefined) return `, closed loop with ${o.concurrency} users${queue}`;
  return (
    (o.timeScale !== undefined && o.timeScale !== D.timeScale ? `, time scale ${o.timeScale}` : '') + queue
  );
}

export function describeCluster(options: Partial<ReplayOptions>): string {
  if (options.prefillWorkers === undefined) return `${options.workers} workers`;
  const link = options.link as LinkSpec;
  return `${options.prefillWorkers} prefill + ${options.decodeWorkers} decode workers (KV link ${describeLink(link)})`;
}
