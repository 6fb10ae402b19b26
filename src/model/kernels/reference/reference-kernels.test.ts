import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { matmul } from './matmul.ts';
import { add, argmax, rmsnorm, silu, softmax, swiglu } from './row-ops.ts';

/** Deterministic pseudo-random values in [-1, 1). */
function randomArray(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 31 - 1;
  });
}

/** The textbook triple loop, as the oracle for the tiled kernel. */
function naiveMatmul(
  x: Float32Array,
  w: Float32Array,
  bias: Float32Array | null,
  rows: number,
  n: number,
  m: number,
) {
  const out = new Float32Array(rows * m);
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < m; j++) {
      let s = 0;
      for (let k = 0; k < n; k++) s += x[i * n + k]! * w[j * n + k]!;
      out[i * m + j] = bias ? Math.fround(s) + bias[j]! : s; // the kernel rounds the sum, then adds the bias
    }
  }
  return out;
}

describe('matmul', () => {
  it('matches the naive product for every tile/remainder combination', () => {
    // rows and outDim cover 4-aligned and ragged edges; inDim 1100 makes panels smaller than outDim.
    for (const [rows, inDim, outDim] of [
      [1, 8, 4],
      [3, 5, 7],
      [4, 16, 8],
      [9, 33, 13],
      [6, 1100, 70],
    ] as const) {
      const x = randomArray(rows * inDim, rows + inDim);
      const w = randomArray(outDim * inDim, outDim);
      const bias = randomArray(outDim, 7);
      for (const b of [null, bias]) {
        const out = new Float32Array(rows * outDim).fill(Number.NaN);
        matmul(out, x, w, b, rows, inDim, outDim);
        assert.deepEqual(out, naiveMatmul(x, w, b, rows, inDim, outDim), `${rows}x${inDim}x${outDim}`);
      }
    }
  });
});

describe('elementwise kernels', () => {
  it('rmsnorm scales each row to unit root-mean-square times the weight', () => {
    const x = Float32Array.from([3, 4, 0, 0, 1, 1, 1, 1]);
    const weight = Float32Array.from([1, 2, 1, 1]);
    const out = new Float32Array(8);
    rmsnorm(out, x, weight, 2, 4, 0);
    assert.deepEqual([...out], [1.2, 3.2, 0, 0, 1, 2, 1, 1].map(Math.fround));
  });

  it('softmax sums to one and is shift invariant', () => {
    const a = Float64Array.from([1, 2, 3, 1000]);
    softmax(a, 0, 3);
    assert.ok(Math.abs(a[0]! + a[1]! + a[2]! - 1) < 1e-12);
    assert.equal(a[3], 1000, 'outside the range untouched');
    const b = Float64Array.from([1001, 1002, 1003]);
    softmax(b, 0, 3);
    for (let i = 0; i < 3; i++) assert.ok(Math.abs(a[i]! - b[i]!) < 1e-12);
  });

  it('silu, swiglu, add and argmax', () => {
    assert.equal(silu(0), 0);
    assert.ok(Math.abs(silu(2) - 2 / (1 + Math.exp(-2))) < 1e-15);
    const gate = Float32Array.from([0, 2]);
    swiglu(gate, Float32Array.from([5, 3]), 2);
    assert.deepEqual([...gate], [0, Math.fround(3 * silu(2))]);
    const a = Float32Array.from([1, 2]);
    add(a, Float32Array.from([10, 20]), 2);
    assert.deepEqual([...a], [11, 22]);
    assert.equal(argmax(Float32Array.from([1, 5, 5, 2])), 1, 'first of equal maxima, like torch.argmax');
    assert.equal(argmax(Float32Array.from([9, 1, 3, 2]), 1, 3), 1);
  });
});
