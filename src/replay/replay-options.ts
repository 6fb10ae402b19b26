/**
 * A replay's options, their defaults, and the checks that turn "options that cannot simulate" into a
 * `ReplayConfigError` before anything runs. Two shapes of cluster:
 *
 *   aggregated      `workers: N`                             every worker prefills and decodes
 *   disaggregated   `prefillWorkers: P, decodeWorkers: D`   P prefill-only workers hand the prompt's KV over a
 *                                                            simulated link (`link`) to D decode workers
 */
import {
  DISAGG_DEFAULTS,
  type DisaggRule,
  type PolicyOptions,
  ROUTER_QUEUE_POLICIES,
  type RouterQueueOptions,
} from '../router/index.ts';
import { type LinkSpec, parseLinkSpec } from '../util/link-spec.ts';
import { ReplayConfigError } from './errors.ts';
import { MOONCAKE_BLOCK_SIZE } from './trace.ts';
import type { TraceBlockHasher } from './trace-tokens.ts';

/** Defaults sized for the Mooncake trace (prompts up to 191k tokens, mean 15k). */
export const REPLAY_DEFAULTS = {
  blockSize: 16,
  /** Dynamo's mocker default: 262,144 tokens of KV per worker (32 GiB of Llama-3-8B bf16 KV at 128 KiB/token). */
  numKvBlocks: 65_536,
  maxNumSeqs: 256,
  /** Dynamo's mocker default token budget per step (chunked prefill above it). */
  maxNumBatchedTokens: 8192,
  /** Long enough for every Mooncake prompt (the longest is 191,378 tokens). */
  contextLength: 262_144,
  speedupRatio: 1,
  timeScale: 1,
  seed: 0,
  vocabSize: 32_000,
  traceBlockSize: MOONCAKE_BLOCK_SIZE,
} as const;

/** Disaggregated defaults: a 25 Gbit/s link with 10 µs latency, Llama-3-8B bf16 KV, Dynamo's decision rule. */
export const DISAGG_REPLAY_DEFAULTS = {
  link: '25gbit,10us',
  /** 32 layers × 8 KV heads × 128 dims × (K + V) × 2 bytes: the mocker's default model. */
  kvBytesPerToken: 131_072,
  /** Llama-3-8B's layers: the granularity of layer-wise streaming. */
  kvLayers: 32,
  /** What the live path does (agent-kv-connector.ts pulls once the prefill is done). */
  kvTransferMode: 'whole',
  /** Dynamo's decision rule. */
  disaggRule: 'dynamo',
  ...DISAGG_DEFAULTS,
} as const;

/** How the prompt's KV crosses the link: after the prefill ('whole') or layer by layer during it. */
export type KvTransferMode = 'whole' | 'layerwise';
export const KV_TRANSFER_MODES: readonly KvTransferMode[] = ['whole', 'layerwise'];
export const DISAGG_RULES: readonly DisaggRule[] = ['dynamo', 'link-aware'];

export interface ReplayOptions {
  /** Routing policy: a built-in name or a policy file path (as `--router`). Disaggregated: both routers. */
  router: string;
  /** Aggregated workers. Give either this or prefillWorkers + decodeWorkers. */
  workers?: number;
  /** Disaggregated: prefill-only workers (≥ 1, with decodeWorkers). */
  prefillWorkers?: number;
  /** Disaggregated: decode workers (≥ 1, with prefillWorkers). */
  decodeWorkers?: number;
  /** Disaggregated: the link KV moves over, as a spec ("25gbit,10us") or parsed. */
  link?: string | LinkSpec;
  /** Disaggregated: KV bytes per prompt token (default 131,072: Llama-3-8B in bf16). */
  kvBytesPerToken?: number;
  /** Disaggregated: uncached prompt tokens at or below which decode prefills locally (Dynamo: 1000). */
  maxLocalPrefillLength?: number;
  /** Disaggregated: queued remote prefills at or above which decode prefills locally (Dynamo: 2). */
  maxPrefillQueueSize?: number;
  /** Disaggregated: 'whole' (default: pull after the prefill, as live) or 'layerwise' (overlap it). */
  kvTransferMode?: KvTransferMode;
  /** Disaggregated, layerwise: the model's layers (default 32). */
  kvLayers?: number;
  /** Disaggregated: 'dynamo' (default) or 'link-aware' (also: remote only if the hand-off costs less). */
  disaggRule?: DisaggRule;
  blockSize?: number;
  numKvBlocks?: number;
  maxNumSeqs?: number;
  maxNumBatchedTokens?: number;
  contextLength?: number;
  /** Simulated speed: step times are divided by it (must be > 0: 0 would mean "no time passes"). */
  speedupRatio?: number;
  /** Arrival time = trace timestamp × timeScale (0.5 = the same requests in half the time). */
  timeScale?: number;
  /**
   * Closed loop instead of timestamps: this many users, each sending its next request (its session's next
   * turn after the turn's `delay`) when the previous one finished (`closed-loop.ts`).
   */
  concurrency?: number;
  seed?: number;
  vocabSize?: number;
  traceBlockSize?: number;
  overlapScoreWeight?: number;
  temperature?: number;
  /** Policy options beyond the flags above (a variant study's knobs: `loadBalanceEpsilon`, `waitSlack`, ...). */
  policyOptions?: PolicyOptions;
  /**
   * The router queue (`--router-queue-threshold`, `--router-queue-policy`): arrivals wait in the router
   * while every worker has a prefill backlog (aggregated replays). Unset = off, as live by default.
   */
  routerQueue?: RouterQueueOptions;
  /** The router's predicted-block overlay (default on; off = overlap from KV events only, as Dynamo). */
  predictBlocks?: boolean;
  /** The router's decision line per request (`[router] route …` with each worker's cost), as live; default off. */
  decisionLog?: 'debug' | 'info' | 'off';
  /** Block-hash memo to share between runs of one trace (e.g. `--compare`); made here when absent. */
  hasher?: TraceBlockHasher;
  /**
   * Simulator: 'exact' runs the mocker (real engine, KV cache per engine block, every step); 'fast' keeps
   * KV per trace block and computes decode runs at once (`fast-run.ts`; aggregated only, and the engine
   * block size must divide the trace's). Default: SIM_DEFAULT.
   */
  sim?: SimMode;
  /** Called as each request finishes (`dhw replay`'s progress bar); not part of the result. */
  onProgress?: (finished: number, total: number) => void;
}

export type SimMode = 'fast' | 'exact';
export const SIM_MODES: readonly SimMode[] = ['fast', 'exact'];
/** The simulator a replay uses when none is named (disaggregated replays and other block sizes: exact). */
export const SIM_DEFAULT: SimMode = 'exact';

/** The disaggregated half of the resolved options (absent in an aggregated run). */
export interface DisaggReplayConfig {
  prefillWorkers: number;
  decodeWorkers: number;
  link: LinkSpec;
  kvBytesPerToken: number;
  maxLocalPrefillLength: number;
  maxPrefillQueueSize: number;
  kvTransferMode: KvTransferMode;
  kvLayers: number;
  rule: DisaggRule;
}

/** Every option with its value; `workers` is the total (P + D when disaggregated). */
export interface ResolvedReplayOptions {
  router: string;
  workers: number;
  blockSize: number;
  numKvBlocks: number;
  maxNumSeqs: number;
  maxNumBatchedTokens: number;
  contextLength: number;
  speedupRatio: number;
  timeScale: number;
  seed: number;
  vocabSize: number;
  traceBlockSize: number;
  /** Set for a closed-loop run only. */
  concurrency?: number;
  disagg?: DisaggReplayConfig;
  /** The router queue with its order spelled out; absent when off. */
  routerQueue?: Required<RouterQueueOptions>;
  /** The simulator this run uses (the default falls back to 'exact' where 'fast' cannot run). */
  sim: SimMode;
}

export function resolveReplayOptions(options: ReplayOptions): ResolvedReplayOptions {
  const o = { ...REPLAY_DEFAULTS, ...definedOnly(options) };
  if (!(o.speedupRatio > 0)) {
    throw new ReplayConfigError(
      `speedup ratio must be > 0 in a virtual-time replay (0 would mean steps take no time), got ${o.speedupRatio}`,
    );
  }
  if (!(o.timeScale >= 0)) throw new ReplayConfigError(`time scale must be ≥ 0, got ${o.timeScale}`);
  const disagg = resolveDisagg(options);
  if (!disagg && options.workers === undefined) {
    throw new ReplayConfigError(
      'give workers (aggregated) or prefillWorkers + decodeWorkers (disaggregated): the replay has no workers',
    );
  }
  const workers = disagg ? disagg.prefillWorkers + disagg.decodeWorkers : options.workers!;
  if (!disagg) checkCount('worker', workers, 'workers');
  const resolved: ResolvedReplayOptions = {
    router: options.router,
    workers,
    blockSize: o.blockSize,
    numKvBlocks: o.numKvBlocks,
    maxNumSeqs: o.maxNumSeqs,
    maxNumBatchedTokens: o.maxNumBatchedTokens,
    contextLength: o.contextLength,
    speedupRatio: o.speedupRatio,
    timeScale: o.timeScale,
    seed: o.seed,
    vocabSize: o.vocabSize,
    traceBlockSize: o.traceBlockSize,
    sim: resolveSim(options.sim, disagg !== undefined, o.blockSize, o.traceBlockSize),
  };
  if (options.concurrency !== undefined) {
    checkCount('user', options.concurrency, 'concurrency');
    resolved.concurrency = options.concurrency;
  }
  if (disagg) resolved.disagg = disagg;
  checkRouterQueue(options.routerQueue, disagg !== undefined);
  if (options.routerQueue) {
    resolved.routerQueue = {
      threshold: options.routerQueue.threshold,
      policy: options.routerQueue.policy ?? 'fcfs',
    };
  }
  return resolved;
}

/** The router queue: a threshold ≥ 0 and a known order, in an aggregated replay. */
function checkRouterQueue(queue: RouterQueueOptions | undefined, disagg: boolean): void {
  if (queue === undefined) return;
  if (disagg) {
    throw new ReplayConfigError(
      'the router queue (--router-queue-threshold) applies to aggregated replays: drop it, or give --workers ' +
        'instead of --prefill-workers/--decode-workers',
    );
  }
  if (!(queue.threshold >= 0) || !Number.isFinite(queue.threshold)) {
    throw new ReplayConfigError(`router queue threshold must be a number ≥ 0, got ${queue.threshold}`);
  }
  if (queue.policy !== undefined && !ROUTER_QUEUE_POLICIES.includes(queue.policy)) {
    throw new ReplayConfigError(
      `router queue policy must be one of ${ROUTER_QUEUE_POLICIES.join(', ')}, got ${String(queue.policy)}`,
    );
  }
}

/** 'fast' where it can run; a named 'fast' that cannot is an error naming why. */
function resolveSim(
  sim: SimMode | undefined,
  disagg: boolean,
  blockSize: number,
  traceBlockSize: number,
): SimMode {
  if (sim !== undefined && !SIM_MODES.includes(sim)) {
    throw new ReplayConfigError(`unknown simulator "${sim}": use ${SIM_MODES.join(' or ')}`);
  }
  const why = disagg
    ? 'a disaggregated replay'
    : traceBlockSize % blockSize !== 0
      ? `block size ${blockSize}, which does not divide the trace block size ${traceBlockSize}`
      : undefined;
  if (why === undefined) return sim ?? SIM_DEFAULT;
  if (sim === 'fast') throw new ReplayConfigError(`the fast simulator cannot run ${why}: use --sim exact`);
  return 'exact';
}

/** The disaggregated settings, or undefined for an aggregated run; refuses mixed or half-given shapes. */
function resolveDisagg(options: ReplayOptions): DisaggReplayConfig | undefined {
  const { prefillWorkers: p, decodeWorkers: d } = options;
  if (p === undefined && d === undefined) {
    const stray = (
      [
        'link',
        'kvBytesPerToken',
        'maxLocalPrefillLength',
        'maxPrefillQueueSize',
        'kvTransferMode',
        'kvLayers',
        'disaggRule',
      ] as const
    ).filter((k) => options[k] !== undefined);
    if (stray.length > 0) {
      throw new ReplayConfigError(
        `${stray.join(', ')} only apply to a disaggregated replay: give prefillWorkers and decodeWorkers too`,
      );
    }
    return undefined;
  }
  if (options.workers !== undefined) {
    throw new ReplayConfigError(
      'give either workers (aggregated) or prefillWorkers + decodeWorkers (disaggregated), not both',
    );
  }
  if (p === undefined || d === undefined) {
    throw new ReplayConfigError(
      'a disaggregated replay needs both prefillWorkers and decodeWorkers (at least one of each)',
    );
  }
  checkCount('prefill worker', p, 'prefillWorkers');
  checkCount('decode worker', d, 'decodeWorkers');
  const D = DISAGG_REPLAY_DEFAULTS;
  const link = options.link ?? D.link;
  const config: DisaggReplayConfig = {
    prefillWorkers: p,
    decodeWorkers: d,
    link: typeof link === 'string' ? parseLink(link) : link,
    kvBytesPerToken: options.kvBytesPerToken ?? D.kvBytesPerToken,
    maxLocalPrefillLength: options.maxLocalPrefillLength ?? D.maxLocalPrefillLength,
    maxPrefillQueueSize: options.maxPrefillQueueSize ?? D.maxPrefillQueueSize,
    kvTransferMode: options.kvTransferMode ?? D.kvTransferMode,
    kvLayers: options.kvLayers ?? D.kvLayers,
    rule: options.disaggRule ?? D.disaggRule,
  };
  if (!KV_TRANSFER_MODES.includes(config.kvTransferMode)) {
    throw new ReplayConfigError(
      `kvTransferMode must be ${KV_TRANSFER_MODES.join(' or ')}, got ${JSON.stringify(config.kvTransferMode)}`,
    );
  }
  if (!DISAGG_RULES.includes(config.rule)) {
    throw new ReplayConfigError(
      `disaggRule must be ${DISAGG_RULES.join(' or ')}, got ${JSON.stringify(config.rule)}`,
    );
  }
  if (!(Number.isSafeInteger(config.kvLayers) && config.kvLayers > 0)) {
    throw new ReplayConfigError(`kvLayers must be an integer > 0, got ${config.kvLayers}`);
  }
  if (!(Number.isSafeInteger(config.kvBytesPerToken) && config.kvBytesPerToken > 0)) {
    throw new ReplayConfigError(`kvBytesPerToken must be an integer > 0, got ${config.kvBytesPerToken}`);
  }
  for (const key of ['maxLocalPrefillLength', 'maxPrefillQueueSize'] as const) {
    if (!(Number.isSafeInteger(config[key]) && config[key] >= 0)) {
      throw new ReplayConfigError(`${key} must be an integer ≥ 0, got ${config[key]}`);
    }
  }
  if (!(config.link.bytesPerSecond > 0 && config.link.latencyMs >= 0)) {
    throw new ReplayConfigError(
      `the link needs bandwidth > 0 and latency ≥ 0, got ${JSON.stringify(config.link)}`,
    );
  }
  return config;
}

function parseLink(spec: string) {
  try {
    return parseLinkSpec(spec);
  } catch (err) {
    throw new ReplayConfigError((err as Error).message, { cause: err });
  }
}

function checkCount(what: string, n: number, option: string): void {
  if (!Number.isInteger(n) || n < 1) {
    throw new ReplayConfigError(`a replay needs at least one ${what}, got ${option} = ${n}`);
  }
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
