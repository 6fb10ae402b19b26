/**
 * softmax_f32 (softmax-codegen.ts) against reference/row-ops.ts `softmax`, bit for bit, on ragged rows: the
 * attention scores it replaces (scaled dot products, a few units wide), rows with ties and equal values,
 * rows wide enough that exp underflows (the scalar path), odd lengths (a lone last value), one-value rows,
 * and several rows per call (each normalized on its own).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SharedArena } from '../arena.ts';
import { softmax } from '../reference/row-ops.ts';
import { instantiateKernels, kernelModule } from './kernel-module.ts';

/** xorshift32 uniform in [0, 1): reproducible rows. */
function uniform(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 2 ** 32;
  };
}

describe('softmax_f32', () => {
  it('equals the reference softmax bit for bit on ragged rows', () => {
    const compiled = kernelModule(false);
    assert.ok(compiled, 'this runtime has WebAssembly SIMD');
    const arena = new SharedArena(16 << 20);
    const wasm = instantiateKernels(compiled.module, arena.memory);
    const rand = uniform(7);
    const shapes: Array<[rows: number, n: number, spread: number]> = [
      [1, 1, 1],
      [3, 1, 5],
      [1, 2, 1],
      [2, 3, 8],
      [3, 17, 4],
      [9, 64, 6],
      [3, 513, 3],
      [2, 40, 2000], // exp(x − max) underflows for most values: the scalar sequence's early exits
      [4, 33, 0], // all equal: exp(0) = 1 everywhere
    ];
    let cases = 0;
    for (const [rows, n, spread] of shapes) {
      const x = arena.allocF32(rows * n);
      for (let i = 0; i < x.length; i++) x[i] = (rand() - 0.5) * spread;
      if (n > 4) x[3] = x[1]!; // a tie with whatever the first row's max is not
      const expected = Float32Array.from(x);
      for (let r = 0; r < rows; r++) softmax(expected, r * n, n);
      wasm.softmax_f32(x.byteOffset, rows, n);
      const got = new Uint32Array(x.buffer, x.byteOffset, x.length);
      const want = new Uint32Array(expected.buffer);
      for (let i = 0; i < x.length; i++) {
        assert.equal(
          got[i],
          want[i],
          `rows ${rows} × ${n}, spread ${spread}, [${i}]: ${x[i]} vs ${expected[i]}`,
        );
      }
      cases += x.length;
    }
    assert.equal(cases, 2390); // every value above was compared
  });
});
