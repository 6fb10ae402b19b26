/**
 * Fixed-concurrency load: send N requests at once to one engine, record each request's token arrival times
 * (client side) and every engine step (engine side, timestamped here as it is reported). Like `wrk -c N`
 * against a single backend, with the backend's own per-tick log alongside.
 *
 * The decode phase is read off the step log: it starts when the last step containing prefill tokens ends
 * (from then on every running sequence has its first token and each step adds one token per sequence) and
 * ends with the last step. Aggregate decode throughput = tokens produced in that window / its wall time,
 * which includes the loop's overhead between steps, not only the forward passes.
 */
import { performance } from 'node:perf_hooks';
import type { StepEvent, StepListener } from '../../src/engine/index.ts';
import type { EngineRequest, InferenceEngine } from '../../src/protocols/engine.ts';
import { type RequestTiming, timeRequest } from './request-timing.ts';

/** An engine that also reports its steps (LlmEngine, the mocker). */
export interface SteppingEngine extends InferenceEngine {
  onStep(listener: StepListener): () => void;
}

export interface TimedStep extends StepEvent {
  /** performance.now() when the step was reported (just after its outputs were pushed to the streams). */
  endedAt: number;
}

export interface BatchRun {
  timings: RequestTiming[];
  steps: TimedStep[];
}

export interface DecodePhase {
  /** Tokens produced by the pure-decode steps after the last prefill step. */
  tokens: number;
  /** Wall time from the end of the last prefill step to the end of the last step. */
  wallMs: number;
  tokensPerSec: number;
  steps: number;
  /** Mean time of one decode step as the engine measured it (forward + sampling, no loop overhead). */
  meanStepMs: number;
  /** Mean sequences per decode step. */
  meanBatchSize: number;
}

/** Send every request at once and wait for all of them to finish. */
export async function runConcurrentBatch(
  engine: SteppingEngine,
  requests: EngineRequest[],
): Promise<BatchRun> {
  const steps: TimedStep[] = [];
  const unsubscribe = engine.onStep((e) => steps.push({ ...e, endedAt: performance.now() }));
  try {
    const timings = await Promise.all(requests.map((r) => timeRequest(engine, r)));
    return { timings, steps };
  } finally {
    unsubscribe();
  }
}

export function decodePhase(steps: readonly TimedStep[]): DecodePhase {
  let lastPrefill = -1;
  steps.forEach((s, i) => {
    if (s.numPrefillTokens > 0) lastPrefill = i;
  });
  const decode = steps.slice(lastPrefill + 1);
  const first = steps[0];
  const start = lastPrefill >= 0 ? steps[lastPrefill]!.endedAt : first ? first.endedAt - first.stepMs : 0;
  const end = decode.length ? decode[decode.length - 1]!.endedAt : start;
  const tokens = decode.reduce((sum, s) => sum + s.numTokens, 0);
  const wallMs = end - start;
  return {
    tokens,
    wallMs,
    tokensPerSec: wallMs > 0 ? (tokens / wallMs) * 1000 : Number.NaN,
    steps: decode.length,
    meanStepMs: decode.length ? decode.reduce((sum, s) => sum + s.stepMs, 0) / decode.length : Number.NaN,
    meanBatchSize: decode.length ? decode.reduce((sum, s) => sum + s.numSeqs, 0) / decode.length : Number.NaN,
  };
}
