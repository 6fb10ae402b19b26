/**
 * Each matmul kernel of a model's shapes, on one thread, as a fraction of this core's WebAssembly SIMD
 * roofline (bench/lib/wasm-roofline.ts): how much of the machine the kernels leave on the table.
 *
 *   prefill   128 token rows × each weight matrix (compute-bound: the fraction says how close to peak)
 *   decode    1 token row × each weight matrix (memory-bound: GB/s of weights streamed is the better figure)
 *
 * Timed by process CPU time (best of a few runs), so a busy neighbour costs runs, not accuracy. Weights are
 * random: kernel speed does not depend on the values.
 */
import type { ModelConfig } from '../../src/model/index.ts';
import { KernelBackend, type WeightDtype } from '../../src/model/kernels/backend.ts';
import type { Roofline } from './wasm-roofline.ts';

export interface KernelFigure {
  kernel: string;
  gflops: number;
  /** gflops ÷ the roofline of the path it ran on (mul+add for exact, relaxed madd for fused). */
  fraction: number;
  /** Weight bytes streamed per second (GB/s): the figure that matters for one row. */
  weightGBs: number;
}

/** The distinct weight shapes [outDim, inDim, name] of one layer, plus the LM head. */
function matrixShapes(c: ModelConfig): [number, number, string][] {
  const q = c.numHeads * c.headDim;
  const kv = c.numKvHeads * c.headDim;
  return [
    [q, c.hiddenSize, 'q/o'],
    [kv, c.hiddenSize, 'k/v'],
    [c.intermediateSize, c.hiddenSize, 'gate/up'],
    [c.hiddenSize, c.intermediateSize, 'down'],
    [c.vocabSize, c.hiddenSize, 'lm head'],
  ];
}

function randomWeights(n: number): Float32Array {
  const w = new Float32Array(n);
  for (let i = 0; i < n; i++) w[i] = Math.sin(i * 12.9898) * 0.02;
  return w;
}

/** Best-of-`runs` GFLOP/s of out (rows, outDim) = x · wᵀ on `backend`, by process CPU time. */
function timeMatmul(
  backend: KernelBackend,
  outDim: number,
  inDim: number,
  rows: number,
  runs: number,
): number {
  const w = backend.matrix(randomWeights(outDim * inDim), outDim, inDim);
  const x = backend.allocF32(rows * inDim);
  x.set(randomWeights(rows * inDim));
  const out = backend.allocF32(rows * outDim);
  backend.matmul(out, x, w, null, rows); // warm-up: tiers the code up
  let best = 0;
  for (let r = 0; r < runs; r++) {
    const t0 = process.cpuUsage();
    backend.matmul(out, x, w, null, rows);
    const used = process.cpuUsage(t0);
    best = Math.max(best, (2 * rows * inDim * outDim) / ((used.user + used.system) * 1e3));
  }
  return best;
}

/**
 * Kernel figures for `config`'s matrices: f32 prefill (128 rows) and decode (1 row) on the path `relaxedSimd`
 * picks, and q8_0 decode. The arena (one per dtype) grows to hold one copy of each distinct matrix.
 */
export async function measureKernelFractions(
  config: ModelConfig,
  roofline: Roofline,
  relaxedSimd: boolean,
  prefillRows = 128,
): Promise<KernelFigure[]> {
  const figures: KernelFigure[] = [];
  for (const dtype of ['f32', 'q8_0'] as WeightDtype[]) {
    const backend = await KernelBackend.create({ threads: 1, weightDtype: dtype, relaxedSimd }, 64 << 20);
    const peak = backend.relaxedSimd && roofline.fma ? roofline.fma : roofline.mulAdd;
    const bytesPerWeight = dtype === 'f32' ? 4 : 34 / 32;
    try {
      for (const [outDim, inDim, name] of matrixShapes(config)) {
        for (const rows of dtype === 'f32' ? [prefillRows, 1] : [1]) {
          const gflops = timeMatmul(backend, outDim, inDim, rows, rows === 1 ? 20 : 3);
          figures.push({
            kernel: `${dtype} ${rows}×${inDim}→${outDim} (${name})`,
            gflops,
            fraction: gflops / peak,
            weightGBs: (gflops / (2 * rows)) * bytesPerWeight,
          });
        }
      }
    } finally {
      await backend.close();
    }
  }
  return figures;
}

export function printKernelFractions(
  roofline: Roofline,
  figures: KernelFigure[],
  relaxedSimd: boolean,
): void {
  const fma =
    roofline.fma === null ? 'n/a (runtime rejects relaxed SIMD)' : `${roofline.fma.toFixed(1)} GFLOP/s`;
  console.log(
    `\nWebAssembly SIMD roofline of one core (register-only loop): mul+add ${roofline.mulAdd.toFixed(1)} GFLOP/s, ` +
      `relaxed madd (FMA) ${fma}; kernels below on one thread, ${relaxedSimd ? 'fused multiply-add' : 'exact'} path`,
  );
  console.log('| kernel | GFLOP/s | of roofline | weights GB/s |');
  console.log('|---|---:|---:|---:|');
  for (const f of figures)
    console.log(
      `| ${f.kernel} | ${f.gflops.toFixed(1)} | ${(f.fraction * 100).toFixed(0)}% | ${f.weightGBs.toFixed(1)} |`,
    );
}
