/**
 * The integer q8_0 × q8_0 kernels against the TypeScript reference (reference/matmul-q8.ts): activation
 * quantization bit for bit, and the matmul on packed weights (q8x4-pack.ts) on ragged shapes (token rows
 * that are not multiples of the 4- and 2-row tiles, weight rows that end inside a group of 4 or a pair of
 * groups (the lone-row tile's 8 columns), one and many
 * panels) within f32 rounding of the reference's f64 sums on the same (unpacked) weights. The threaded path
 * is tested through the backend (backend.test.ts).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SharedArena } from '../arena.ts';
import { matmulQ8Int, quantizeActivations, roundHalfEven } from '../reference/matmul-q8.ts';
import { packQ8x4, q8x4Bytes, unpackQ8x4 } from '../q8x4-pack.ts';
import { instantiateKernels, kernelModule } from './kernel-module.ts';

const compiled = kernelModule();

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

function setup(rows: number, inDim: number, outDim: number) {
  const arena = new SharedArena(1 << 22);
  const kernels = instantiateKernels(compiled!.module, arena.memory);
  const x = arena.allocF32(rows * inDim);
  x.set(values(rows * inDim, rows * 31 + inDim));
  const w = values(outDim * inDim, outDim + 7);
  const packed = arena.allocU8(q8x4Bytes(outDim, inDim));
  packQ8x4(w, outDim, inDim, packed);
  // quantized activations: rows*inDim i16, then rows*inDim/32 f32 scales
  const xqStore = arena.allocF32((rows * inDim) / 2 + (rows * inDim) / 32);
  const xq = new Int16Array(xqStore.buffer, xqStore.byteOffset, rows * inDim);
  const xs = new Float32Array(xqStore.buffer, xqStore.byteOffset + rows * inDim * 2, (rows * inDim) / 32);
  return { arena, kernels, x, packed, xqStore, xq, xs };
}

describe('roundHalfEven', () => {
  it('rounds halves to the even neighbour and everything else to the nearest', () => {
    assert.deepEqual(
      [0.5, 1.5, 2.5, -0.5, -1.5, 2.4, -2.6, 3].map(roundHalfEven),
      [0, 2, 2, 0, -2, 2, -3, 3],
    );
  });
});

describe('integer q8_0 kernels', { skip: compiled === null ? 'no WebAssembly SIMD' : false }, () => {
  it('quantize_q8_act matches the reference bit for bit', () => {
    for (const [rows, inDim] of [
      [1, 32],
      [3, 96],
      [5, 576],
    ] as const) {
      const { kernels, x, xqStore, xq, xs } = setup(rows, inDim, 4);
      kernels.quantize_q8_act(xqStore.byteOffset, x.byteOffset, rows, inDim);
      const ref = quantizeActivations(x, rows, inDim);
      assert.deepEqual(Array.from(xq), Array.from(ref.q), `values, ${rows}x${inDim}`);
      assert.deepEqual(Array.from(xs), Array.from(ref.scales), `scales, ${rows}x${inDim}`);
      assert.ok(ref.q.every((v) => v >= -127 && v <= 127));
      if (inDim >= 64) assert.equal(ref.scales[1], 0, 'the all-zero block has scale 0');
    }
  });

  it('matmul_q8_int on packed weights matches the reference on ragged shapes and panels', () => {
    for (const [rows, inDim, outDim, panel] of [
      [1, 32, 1, 8],
      [1, 576, 130, 16],
      [1, 64, 9, 8],
      [1, 64, 12, 8], // a whole pair and a half one
      [1, 96, 20, 16],
      [2, 64, 7, 8],
      [3, 32, 6, 8],
      [5, 96, 11, 8],
      [7, 64, 16, 8],
      [9, 160, 37, 24],
      // one panel over every column (a lone row's call): many pairs of groups per call, partial last pair
      [1, 576, 130, 136],
      [4, 64, 13, 16],
    ] as const) {
      const { arena, kernels, x, packed, xqStore } = setup(rows, inDim, outDim);
      kernels.quantize_q8_act(xqStore.byteOffset, x.byteOffset, rows, inDim);
      // a guard after the output: a partial last group must not write past column outDim - 1
      const outAndGuard = arena.allocF32(rows * outDim + 4).fill(Number.NaN);
      outAndGuard.fill(7, rows * outDim);
      const out = outAndGuard.subarray(0, rows * outDim);
      // biome-ignore format: the kernel's argument list
      kernels.matmul_q8_int(out.byteOffset, xqStore.byteOffset, packed.byteOffset, 0, rows, inDim, outDim, 0, outDim, panel);
      assert.deepEqual(
        Array.from(outAndGuard.subarray(rows * outDim)),
        [7, 7, 7, 7],
        'nothing written past the output',
      );
      const expected = new Float32Array(rows * outDim);
      matmulQ8Int(
        expected,
        quantizeActivations(x, rows, inDim),
        unpackQ8x4(packed, outDim, inDim),
        rows,
        inDim,
        outDim,
      );
      for (let i = 0; i < out.length; i++) {
        const err = Math.abs(out[i]! - expected[i]!);
        assert.ok(
          err <= 1e-4 * (1 + Math.abs(expected[i]!)),
          `${rows}x${inDim}x${outDim} [${i}]: ${out[i]} vs ${expected[i]}`,
        );
      }
    }
  });
});
