/**
 * The workload disaggregation is about, sent through the frontend's OpenAI API: a few long prompts (a
 * document, a RAG context) arriving among short chat turns that are busy streaming. On an aggregated worker
 * a long prompt's prefill is one long engine step, and every stream sharing that worker waits for it: a
 * stall in its inter-token latency. Like a bulk transfer sharing a queue with interactive traffic
 * (head-of-line blocking) — disaggregation gives the bulk traffic its own queue.
 *
 * Open loop: every request starts at its planned offset, whatever the others are doing, so a slow config
 * cannot hide its slowness by sending less.
 */
import { percentile } from '../../../src/util/stats.ts';
import { distinctPrompt, type StreamTiming, timedCompletion } from '../../lib/stream-timing.ts';

export interface MixedShape {
  shortRequests: number;
  shortPromptTokens: number;
  shortOutputTokens: number;
  /** Start of short request i = i × shortGapMs. */
  shortGapMs: number;
  longPromptTokens: number;
  longOutputTokens: number;
  /** Start offsets of the long requests, ms. */
  longStartsMs: number[];
}

export interface PlannedRequest {
  kind: 'short' | 'long';
  startMs: number;
  requestId: string;
  prompt: number[];
  maxTokens: number;
}

export interface MixedResult extends StreamTiming {
  kind: 'short' | 'long';
}

/** The same plan for every config (the seed fixes the prompts); `tag` keeps request ids apart per run. */
export function planMixed(shape: MixedShape, tag: string, seed: number): PlannedRequest[] {
  const shorts = Array.from({ length: shape.shortRequests }, (_, i) => ({
    kind: 'short' as const,
    startMs: i * shape.shortGapMs,
    requestId: `${tag}-short-${i}`,
    prompt: distinctPrompt(seed * 1000 + i, shape.shortPromptTokens),
    maxTokens: shape.shortOutputTokens,
  }));
  const longs = shape.longStartsMs.map((startMs, i) => ({
    kind: 'long' as const,
    startMs,
    requestId: `${tag}-long-${i}`,
    prompt: distinctPrompt(seed * 1000 + 500 + i, shape.longPromptTokens),
    maxTokens: shape.longOutputTokens,
  }));
  return [...shorts, ...longs].sort((a, b) => a.startMs - b.startMs);
}

export async function runMixed(url: string, plan: readonly PlannedRequest[]): Promise<MixedResult[]> {
  const started = Date.now();
  return Promise.all(
    plan.map(async (req) => {
      const wait = req.startMs - (Date.now() - started);
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      const timing = await timedCompletion(url, req);
      if (timing.status !== 200)
        throw new Error(
          `request ${req.requestId} failed with HTTP ${timing.status}: ${timing.text.slice(0, 300)}`,
        );
      return { ...timing, kind: req.kind };
    }),
  );
}

export interface MixedSummary {
  shortTtftP50: number;
  shortTtftMax: number;
  shortItlP50: number;
  /** The worst gap any short stream saw: the stall a long prefill causes. */
  shortItlMax: number;
  longTtftP50: number;
  longTtftMax: number;
}

export function summarize(results: readonly MixedResult[]): MixedSummary {
  const shorts = results.filter((r) => r.kind === 'short');
  const longs = results.filter((r) => r.kind === 'long');
  const itl = shorts.flatMap((r) => r.itlMs);
  return {
    shortTtftP50: percentile(
      shorts.map((r) => r.ttftMs),
      50,
    ),
    shortTtftMax: Math.max(...shorts.map((r) => r.ttftMs)),
    shortItlP50: percentile(itl, 50),
    shortItlMax: Math.max(...itl),
    longTtftP50: percentile(
      longs.map((r) => r.ttftMs),
      50,
    ),
    longTtftMax: Math.max(...longs.map((r) => r.ttftMs)),
  };
}
