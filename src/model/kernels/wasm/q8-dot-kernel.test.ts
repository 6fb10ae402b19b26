/**
 * The relaxed-SIMD integer q8_0 kernels (q8-dot-codegen.ts: weights packed q8x4 by 4, activations split by
 * sign) against the TypeScript reference (reference/matmul-q8.ts) and against the widening kernels of the
 * exact module: the same integer block sums, so the same output bits. Ragged shapes (partial last pairs of
 * 4-row groups, 1/2/3/4/16 token rows, one and many panels), the thread split through the backend, and
 * whole-model logits of fortune-llama. Skipped only where the runtime refuses relaxed SIMD.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { defaultModelDir } from '../../../util/paths.ts';
import { LlamaModel } from '../../forward.ts';
import { SequenceSession } from '../../sequence-session.ts';
import { SharedArena } from '../arena.ts';
import { KernelBackend } from '../backend.ts';
import { matmul } from '../matmul-calls.ts';
import { matmulQ8Int, quantizeActivations } from '../reference/matmul-q8.ts';
import { argmax } from '../reference/row-ops.ts';
import { packQ8x4, type Q8x4Lane, q8x4Bytes, unpackQ8x4 } from '../q8x4-pack.ts';
import { instantiateKernels, kernelModule } from './kernel-module.ts';

const relaxed = kernelModule(true);
const exact = kernelModule(false);
const skip = relaxed?.relaxed ? false : 'the runtime refuses relaxed SIMD: the relaxed q8 tiles cannot run';

/** Deterministic values in (-1, 1) with a few outliers and an all-zero block, like real activations. */
function values(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    out[i] = ((s >>> 8) / 2 ** 24) * 2 - 1;
    if (i % 97 === 5) out[i]! *= 9;
  }
  out.fill(0, 32, Math.min(n, 64));
  return out;
}

/** One module's kernels over its own arena: x, the weights packed for it, and quantize_q8_act's output. */
function setup(module: WebAssembly.Module, lane: Q8x4Lane, rows: number, inDim: number, outDim: number) {
  const arena = new SharedArena(1 << 22);
  const kernels = instantiateKernels(module, arena.memory);
  const x = arena.allocF32(rows * inDim);
  x.set(values(rows * inDim, rows * 31 + inDim));
  const packed = arena.allocU8(q8x4Bytes(outDim, inDim));
  packQ8x4(values(outDim * inDim, outDim + 7), outDim, inDim, packed, lane);
  // 64 bytes per block of 32 (q⁺ then q⁻ bytes), then rows*inDim/32 f32 scales
  const xqStore = arena.allocF32((rows * inDim) / 2 + (rows * inDim) / 32);
  const xq = new Uint8Array(xqStore.buffer, xqStore.byteOffset, rows * inDim * 2);
  const xs = new Float32Array(xqStore.buffer, xqStore.byteOffset + rows * inDim * 2, (rows * inDim) / 32);
  kernels.quantize_q8_act(xqStore.byteOffset, x.byteOffset, rows, inDim);
  return { arena, kernels, x, packed, xqStore, xq, xs };
}

/** matmul_q8_int over all columns in panels of `panel` rows; checks nothing is written past the output. */
function run(
  s: ReturnType<typeof setup>,
  rows: number,
  inDim: number,
  outDim: number,
  panel: number,
): Float32Array {
  const outAndGuard = s.arena.allocF32(rows * outDim + 4).fill(Number.NaN);
  outAndGuard.fill(7, rows * outDim);
  const out = outAndGuard.subarray(0, rows * outDim);
  // biome-ignore format: the kernel's argument list
  s.kernels.matmul_q8_int(out.byteOffset, s.xqStore.byteOffset, s.packed.byteOffset, 0, rows, inDim, outDim, 0, outDim, panel);
  assert.deepEqual(
    Array.from(outAndGuard.subarray(rows * outDim)),
    [7, 7, 7, 7],
    'nothing written past the output',
  );
  return out;
}

const bits = (a: Float32Array): number[] => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));

// [rows, inDim, outDim, panel]: partial last pairs (outDim not a multiple of 8), 1/2/3/4/16 token rows, one
// panel over all columns and panels of one pair
const SHAPES = [
  [1, 32, 1, 8],
  [1, 64, 9, 8],
  [1, 64, 12, 8],
  [1, 576, 130, 16],
  [1, 576, 130, 136],
  [2, 64, 7, 8],
  [2, 96, 20, 16],
  [3, 32, 6, 8],
  [3, 160, 37, 24],
  [4, 64, 13, 16],
  [4, 576, 64, 64],
  [16, 96, 11, 8],
  [16, 160, 40, 16],
] as const;

describe('relaxed integer q8_0 kernels (q8x4 by 4)', { skip }, () => {
  it('quantize_q8_act stores q⁺ = max(q, 0) and q⁻ = max(−q, 0) per block, scales bit for bit', () => {
    for (const [rows, inDim] of [
      [1, 32],
      [3, 96],
      [5, 576],
    ] as const) {
      const { x, xq, xs } = setup(relaxed!.module, 4, rows, inDim, 4);
      const ref = quantizeActivations(x, rows, inDim);
      const plus = new Uint8Array(rows * inDim);
      const minus = new Uint8Array(rows * inDim);
      for (let b = 0; b < (rows * inDim) / 32; b++) {
        plus.set(xq.subarray(64 * b, 64 * b + 32), 32 * b);
        minus.set(xq.subarray(64 * b + 32, 64 * b + 64), 32 * b);
      }
      assert.deepEqual(
        Array.from(plus),
        Array.from(ref.q, (q) => Math.max(q, 0)),
        `q⁺, ${rows}x${inDim}`,
      );
      assert.deepEqual(
        Array.from(minus),
        Array.from(ref.q, (q) => Math.max(-q, 0)),
        `q⁻, ${rows}x${inDim}`,
      );
      assert.deepEqual(bits(xs), bits(ref.scales), `scales, ${rows}x${inDim}`);
    }
  });

  it('matmul_q8_int matches the reference on ragged shapes and panels, and the exact module bit for bit', () => {
    for (const [rows, inDim, outDim, panel] of SHAPES) {
      const shape = `${rows}x${inDim}x${outDim} panel ${panel}`;
      const r = setup(relaxed!.module, 4, rows, inDim, outDim);
      const out = run(r, rows, inDim, outDim, panel);
      const expected = new Float32Array(rows * outDim);
      const w = unpackQ8x4(r.packed, outDim, inDim, 4);
      matmulQ8Int(expected, quantizeActivations(r.x, rows, inDim), w, rows, inDim, outDim);
      for (let i = 0; i < out.length; i++) {
        const err = Math.abs(out[i]! - expected[i]!);
        assert.ok(err <= 1e-4 * (1 + Math.abs(expected[i]!)), `${shape} [${i}]: ${out[i]} vs ${expected[i]}`);
      }
      const e = setup(exact!.module, 2, rows, inDim, outDim);
      assert.deepEqual(
        unpackQ8x4(e.packed, outDim, inDim, 2),
        w,
        `${shape}: the same weights in both layouts`,
      );
      assert.deepEqual(
        bits(out),
        bits(run(e, rows, inDim, outDim, panel)),
        `${shape}: the widening tiles' bits`,
      );
    }
  });

  const backends: KernelBackend[] = [];
  after(() => Promise.all(backends.map((b) => b.close())));

  for (const threads of [1, 2]) {
    it(`the backend packs for the relaxed module; its split gives the exact path's bits (${threads} thread(s))`, async () => {
      const [rb, eb] = await Promise.all(
        [true, false].map((relaxedSimd) =>
          KernelBackend.create({ threads, weightDtype: 'q8_0', relaxedSimd }, 1 << 22),
        ),
      );
      backends.push(rb!, eb!);
      assert.equal(rb!.relaxedSimd, true);
      // 1 << 18 multiply-adds or more go to the thread pool: the last shape is split at 2 threads
      for (const [rows, inDim, outDim] of [
        [1, 64, 13],
        [3, 96, 40],
        [16, 576, 200],
        [1, 576, 1000],
      ] as const) {
        const w = values(outDim * inDim, outDim + 3);
        const x = values(rows * inDim, rows + 1);
        const [mr, me] = [rb!.matrix(w, outDim, inDim), eb!.matrix(w, outDim, inDim)];
        assert.deepEqual(unpackQ8x4(mr.q8x4!, outDim, inDim, 4), unpackQ8x4(me.q8x4!, outDim, inDim, 2));
        const [outR, outE] = [new Float32Array(rows * outDim), new Float32Array(rows * outDim)];
        matmul(outR, x, mr, null, rows);
        matmul(outE, x, me, null, rows);
        assert.deepEqual(bits(outR), bits(outE), `${rows}x${inDim}x${outDim}`);
      }
    });
  }

  for (const threads of [1, 2]) {
    it(`fortune-llama q8_0: relaxed-int logits bit-identical to the exact int path, prompt + 12 steps (${threads} thread(s))`, async () => {
      const models = await Promise.all(
        [true, false].map((relaxedSimd) =>
          LlamaModel.load(defaultModelDir, { weightDtype: 'q8_0', threads, relaxedSimd }),
        ),
      );
      try {
        const sessions = models.map((m) => new SequenceSession(m, { maxTokens: 32, blockSize: 16 }));
        const prompt = [5, 17, 3, 99, 42, 7, 11, 250, 1];
        let [lr, le] = sessions.map((s) => s.feed(prompt, 'all'));
        let compared = 0;
        for (let step = 0; step <= 12; step++) {
          assert.deepEqual(bits(lr!), bits(le!), `step ${step}`);
          compared += lr!.length;
          const next = argmax(le!.subarray(le!.length - models[0]!.config.vocabSize));
          [lr, le] = sessions.map((s) => s.feed([next]));
        }
        assert.ok(compared > 0);
      } finally {
        await Promise.all(models.map((m) => m.close()));
      }
    });
  }
});
