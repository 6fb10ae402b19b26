/**
 * A worker's published step-time model: how long one engine step takes as a function of what it carries.
 * The mocker charges its steps with it (`mocker/timing-model.ts`); a worker that publishes one lets the
 * router predict decode slowdowns in milliseconds instead of learning them. Like a link's published
 * rate and latency that a traffic engineer plans with: the data sheet, not a measurement.
 *
 *   prefill ms = p2·T² + p1·T + p0             T = new (uncached) prompt tokens in the step
 *   decode  ms = max(dMin, d2·u² + d1·u + d0)  u = active KV tokens / total KV tokens (0..1)
 *
 * A step that carries both is charged both. The default is Dynamo's mocker fit (measured on a real GPU,
 * docs/design-notes.md#mocker-timing). Its decode time depends on KV usage only, not on how many sequences
 * decode: the attention reads every active KV token once per step, while the weights are read once per
 * step whatever the batch (memory-bound decode).
 */

export interface StepTimingModel {
  /** Prefill polynomial coefficients [p0, p1, p2] (ms, ms/token, ms/token²). */
  prefill: readonly [number, number, number];
  /** Decode polynomial coefficients [d0, d1, d2] in KV usage u (ms). */
  decode: readonly [number, number, number];
  /** Floor of a decode step (ms). */
  decodeMinMs: number;
}

/** Dynamo's default mocker polynomials. */
export const MOCKER_STEP_TIMING: StepTimingModel = {
  prefill: [16.5, 1.52e-2, 4.21e-7],
  decode: [5.74, 54.01, -25.74],
  decodeMinMs: 1,
};

/** Milliseconds of a step that prefills `tokens` new prompt tokens (and nothing else). */
export function prefillStepMs(model: StepTimingModel, tokens: number): number {
  const [p0, p1, p2] = model.prefill;
  return p2 * tokens * tokens + p1 * tokens + p0;
}

/** Milliseconds of a decode step at KV usage `u` (active KV tokens / total). */
export function decodeStepMs(model: StepTimingModel, u: number): number {
  const [d0, d1, d2] = model.decode;
  return Math.max(model.decodeMinMs, d2 * u * u + d1 * u + d0);
}

/**
 * The model of an engine that runs `speedupRatio` times faster than the data sheet (the mocker's
 * `--speedup-ratio` divides every step time by it): every coefficient divided by the ratio. Undefined for a
 * ratio ≤ 0 (a mocker that does not wait has no step time to publish).
 */
export function scaleStepTiming(model: StepTimingModel, speedupRatio: number): StepTimingModel | undefined {
  if (!(speedupRatio > 0) || !Number.isFinite(speedupRatio)) return undefined;
  if (speedupRatio === 1) return model;
  const scale = (t: readonly [number, number, number]) =>
    [t[0] / speedupRatio, t[1] / speedupRatio, t[2] / speedupRatio] as const;
  return {
    prefill: scale(model.prefill),
    decode: scale(model.decode),
    decodeMinMs: model.decodeMinMs / speedupRatio,
  };
}

/** Prompt tokens per ms of one full prefill chunk of `chunkTokens` (the engine's token budget). */
export function chunkPrefillRate(model: StepTimingModel, chunkTokens: number): number {
  return chunkTokens / prefillStepMs(model, chunkTokens);
}

export function isStepTimingModel(value: unknown): value is StepTimingModel {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  const triple = (x: unknown) =>
    Array.isArray(x) && x.length === 3 && x.every((n) => typeof n === 'number' && Number.isFinite(n));
  return (
    triple(v.prefill) &&
    triple(v.decode) &&
    typeof v.decodeMinMs === 'number' &&
    Number.isFinite(v.decodeMinMs)
  );
}
