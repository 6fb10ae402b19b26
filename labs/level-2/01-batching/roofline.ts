/**
 * The roofline arithmetic for Lab 2.1: per decode step, how many bytes of weights must move and how much
 * arithmetic they feed. A decode step multiplies every weight matrix by one row per sequence: 2 FLOPs per
 * weight per sequence, but each weight is fetched once per step however many sequences ride along. So the
 * FLOPs per byte grow with the batch, like a disk that costs a seek per request until requests are merged.
 */
import { note, printTable } from '../../lib/lab-kit.ts';

export interface MeasuredStep {
  /** Sequences per decode step. */
  n: number;
  /** Mean engine time of one decode step, ms. */
  stepMs: number;
}

/** H100 SXM datasheet figures: dense BF16 tensor-core peak and HBM3 bandwidth. */
const H100 = { flopsPerSec: 989e12, bytesPerSec: 3.35e12 };

export function printRoofline(parameters: number, measured: readonly MeasuredStep[]): void {
  const weightBytes = parameters * 4; // fp32 here
  printTable(
    [
      'seqs/step',
      'GFLOP per step',
      'weight MB read per step',
      'FLOPs per byte of weights',
      'step ms',
      'achieved GFLOP/s',
    ],
    measured.map(({ n, stepMs }) => {
      const flops = 2 * parameters * n; // one multiply-add per weight per sequence (attention left out)
      return [
        n,
        (flops / 1e9).toFixed(3),
        (weightBytes / 1e6).toFixed(1),
        (flops / weightBytes).toFixed(1),
        stepMs.toFixed(2),
        (flops / (stepMs / 1000) / 1e9).toFixed(2),
      ];
    }),
  );
  const ridge = H100.flopsPerSec / H100.bytesPerSec;
  note(
    `On an H100 (989 TFLOP/s BF16, 3.35 TB/s HBM) the ridge point is ${ridge.toFixed(0)} FLOPs per byte. BF16 ` +
      'weights give N FLOPs per byte at N sequences per step, so decode stays memory-bound until N ≈ 300.',
  );
  const llama8bBytes = 8.03e9 * 2;
  const floorMs = (llama8bBytes / H100.bytesPerSec) * 1000;
  note(
    `Example, Llama-3-8B in BF16 (16 GB of weights): one decode step cannot beat ${floorMs.toFixed(1)} ms (the ` +
      `time to stream the weights once), so one stream tops out near ${(1000 / floorMs).toFixed(0)} tok/s, while ` +
      `64 streams in the same ${floorMs.toFixed(1)} ms step make ${((64 * 1000) / floorMs).toFixed(0)} tok/s.`,
  );
  note(
    "Here the weights (~20 MB fp32) fit in the CPU's last-level cache, so a step is closer to compute-bound " +
      'than on a GPU, and batching gains only what the batched matmul saves: compare the step ms column.',
  );
}
