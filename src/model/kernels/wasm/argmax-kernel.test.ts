/**
 * argmax_f32 returns the index reference/row-ops.ts `argmax` returns, on every length's four-lane split and
 * tail, on ties (first one), with NaN (never chosen, unless it is x[0]), ±0, ±Infinity, and on logits-sized
 * rows at offsets that are not 16-byte aligned.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SharedArena } from '../arena.ts';
import { argmax } from '../reference/row-ops.ts';
import { instantiateKernels, kernelModule } from './kernel-module.ts';

const compiled = kernelModule(false);
assert.ok(compiled, 'this runtime has WebAssembly SIMD');
const arena = new SharedArena(8 << 20);
const wasm = instantiateKernels(compiled.module, arena.memory);
const buffer = arena.allocF32(70_000);

/** Both argmaxes of `values` written at float offset `at` of the arena buffer. */
function both(values: ArrayLike<number>, at = 0): [number, number] {
  const x = buffer.subarray(at, at + values.length);
  x.set(values);
  return [wasm.argmax_f32(x.byteOffset, x.length), argmax(x)];
}

/** Reproducible small integers: many exact ties. */
function randomInts(seed: number, n: number, span: number): number[] {
  let s = seed >>> 0 || 1;
  return Array.from({ length: n }, () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return (s % span) - (span >> 1);
  });
}

describe('argmax_f32 kernel', () => {
  it('matches the reference on every length 1..40 and offset 0..3, with ties', () => {
    for (let n = 1; n <= 40; n++) {
      for (let at = 0; at < 4; at++) {
        for (let seed = 1; seed <= 20; seed++) {
          const [got, want] = both(randomInts(seed * 131 + n, n, 7), at);
          assert.equal(got, want, `n ${n}, offset ${at}, seed ${seed}`);
        }
      }
    }
  });

  it('takes the first of equal maxima, wherever they fall among the lanes and the tail', () => {
    for (let n = 1; n <= 13; n++) {
      for (let first = 0; first < n; first++) {
        for (let second = first; second < n; second++) {
          const x = new Array<number>(n).fill(-1);
          x[second] = 5;
          x[first] = 5;
          assert.deepEqual(both(x), [first, first], `n ${n}, maxima at ${first} and ${second}`);
        }
      }
    }
  });

  it('treats NaN, ±0 and ±Infinity as the JS comparison does', () => {
    const cases: number[][] = [
      [Number.NaN, 1, 2, 3, 4, 5],
      [1, Number.NaN, 2, Number.NaN, Number.NaN, 0],
      [Number.NaN, Number.NaN, Number.NaN, Number.NaN, Number.NaN],
      [-0, 0, -0, 0, 0],
      [0, -0, 0, -0, -0, 0],
      [Number.NEGATIVE_INFINITY, Number.NEGATIVE_INFINITY, Number.NaN, Number.NEGATIVE_INFINITY, 1],
      [
        Number.NEGATIVE_INFINITY,
        Number.NEGATIVE_INFINITY,
        Number.NEGATIVE_INFINITY,
        Number.NEGATIVE_INFINITY,
      ],
      [1, 2, Number.POSITIVE_INFINITY, 3, Number.POSITIVE_INFINITY, Number.NaN],
      [-3, Number.NaN, Number.NaN, Number.NaN, -2, Number.NaN, Number.NaN, Number.NaN, -1],
    ];
    for (const x of cases) {
      const [got, want] = both(x);
      assert.equal(got, want, `[${x.join(', ')}]`);
    }
  });

  it('matches the reference on logits-sized rows (49152 and 32000 + 3 values, random floats)', () => {
    for (const [n, at] of [
      [49152, 0],
      [32003, 1],
      [49152, 3],
    ] as const) {
      for (let seed = 1; seed <= 5; seed++) {
        const x = Float32Array.from(randomInts(seed, n, 1 << 20), (v) => v / 4096);
        x[(seed * 7919) % n] = 300; // one clear winner in some runs, ties among 300s in others
        if (seed % 2 === 0) x[(seed * 104729) % n] = 300;
        const [got, want] = both(x, at);
        assert.equal(got, want, `n ${n}, offset ${at}, seed ${seed}`);
      }
    }
  });
});
