/**
 * How long a step would take on a real GPU, without running a model: Dynamo's default mocker polynomials
 * (docs/design-notes.md#mocker-timing), fitted on a real engine. Like a network emulator's latency model
 * (netem): it does not move
 * the bytes, it only charges the time they would take. The coefficients are `MOCKER_STEP_TIMING`
 * (protocols/step-timing.ts), the model a mocker worker publishes to the router.
 *
 *   prefill ms = 4.21e-7·T² + 1.52e-2·T + 16.5       T = new (uncached) prompt tokens in the batch
 *   decode  ms = max(1, −25.74·u² + 54.01·u + 5.74)   u = active KV tokens / total KV tokens
 *
 * A step that carries both prefill chunks and decodes is charged both. Times are divided by `speedupRatio`
 * (10 = ten times faster than the fitted GPU); a ratio of 0 means "do not sleep at all".
 */
import { decodeStepMs, MOCKER_STEP_TIMING, prefillStepMs } from '../protocols/step-timing.ts';

export function prefillMs(newPromptTokens: number): number {
  return prefillStepMs(MOCKER_STEP_TIMING, newPromptTokens);
}

export function decodeMs(kvUsage: number): number {
  return decodeStepMs(MOCKER_STEP_TIMING, kvUsage);
}

export interface StepShape {
  /** New prompt tokens computed in this step (prefix-cache hits excluded). */
  numPrefillTokens: number;
  /** Sequences decoding one token in this step. */
  numDecodeSeqs: number;
  /** Active KV tokens / total KV tokens, 0..1. */
  kvUsage: number;
}

/** Simulated duration of one step in ms, before the speedup ratio. */
export function simulatedStepMs(step: StepShape): number {
  const prefill = step.numPrefillTokens > 0 ? prefillMs(step.numPrefillTokens) : 0;
  const decode = step.numDecodeSeqs > 0 ? decodeMs(step.kvUsage) : 0;
  return prefill + decode;
}

/** Time to actually wait for a step: simulated time ÷ speedup, or 0 when the ratio is 0 (run flat out). */
export function sleepMsFor(step: StepShape, speedupRatio: number): number {
  if (speedupRatio <= 0) return 0;
  return simulatedStepMs(step) / speedupRatio;
}
