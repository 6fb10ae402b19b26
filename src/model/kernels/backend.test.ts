/**
 * Every fast matmul path against the TypeScript reference kernel, on shapes that hit every tile edge:
 * one row, ragged row counts, inDim not a multiple of 4 (scalar tail), outDim not a multiple of the tile
 * width or the thread split, and panels smaller than outDim.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { matmul as referenceMatmul } from './reference/matmul.ts';
import { KernelBackend, type Matrix, type Q8Activations } from './backend.ts';
import { matmul } from './matmul-calls.ts';
import { matmulQ8Int, quantizeActivations } from './reference/matmul-q8.ts';
import { dequantizeQ8, quantizeQ8 } from './quantize.ts';
import { unpackQ8x4 } from './q8x4-pack.ts';
import { kernelModule } from './wasm/kernel-module.ts';

function randomArray(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 31 - 1;
  });
}

/** max |a-b| relative to the largest |b| (f32 vs f64 accumulation differ by rounding only). */
function relError(a: Float32Array, b: Float32Array): number {
  let maxDiff = 0;
  let maxRef = 1e-30;
  for (let i = 0; i < b.length; i++) {
    maxDiff = Math.max(maxDiff, Math.abs(a[i]! - b[i]!));
    maxRef = Math.max(maxRef, Math.abs(b[i]!));
  }
  return maxDiff / maxRef;
}

// [rows, inDim, outDim]: 1 row, 4-row tiles with remainders, ragged k (5, 33, 67), long k with small panels.
const F32_SHAPES = [
  [1, 1, 1],
  [1, 8, 4],
  [3, 5, 7],
  [4, 16, 8],
  [5, 33, 13],
  [9, 67, 130],
  [17, 64, 129],
  [2, 2050, 70],
  [16, 576, 200],
] as const;
// q8_0 needs whole blocks of 32 along k.
const Q8_SHAPES = [
  [1, 32, 1],
  [1, 64, 7],
  [3, 96, 13],
  [4, 32, 8],
  [7, 160, 131],
  [16, 576, 200],
] as const;

const backends: KernelBackend[] = [];
after(() => Promise.all(backends.map((b) => b.close())));

async function backend(
  threads: number,
  weightDtype: 'f32' | 'q8_0',
  q8Activations: Q8Activations = 'q8_0',
): Promise<KernelBackend> {
  const b = await KernelBackend.create({ threads, weightDtype, q8Activations }, 1 << 20);
  backends.push(b);
  return b;
}

describe('wasm kernels', { skip: kernelModule() === null ? 'no WebAssembly SIMD' : false }, () => {
  for (const threads of [1, 2]) {
    it(`f32 matmul matches the reference on ragged shapes (${threads} thread(s))`, async () => {
      const b = await backend(threads, 'f32');
      assert.equal(b.kind, 'wasm');
      assert.equal(b.threads, threads);
      for (const [rows, inDim, outDim] of F32_SHAPES) {
        const w = randomArray(outDim * inDim, outDim + 1);
        const bias = randomArray(outDim, 7);
        const m = b.matrix(w, outDim, inDim);
        for (const biasOrNull of [null, bias]) {
          // Inputs in the arena (the zero-copy path) and in ordinary memory (staged through scratch).
          const xArena = b.allocF32(rows * inDim);
          xArena.set(randomArray(rows * inDim, rows + inDim));
          const outArena = b.allocF32(rows * outDim).fill(Number.NaN);
          const outPlain = new Float32Array(rows * outDim).fill(Number.NaN);
          matmul(outArena, xArena, m, biasOrNull, rows);
          matmul(outPlain, Float32Array.from(xArena), m, biasOrNull, rows);
          const expected = new Float32Array(rows * outDim);
          referenceMatmul(expected, xArena, w, biasOrNull, rows, inDim, outDim);
          const shape = `${rows}x${inDim}x${outDim}`;
          assert.ok(relError(outArena, expected) < 1e-5, `${shape}: ${relError(outArena, expected)}`);
          assert.deepEqual(outPlain, outArena, `${shape}: staged and in-place results agree`);
        }
      }
    });

    it(`q8_0 matmul (f32 activations) matches the reference on the dequantized weights (${threads} thread(s))`, async () => {
      const b = await backend(threads, 'q8_0', 'f32');
      for (const [rows, inDim, outDim] of Q8_SHAPES) {
        const w = randomArray(outDim * inDim, outDim + 3);
        const m = b.matrix(w, outDim, inDim);
        assert.equal(m.dtype, 'q8_0');
        const x = randomArray(rows * inDim, rows);
        const out = new Float32Array(rows * outDim).fill(Number.NaN);
        matmul(out, x, m, null, rows);
        const expected = new Float32Array(rows * outDim);
        referenceMatmul(expected, x, dequantizeQ8(m.q8!), null, rows, inDim, outDim);
        assert.ok(relError(out, expected) < 1e-5, `${rows}x${inDim}x${outDim}: ${relError(out, expected)}`);
      }
    });
  }

  for (const threads of [1, 2]) {
    it(`q8_0 matmul (q8_0 activations) matches the integer reference (${threads} thread(s))`, async () => {
      const b = await backend(threads, 'q8_0');
      for (const [rows, inDim, outDim] of Q8_SHAPES) {
        const m = b.matrix(randomArray(outDim * inDim, outDim + 3), outDim, inDim);
        const x = randomArray(rows * inDim, rows);
        const out = new Float32Array(rows * outDim).fill(Number.NaN);
        matmul(out, x, m, null, rows);
        const expected = new Float32Array(rows * outDim);
        matmulQ8Int(
          expected,
          quantizeActivations(x, rows, inDim),
          unpackQ8x4(m.q8x4!, outDim, inDim),
          rows,
          inDim,
          outDim,
        );
        assert.ok(relError(out, expected) < 1e-5, `${rows}x${inDim}x${outDim}: ${relError(out, expected)}`);
      }
    });
  }

  it('keeps f32 for a matrix whose rows are not whole q8_0 blocks', async () => {
    const b = await backend(1, 'q8_0');
    const m: Matrix = b.matrix(randomArray(3 * 40, 1), 3, 40);
    assert.equal(m.dtype, 'f32');
  });

  // The fast path (--relaxed-simd): one rounding per multiply-add, so close to the reference, not bit-equal.
  for (const threads of [1, 2]) {
    it(`f32 matmul on the fused multiply-add tiles matches the reference on ragged shapes (${threads} thread(s))`, async () => {
      const b = await KernelBackend.create({ threads, weightDtype: 'f32', relaxedSimd: true }, 1 << 20);
      backends.push(b);
      assert.equal(b.relaxedSimd, true, 'Node 20+ compiles relaxed SIMD once the V8 flag is set');
      for (const [rows, inDim, outDim] of F32_SHAPES) {
        const w = randomArray(outDim * inDim, outDim + 1);
        const x = randomArray(rows * inDim, rows + inDim);
        const out = new Float32Array(rows * outDim).fill(Number.NaN);
        matmul(out, x, b.matrix(w, outDim, inDim), null, rows);
        const expected = new Float32Array(rows * outDim);
        referenceMatmul(expected, x, w, null, rows, inDim, outDim);
        assert.ok(relError(out, expected) < 1e-5, `${rows}x${inDim}x${outDim}: ${relError(out, expected)}`);
      }
    });
  }
});

describe('reference backend', () => {
  it('runs the TypeScript kernel, and q8_0 as its dequantized weights', () => {
    const w = randomArray(8 * 64, 5);
    const x = randomArray(2 * 64, 6);
    const f32 = KernelBackend.reference('f32').matrix(w, 8, 64);
    const out = new Float32Array(16);
    matmul(out, x, f32, null, 2);
    const expected = new Float32Array(16);
    referenceMatmul(expected, x, w, null, 2, 64, 8);
    assert.deepEqual(out, expected);

    const q = KernelBackend.reference('q8_0').matrix(w, 8, 64);
    const tensor = { q: new Int8Array(w.length), scales: new Float32Array(w.length / 32) };
    quantizeQ8(w, 8, 64, tensor);
    assert.deepEqual(q.f32, dequantizeQ8(tensor));
  });
});

describe('quantizeQ8', () => {
  it('rounds each weight to within half a step of its block scale', () => {
    const w = randomArray(4 * 64, 9);
    w[5] = 0; // a zero weight stays zero
    const t = { q: new Int8Array(w.length), scales: new Float32Array(w.length / 32) };
    quantizeQ8(w, 4, 64, t);
    const back = dequantizeQ8(t);
    for (let i = 0; i < w.length; i++) {
      const scale = t.scales[Math.floor(i / 32)]!;
      assert.ok(Math.abs(back[i]! - w[i]!) <= scale / 2 + 1e-7, `weight ${i}`);
      assert.ok(Math.abs(t.q[i]!) <= 127);
    }
    assert.equal(back[5], 0);
    assert.throws(() => quantizeQ8(w, 8, 32 + 8, t), /whole blocks of 32/);
  });
});
