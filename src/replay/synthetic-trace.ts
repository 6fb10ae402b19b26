/**
 * Generated workloads in the trace format: a seeded mix of long and short prompts arriving as a Poisson
 * process. The shape disaggregation is about: a few long prompts (documents, RAG contexts) whose prefill
 * stalls every decode batch they share a worker with, among many short chat turns. Like a traffic
 * generator's "imix" (a fixed mix of large and small packets at a given rate): synthetic, but it isolates
 * the one effect under study, and the same seed gives the same trace.
 *
 *   request i:  long with probability longFraction (longTokens), else short (shortTokens)
 *               gap to the previous arrival ~ Exponential(rate)       (Poisson arrivals, mean 1/rate s)
 *               hash ids all fresh: no prompt shares a prefix with another (prefix caching stays out of it)
 */
import { createRng, type Rng } from '../util/prng.ts';
import { ReplayConfigError } from './errors.ts';
import { MOONCAKE_BLOCK_SIZE, type TraceRecord } from './trace.ts';

export interface MixedTraceOptions {
  requests: number;
  /** Mean arrival rate, requests per second (Poisson). */
  rate: number;
  /** Prompt length of a long request (tokens). */
  longTokens: number;
  /** Prompt length of a short request (tokens). */
  shortTokens: number;
  /** Share of long requests, 0..1. */
  longFraction: number;
  /** Output tokens of every request (forced: replays ignore EOS). */
  outputTokens: number;
  seed: number;
  /** Tokens per hash id (default 512, as the Mooncake traces). */
  traceBlockSize?: number;
}

export const MIXED_TRACE_DEFAULTS = {
  requests: 400,
  rate: 16,
  longTokens: 8192,
  shortTokens: 200,
  longFraction: 0.2,
  outputTokens: 256,
  seed: 0,
} as const;

/** Named generators for `dhw replay --synthetic NAME`. */
export const SYNTHETIC_WORKLOADS = ['mixed'] as const;

/** A seeded long/short mix with Poisson arrivals. Throws ReplayConfigError naming a bad option. */
export function mixedTrace(options: MixedTraceOptions): TraceRecord[] {
  checkMixedOptions(options);
  const blockSize = options.traceBlockSize ?? MOONCAKE_BLOCK_SIZE;
  // Two streams, so the arrival times do not change when only the mix (longFraction) changes.
  const arrivals = createRng(options.seed);
  const mix = createRng(options.seed + 0x5eed);
  let nextId = 0;
  let timeMs = 0;
  return Array.from({ length: options.requests }, (_, i) => {
    if (i > 0) timeMs += exponentialMs(arrivals, options.rate);
    const long = mix.nextFloat() < options.longFraction;
    const inputLength = long ? options.longTokens : options.shortTokens;
    const blocks = Math.ceil(inputLength / blockSize);
    const hashIds = Array.from({ length: blocks }, () => nextId++);
    return {
      line: i + 1,
      timestampMs: timeMs,
      inputLength,
      outputLength: options.outputTokens,
      hashIds,
    };
  });
}

/** One inter-arrival gap of a Poisson process at `rate` per second, in ms (inverse-CDF sampling). */
function exponentialMs(rng: Rng, rate: number): number {
  return (-Math.log(1 - rng.nextFloat()) / rate) * 1000;
}

function checkMixedOptions(o: MixedTraceOptions): void {
  const counts: Array<[string, number]> = [
    ['requests', o.requests],
    ['long-tokens', o.longTokens],
    ['short-tokens', o.shortTokens],
    ['output-tokens', o.outputTokens],
  ];
  for (const [flag, value] of counts) {
    if (!Number.isSafeInteger(value) || value < 1) {
      throw new ReplayConfigError(`--${flag} must be an integer ≥ 1, got ${value}`);
    }
  }
  if (!(o.rate > 0 && Number.isFinite(o.rate))) {
    throw new ReplayConfigError(`--rate must be a number of requests per second > 0, got ${o.rate}`);
  }
  if (!(o.longFraction >= 0 && o.longFraction <= 1)) {
    throw new ReplayConfigError(`--long-fraction must be between 0 and 1, got ${o.longFraction}`);
  }
  if (!Number.isFinite(o.seed)) throw new ReplayConfigError(`--seed must be a number, got ${o.seed}`);
}
