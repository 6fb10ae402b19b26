/**
 * Client-side timing of one streamed request, the way a load generator (genai-perf, vLLM's benchmark_serving)
 * sees it: the time the request was sent and the arrival time of every token. The §8 metrics derive from
 * these timestamps alone, so the same code times our engine in-process, the mocker, or (later) an HTTP
 * frontend — like measuring a web server from the client with curl's timing fields rather than its logs.
 *
 *   sentAt ──TTFT──► t[0] ──ITL──► t[1] ──ITL──► ... t[n-1]      TPOT = (t[n-1] − sentAt − TTFT) / (n − 1)
 */
import { performance } from 'node:perf_hooks';
import type { EngineRequest, FinishReason, InferenceEngine } from '../../src/protocols/engine.ts';

export interface RequestTiming {
  /** performance.now() just before the request was handed to the engine. */
  sentAt: number;
  /** performance.now() at each token's arrival, in order. */
  tokenTimes: number[];
  tokenIds: number[];
  /** Prompt tokens the engine served from its prefix cache. */
  numCachedTokens: number;
  finishReason: FinishReason | undefined;
}

export interface RequestMetrics {
  ttftMs: number;
  /** Gaps between consecutive tokens (n − 1 of them). */
  itlMs: number[];
  /** Mean time per output token after the first; NaN for a one-token reply. */
  tpotMs: number;
  e2eMs: number;
  outputTokens: number;
}

/** Send one request and record when each token arrives. */
export async function timeRequest(
  engine: InferenceEngine,
  request: EngineRequest,
  signal?: AbortSignal,
): Promise<RequestTiming> {
  const timing: RequestTiming = {
    sentAt: performance.now(),
    tokenTimes: [],
    tokenIds: [],
    numCachedTokens: 0,
    finishReason: undefined,
  };
  for await (const out of engine.generate(request, signal)) {
    timing.tokenTimes.push(performance.now());
    timing.tokenIds.push(out.tokenId);
    timing.numCachedTokens = out.numCachedTokens;
    timing.finishReason = out.finishReason;
  }
  return timing;
}

export function requestMetrics(t: RequestTiming): RequestMetrics {
  const n = t.tokenTimes.length;
  if (n === 0)
    return { ttftMs: Number.NaN, itlMs: [], tpotMs: Number.NaN, e2eMs: Number.NaN, outputTokens: 0 };
  const first = t.tokenTimes[0]!;
  const last = t.tokenTimes[n - 1]!;
  const itlMs = t.tokenTimes.slice(1).map((time, i) => time - t.tokenTimes[i]!);
  return {
    ttftMs: first - t.sentAt,
    itlMs,
    tpotMs: n > 1 ? (last - first) / (n - 1) : Number.NaN,
    e2eMs: last - t.sentAt,
    outputTokens: n,
  };
}
