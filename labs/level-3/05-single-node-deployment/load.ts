/**
 * The measured half of Lab 3.5: streamed requests through the OpenAI API, timed at the client, next to what
 * the mocker's timing model predicts (src/mocker/timing-model.ts: Dynamo's polynomials fitted on a GPU).
 * The difference between prediction and measurement is the stack's own overhead (HTTP, tokenizer, router,
 * request plane, SSE), which is what an operator of a real deployment pays on top of the GPU.
 */
import { performance } from 'node:perf_hooks';
import { decodeMs, prefillMs } from '../../../src/mocker/timing-model.ts';
import { median, percentile } from '../../../src/util/stats.ts';
import { distinctPrompt, type StreamTiming, timedCompletion } from '../../lib/stream-timing.ts';

/** Blocks the engine keeps uncached when a whole prompt repeats: it must compute at least the last token. */
export const BLOCK_SIZE = 16;

export interface PrefixPrediction {
  coldMs: number;
  warmMs: number;
}

/** Model time of the first token: one prefill step of the uncached tokens (the cached ones cost nothing). */
export function predictPrefix(promptTokens: number): PrefixPrediction {
  return { coldMs: prefillMs(promptTokens), warmMs: prefillMs(BLOCK_SIZE) };
}

export interface PrefixMeasurement {
  cold: StreamTiming[];
  warm: StreamTiming[];
}

/** `pairs` distinct prompts, each sent twice in a row: the first is cold, the repeat finds its prefix cached. */
export async function measurePrefix(
  url: string,
  promptTokens: number,
  pairs: number,
): Promise<PrefixMeasurement> {
  const cold: StreamTiming[] = [];
  const warm: StreamTiming[] = [];
  // One pair first, not counted: the first requests pay for compiling the hot paths (JIT) in every process.
  const warmup = distinctPrompt(499, promptTokens);
  for (const id of ['lab-3-5-warmup-a', 'lab-3-5-warmup-b'])
    await timedCompletion(url, { requestId: id, prompt: warmup, maxTokens: 2 });
  for (let i = 0; i < pairs; i++) {
    const prompt = distinctPrompt(500 + i, promptTokens);
    cold.push(await timedCompletion(url, { requestId: `lab-3-5-cold-${i}`, prompt, maxTokens: 2 }));
    warm.push(await timedCompletion(url, { requestId: `lab-3-5-warm-${i}`, prompt, maxTokens: 2 }));
  }
  return { cold, warm };
}

export interface StreamsPrediction {
  itlMs: number;
  tokensPerSecond: number;
}

/**
 * A decode step of the fitted model costs the same for 1 or 64 sequences (decoding is memory-bound: each
 * step reads the weights once for the whole batch); it grows only with KV usage, tiny here. So N streams
 * keep the ITL of one and multiply the tokens per second by N.
 */
export function predictStreams(streams: number, kvUsage: number): StreamsPrediction {
  const itlMs = decodeMs(kvUsage);
  return { itlMs, tokensPerSecond: (streams * 1000) / itlMs };
}

export interface StreamsMeasurement {
  streams: number;
  results: StreamTiming[];
  wallMs: number;
  itlP50Ms: number;
  itlP90Ms: number;
  ttftP50Ms: number;
  /** Sum over streams of tokens after the first ÷ their decode time: what batching multiplies. */
  decodeTokensPerSecond: number;
}

/** `streams` concurrent streamed completions of distinct short prompts, `maxTokens` each. */
export async function measureStreams(
  url: string,
  streams: number,
  promptTokens: number,
  maxTokens: number,
  seed: number,
): Promise<StreamsMeasurement> {
  const started = performance.now();
  const results = await Promise.all(
    Array.from({ length: streams }, (_, i) =>
      timedCompletion(url, {
        requestId: `lab-3-5-streams${streams}-${i}`,
        prompt: distinctPrompt(seed + i, promptTokens),
        maxTokens,
      }),
    ),
  );
  const wallMs = performance.now() - started;
  const itl = results.flatMap((r) => r.itlMs);
  const itlP50Ms = percentile(itl, 50);
  // Streams decode side by side: the aggregate rate is the sum of each stream's own decode rate.
  const decodeTokensPerSecond = results.reduce((sum, r) => {
    const decodeMs = r.itlMs.reduce((a, b) => a + b, 0);
    return decodeMs > 0 ? sum + (r.itlMs.length * 1000) / decodeMs : sum;
  }, 0);
  return {
    streams,
    results,
    wallMs,
    itlP50Ms,
    itlP90Ms: percentile(itl, 90),
    ttftP50Ms: median(results.map((r) => r.ttftMs)),
    decodeTokensPerSecond,
  };
}
