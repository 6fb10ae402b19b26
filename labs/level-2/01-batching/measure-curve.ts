/**
 * This machine's decode curve and roofs, for Lab 2.1's check: the bundled model's forward pass timed with
 * 1, 2, 4, ... sequences per decode step, and the two roofs measured the way a performance engineer
 * calibrates a roofline (an "empirical roofline"): the memory roof from the step with the least arithmetic
 * per byte (one sequence: every weight read for one token), the compute roof from the highest FLOP rate any
 * pass reached (a long prefill, or a big decode batch). Like measuring a disk's seek time with 4 KiB random
 * reads and its bandwidth with one long sequential read before predicting a mixed workload.
 */
import { performance } from 'node:perf_hooks';
import { describeModel, LlamaModel, makeBatch } from '../../../src/model/index.ts';
import { defaultModelDir } from '../../../src/util/paths.ts';
import type { Machine, ModelSize } from './reference.ts';

const BLOCK_SIZE = 16;
/** Tokens already in each sequence's cache when its decode step is timed. */
const CONTEXT = 32;
const BLOCKS_PER_SEQ = Math.ceil((CONTEXT + 1) / BLOCK_SIZE);

export interface CurvePoint {
  batchSize: number;
  /** Median step time, ms. */
  stepMs: number;
  tokensPerSec: number;
  /** Slowest / fastest of the timed steps: 1 on a quiet machine, 2+ when something else wants the CPU. */
  spread: number;
}

export interface MeasuredCurve {
  model: ModelSize;
  machine: Machine;
  points: CurvePoint[];
}

function medianAndSpread(samples: number[]): { median: number; spread: number } {
  const sorted = [...samples].sort((a, b) => a - b);
  return {
    median: sorted[Math.floor(sorted.length / 2)]!,
    spread: sorted[sorted.length - 1]! / sorted[0]!,
  };
}

/** Times `forward` `repeats` times after one warm-up pass. */
function timeForward(run: () => void, repeats: number): { median: number; spread: number } {
  run();
  const samples: number[] = [];
  for (let r = 0; r < repeats; r++) {
    const start = performance.now();
    run();
    samples.push(performance.now() - start);
  }
  return medianAndSpread(samples);
}

export async function measureDecodeCurve(
  batchSizes: readonly number[],
  repeats: number,
  prefillTokens: number,
): Promise<MeasuredCurve> {
  const { parameters } = await describeModel(defaultModelDir);
  const model = await LlamaModel.load(defaultModelDir);
  try {
    const maxBatch = Math.max(...batchSizes);
    const prefillBlocks = Math.ceil(prefillTokens / BLOCK_SIZE);
    const kv = model.allocateKvCache(maxBatch * BLOCKS_PER_SEQ + prefillBlocks, BLOCK_SIZE);
    const flopsPerToken = 2 * parameters; // one multiply-add per weight

    const points: CurvePoint[] = [];
    for (const batchSize of batchSizes) {
      // n sequences, each decoding its next token after CONTEXT cached ones, each in its own blocks.
      const chunks = Array.from({ length: batchSize }, (_, i) => ({
        tokens: [5 + i],
        startPos: CONTEXT,
        blockTable: Int32Array.from({ length: BLOCKS_PER_SEQ }, (_, b) => i * BLOCKS_PER_SEQ + b),
      }));
      const batch = makeBatch(chunks, BLOCK_SIZE);
      const { median, spread } = timeForward(() => model.forward(batch, kv), repeats);
      points.push({ batchSize, stepMs: median, tokensPerSec: batchSize / (median / 1000), spread });
    }

    const prompt = Array.from({ length: prefillTokens }, (_, i) => 3 + (i % 1000));
    const prefillTable = Int32Array.from({ length: prefillBlocks }, (_, b) => maxBatch * BLOCKS_PER_SEQ + b);
    const prefill = makeBatch([{ tokens: prompt, startPos: 0, blockTable: prefillTable }], BLOCK_SIZE);
    const prefillMs = timeForward(
      () => model.forward(prefill, kv),
      Math.max(1, Math.floor(repeats / 2)),
    ).median;

    const rates = [
      (flopsPerToken * prefillTokens) / (prefillMs / 1000),
      ...points.map((p) => (flopsPerToken * p.batchSize) / (p.stepMs / 1000)),
    ];
    const single = points.find((p) => p.batchSize === 1) ?? points[0]!;
    const bytesPerWeight = 4; // our weights are fp32 in memory
    return {
      model: { parameters, bytesPerWeight },
      machine: {
        bytesPerSec: (parameters * bytesPerWeight) / (single.stepMs / 1000),
        flopsPerSec: Math.max(...rates),
      },
      points,
    };
  } finally {
    await model.close();
  }
}
