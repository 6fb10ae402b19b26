/**
 * Lab 2.1's exercise: predict batched decode throughput from a roofline, before measuring it. One decode
 * step must read every weight once (memory time) and do 2 FLOPs per weight per sequence in the batch
 * (compute time); whichever takes longer sets the step time. Like sizing a disk array from its seek time
 * and its streaming bandwidth before running the benchmark.
 *
 *   cp labs/level-2/01-batching/starter.ts my-roofline.ts
 *   npm run lab -- 2.1 --check ./my-roofline.ts        # datasheet cases, then this machine's measured curve
 *
 * The file imports nothing, so a copy works anywhere.
 */

/** The two roofs of a machine. */
export interface Machine {
  /** Memory bandwidth: bytes per second the weights can be streamed at (HBM on a GPU). */
  bytesPerSec: number;
  /** Peak arithmetic: floating-point operations per second (a multiply-add counts as 2). */
  flopsPerSec: number;
}

export interface ModelSize {
  parameters: number;
  /** 4 for fp32 weights (ours), 2 for bf16/fp16 (what GPU engines serve). */
  bytesPerWeight: number;
}

export interface StepPrediction {
  /** Predicted time of one decode step carrying `batchSize` sequences, ms. */
  stepMs: number;
  /** Aggregate decode throughput: one token per sequence per step. */
  tokensPerSec: number;
  /** Which roof sets the step time. */
  bound: 'memory' | 'compute';
}

/** One decode step with `batchSize` sequences (attention and everything but the weight matrices left out). */
export function predictDecodeStep(model: ModelSize, machine: Machine, batchSize: number): StepPrediction {
  const weightBytes = model.parameters * model.bytesPerWeight;
  const memoryMs = (weightBytes / machine.bytesPerSec) * 1000;
  // TODO 1: the compute time: 2 FLOPs per weight per sequence in the batch, at machine.flopsPerSec.
  // TODO 2: the step takes as long as the slower of the two; say which one that is.
  const stepMs = memoryMs;
  return { stepMs, tokensPerSec: batchSize / (stepMs / 1000), bound: 'memory' };
}

/**
 * The ridge point as a batch size: how many sequences per step before compute time catches up with the
 * time to read the weights. Beyond it, batching stops being free.
 */
export function ridgeBatchSize(model: ModelSize, machine: Machine): number {
  // TODO 3: solve memory time = compute time for the batch size.
  void model;
  void machine;
  return Number.POSITIVE_INFINITY;
}
