/**
 * How long a step would take on a real GPU, without running a model: Dynamo's default mocker polynomials
 * (docs/design-notes.md#mocker-timing), fitted on a real engine. Like a network emulator's latency model
 * (netem): it does not move
 * the bytes, it only charges the time they would take.
 *
 *   prefill ms = 4.21e-7·T² + 1.52e-2·T + 16.5       T = new (uncached) prompt tokens in the batch
 *   decode  ms = max(1, −25.74·u² + 54.01·u + 5.74)   u = active KV tokens / total KV tokens
 *
 * A step that carries both prefill chunks and decodes is charged both. Times are divided by `speedupRatio`
 * (10 = ten times faster than the fitted GPU); a ratio of 0 means "do not sleep at all".
 */

export function prefillMs(newPromptTokens: number): number {
  const t = newPromptTokens;
  return 4.21e-7 * t * t + 1.52e-2 * t + 16.5;
}

export function decodeMs(kvUsage: number): number {
  const u = kvUsage;
  return Math.max(1, -25.74 * u * u + 54.01 * u + 5.74);
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
