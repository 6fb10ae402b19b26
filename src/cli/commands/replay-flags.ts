/**
 * `dhw replay`'s flags, usage and description: the command's interface in one place, so `replay.ts` reads
 * as the run itself and `replay-args.ts` as the checks that turn flags into replay options.
 */
import {
  DEFAULT_SLO,
  DISAGG_REPLAY_DEFAULTS,
  DISAGG_RULES,
  KV_TRANSFER_MODES,
  MIXED_TRACE_DEFAULTS,
  REPLAY_DEFAULTS,
  SIM_DEFAULT,
  SYNTHETIC_WORKLOADS,
} from '../../replay/index.ts';
import { DEFAULT_ROUTER_POLICY, routerFlagHelp } from '../../router/index.ts';
import { LOGGING_FLAGS } from '../args.ts';
import { ROUTER_QUEUE_FLAGS } from '../router-queue-flags.ts';

const D = REPLAY_DEFAULTS;
const M = MIXED_TRACE_DEFAULTS;
/** Workers of an aggregated replay when neither --workers nor a disaggregated split is given. */
export const AGGREGATED_WORKERS = 4;
/** Flags that only mean something with `--synthetic`. */
export const SYNTHETIC_FLAGS = [
  'requests',
  'rate',
  'long-tokens',
  'short-tokens',
  'long-fraction',
  'output-tokens',
];
/** Flags that only mean something in a disaggregated replay. */
export const DISAGG_FLAGS = [
  'link',
  'kv-bytes-per-token',
  'max-local-prefill-length',
  'max-prefill-queue-size',
  'kv-transfer-mode',
  'kv-layers',
  'disagg-rule',
];
export const REPLAY_FLAGS = {
  router: {
    type: 'string' as const,
    default: DEFAULT_ROUTER_POLICY,
    help: routerFlagHelp(),
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
  ...ROUTER_QUEUE_FLAGS,
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
export const REPLAY_USAGE =
  'dhw replay TRACE.jsonl [--router kv-delay] [--workers 4] [--compare round-robin,kv,kv-delay] [--json] [--plot out.svg]\n' +
  '       dhw replay TRACE.jsonl --prefill-workers 2 --decode-workers 6 [--link 25gbit,10us]\n' +
  '       dhw replay --synthetic mixed [--long-tokens 8192 --short-tokens 200 --long-fraction 0.2 --rate 16 --requests 400]\n' +
  '       dhw replay TRACE.jsonl --concurrency 16 | --sweep time-scale=1,0.5,0.25 | --sweep concurrency=8,16,32';
export const REPLAY_DESCRIPTION =
  'Replay a Mooncake trace ({timestamp, input_length, output_length, hash_ids} per line) through the real\n' +
  'router and simulated workers (the mocker) in virtual time: no sleeping, deterministic for a seed.\n' +
  'With --prefill-workers/--decode-workers the cluster is disaggregated: long uncached prompts are prefilled\n' +
  'on a prefill worker and their KV moves over the simulated --link (the frontend rule decides, per request).';
