/**
 * Lab 2.1's reference solution (read it after trying the starter): the roofline of one decode step.
 *
 *   memory time  = parameters × bytesPerWeight / bytesPerSec        (every weight read once per step)
 *   compute time = 2 × parameters × batchSize / flopsPerSec         (one multiply-add per weight per sequence)
 *   step time    = max(memory time, compute time)
 *   ridge        = flopsPerSec × bytesPerWeight / (2 × bytesPerSec) (batch size where the two are equal)
 *
 *   npm run lab -- 2.1 --check --reference
 */
export interface Machine {
  bytesPerSec: number;
  flopsPerSec: number;
}

export interface ModelSize {
  parameters: number;
  bytesPerWeight: number;
}

export interface StepPrediction {
  stepMs: number;
  tokensPerSec: number;
  bound: 'memory' | 'compute';
}

export function predictDecodeStep(model: ModelSize, machine: Machine, batchSize: number): StepPrediction {
  const memoryMs = ((model.parameters * model.bytesPerWeight) / machine.bytesPerSec) * 1000;
  const computeMs = ((2 * model.parameters * batchSize) / machine.flopsPerSec) * 1000;
  // The weights stream in while the arithmetic runs: the step lasts as long as the slower of the two.
  const stepMs = Math.max(memoryMs, computeMs);
  return {
    stepMs,
    tokensPerSec: batchSize / (stepMs / 1000),
    bound: computeMs > memoryMs ? 'compute' : 'memory',
  };
}

export function ridgeBatchSize(model: ModelSize, machine: Machine): number {
  return (machine.flopsPerSec * model.bytesPerWeight) / (2 * machine.bytesPerSec);
}
