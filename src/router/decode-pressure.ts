/**
 * Decode pressure: the delay a request adds to the sequences decoding beside it by the KV it brings, priced
 * with the worker's published step-time model (`protocols/step-timing.ts`). Memory-bound decode reads every
 * active KV token once per step, so a step's time grows with the worker's KV usage u (the mocker's fit:
 * 5.7 ms empty, 10.9 ms at u = 0.1, 34 ms full). Placing a request of Δ tokens on worker w slows each of
 * its decode steps from d(u) to d(u + Δu), for every sequence decoding there, for as long as they share
 * the worker:
 *
 *   u          = active blocks / total blocks                     the worker's KV usage now (router's estimate)
 *   Δu         = (new blocks + N/2 / block size) / total blocks    this prompt's blocks not active there, plus
 *                                                                   its mean output KV over its life (N/2)
 *   slowdown   = d(u + Δu) − d(u)                                  ms per decode step, for the whole batch
 *   pressure   = running · N/2 · slowdown                          each running sequence shares N/2 steps
 *                                                                   with it (below)
 *
 * N is the mean output length, learned from finished requests (`OutputLengthEstimator`). How many steps a
 * running sequence shares with the new one: both run for a remaining length whose mean is N; for
 * memoryless lengths (the router does not know how far each one is) the shared part, the minimum of the
 * two, has mean N/2. No constant is fitted: d() is the worker's data sheet, N is observed.
 *
 * Optionally (`ownDecode`), the request's own decode there, N · d(u + Δu): the TPOT it will see, which
 * favours emptier workers the way Dynamo's active-blocks term does, in milliseconds.
 */
import { decodeStepMs, type StepTimingModel } from '../protocols/step-timing.ts';
import { formatNumber } from './kv-cost.ts';
import type { WorkerView } from './types.ts';

export interface DecodePressure {
  /** KV usage before and after this request (0..1+). */
  usage: number;
  usageAfter: number;
  /** Decode step ms at those usages. */
  stepMs: number;
  stepAfterMs: number;
  /** Sequences sharing the slowdown (the router's requests in flight there). */
  running: number;
  /** Mean output tokens (learned). */
  meanOutput: number;
  /** running · N/2 · (stepAfter − step), ms. */
  pressureMs: number;
  /** N · stepAfter when the own decode is priced, else 0. */
  ownDecodeMs: number;
}

export function decodePressure(
  view: WorkerView,
  model: StepTimingModel,
  meanOutput: number,
  ownDecode: boolean,
): DecodePressure {
  const total = Math.max(1, view.totalBlocks);
  const usage = Math.max(0, view.activeBlocks) / total;
  const addedBlocks = view.newBlocks + meanOutput / 2 / view.blockSize;
  const usageAfter = usage + addedBlocks / total;
  const stepMs = decodeStepMs(model, usage);
  const stepAfterMs = decodeStepMs(model, usageAfter);
  const running = view.inFlight.requests;
  const pressureMs = (running * meanOutput * Math.max(0, stepAfterMs - stepMs)) / 2;
  const ownDecodeMs = ownDecode ? meanOutput * stepAfterMs : 0;
  return { usage, usageAfter, stepMs, stepAfterMs, running, meanOutput, pressureMs, ownDecodeMs };
}

/** "3*343t/2*(10.93-10.31)ms = 318.97ms decode" (+ " + 343t*10.93ms = 3749ms own"). */
export function formatDecodePressure(p: DecodePressure): string {
  const n = formatNumber(p.meanOutput);
  const step = `(${formatNumber(p.stepAfterMs)}-${formatNumber(p.stepMs)})ms`;
  const own =
    p.ownDecodeMs > 0
      ? ` + ${n}t*${formatNumber(p.stepAfterMs)}ms = ${formatNumber(p.ownDecodeMs)}ms own`
      : '';
  return `${p.running}*${n}t/2*${step} = ${formatNumber(p.pressureMs)}ms decode${own}`;
}

/**
 * Mean output tokens per request, learned from finished requests: an exponentially decayed mean (0.99 per
 * sample, ~100 samples of memory), like `PrefillRateEstimator`. 0 until the first observation: no decode
 * pressure is priced before the router has seen a request end.
 */
export class OutputLengthEstimator {
  private tokens = 0;
  private weight = 0;

  constructor(private readonly decay = 0.99) {
    if (!(decay > 0 && decay < 1))
      throw new RangeError(`output-length decay must be in (0, 1), got ${decay}`);
  }

  observe(outputTokens: number): void {
    if (!(outputTokens >= 0) || !Number.isFinite(outputTokens)) return;
    this.tokens = this.tokens * this.decay + outputTokens;
    this.weight = this.weight * this.decay + 1;
  }

  get mean(): number {
    return this.weight > 0 ? this.tokens / this.weight : 0;
  }
}
