/**
 * Prefix-hit TTFT: how much faster is the first token when a long prompt prefix is already in the KV cache?
 * Like comparing a cold and a warm HTTP cache: the same request, once with the cache empty for its key and
 * once right after a request that filled it.
 *
 * Each repeat draws a fresh prefix (so the cold request really misses), sends prefix + suffix A (cold),
 * then prefix + suffix B (warm: the prefix's full blocks are cached, only the rest is prefilled). Requests go
 * one at a time with max_tokens 1, so TTFT is pure prefill plus scheduling. One discarded pair warms up first.
 */
import { median } from '../../src/util/stats.ts';
import { benchRequest, syntheticPrompt } from './prompts.ts';
import { timeRequest, requestMetrics } from './request-timing.ts';
import type { InferenceEngine } from '../../src/protocols/engine.ts';

export interface PrefixTtftOptions {
  prefixTokens: number;
  suffixTokens: number;
  repeats: number;
  vocabSize: number;
  /** Base seed for the synthetic prompts (distinct from other scenarios' seeds). */
  seed: number;
}

export interface PrefixTtftResult {
  prefixTokens: number;
  suffixTokens: number;
  repeats: number;
  coldTtftMs: number[];
  warmTtftMs: number[];
  coldMedianMs: number;
  warmMedianMs: number;
  /** cold median / warm median. */
  speedup: number;
  /** Cached prompt tokens the engine reported (cold should be 0; warm ≈ the prefix rounded down to blocks). */
  coldCachedTokens: number[];
  warmCachedTokens: number[];
}

interface Pair {
  coldMs: number;
  warmMs: number;
  coldCached: number;
  warmCached: number;
}

async function coldWarmPair(engine: InferenceEngine, opts: PrefixTtftOptions, seed: number): Promise<Pair> {
  const prefix = syntheticPrompt(opts.prefixTokens, seed, opts.vocabSize);
  const suffixA = syntheticPrompt(opts.suffixTokens, seed + 1, opts.vocabSize);
  const suffixB = syntheticPrompt(opts.suffixTokens, seed + 2, opts.vocabSize);
  const cold = await timeRequest(engine, benchRequest(`prefix-${seed}-cold`, [...prefix, ...suffixA], 1));
  const warm = await timeRequest(engine, benchRequest(`prefix-${seed}-warm`, [...prefix, ...suffixB], 1));
  return {
    coldMs: requestMetrics(cold).ttftMs,
    warmMs: requestMetrics(warm).ttftMs,
    coldCached: cold.numCachedTokens,
    warmCached: warm.numCachedTokens,
  };
}

export async function measurePrefixTtft(
  engine: InferenceEngine,
  opts: PrefixTtftOptions,
): Promise<PrefixTtftResult> {
  await coldWarmPair(engine, opts, opts.seed); // warm-up, discarded
  const pairs: Pair[] = [];
  for (let i = 1; i <= opts.repeats; i++) pairs.push(await coldWarmPair(engine, opts, opts.seed + i * 10));
  const coldTtftMs = pairs.map((p) => p.coldMs);
  const warmTtftMs = pairs.map((p) => p.warmMs);
  const coldMedianMs = median(coldTtftMs);
  const warmMedianMs = median(warmTtftMs);
  return {
    prefixTokens: opts.prefixTokens,
    suffixTokens: opts.suffixTokens,
    repeats: opts.repeats,
    coldTtftMs,
    warmTtftMs,
    coldMedianMs,
    warmMedianMs,
    speedup: coldMedianMs / warmMedianMs,
    coldCachedTokens: pairs.map((p) => p.coldCached),
    warmCachedTokens: pairs.map((p) => p.warmCached),
  };
}
