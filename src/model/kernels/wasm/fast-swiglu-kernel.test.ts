/**
 * swiglu_f32_fast (fast-swiglu-codegen.ts, the q8_0 path's SwiGLU) against the exact reference: within a
 * few f32 ulp everywhere on ragged lengths (the n mod 4 tail included), over the range gate values take and
 * beyond the clamp (|g| up to 200: absolute error below 1e-34 there), zeros of both signs; nothing written
 * past n.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SharedArena } from '../arena.ts';
import { swiglu } from '../reference/row-ops.ts';
import { instantiateKernels, kernelModule } from './kernel-module.ts';

/** Relative error allowed per value: 4 ulp of f32 (2^-21), the vectorized expf's error plus the division's. */
const MAX_RELATIVE = 2 ** -21;

describe('swiglu_f32_fast', () => {
  it('is within a few ulp of the exact SwiGLU on ragged lengths and wide ranges', () => {
    const compiled = kernelModule(false);
    assert.ok(compiled, 'this runtime has WebAssembly SIMD');
    const arena = new SharedArena(16 << 20);
    const wasm = instantiateKernels(compiled.module, arena.memory);
    let seed = 12345;
    const rand = (): number => {
      seed = (seed * 1103515245 + 12345) >>> 0;
      return seed / 2 ** 32;
    };
    let worst = 0;
    let compared = 0;
    for (const [n, spread] of [
      [1, 4],
      [3, 10],
      [4, 1],
      [7, 30],
      [1536, 8],
      [1539, 400],
      [64, 0.001],
    ] as const) {
      const gate = arena.allocF32(n + 1);
      const up = arena.allocF32(n);
      for (let i = 0; i < n; i++) {
        gate[i] = (rand() - 0.5) * spread;
        up[i] = (rand() - 0.5) * 4;
      }
      if (n > 4) {
        gate[0] = 0;
        gate[1] = -0;
        gate[2] = 200;
        gate[3] = -200;
      }
      gate[n] = 12345; // a guard: must be left alone
      const expected = Float32Array.from(gate.subarray(0, n));
      swiglu(expected, up, n);
      wasm.swiglu_f32_fast(gate.byteOffset, up.byteOffset, n);
      assert.equal(gate[n], 12345, `n = ${n}: wrote past the end`);
      for (let i = 0; i < n; i++) {
        const err = Math.abs(gate[i]! - expected[i]!);
        // below g = −87 the clamp leaves silu(g) ≈ g·2^-126 (≤ 1e-35) where the exact value underflows to 0
        const allowed = MAX_RELATIVE * Math.abs(expected[i]!) + 1e-34;
        assert.ok(err <= allowed, `n = ${n} [${i}]: ${gate[i]} vs ${expected[i]} (up ${up[i]})`);
        if (Math.abs(expected[i]!) > 1e-30) worst = Math.max(worst, err / Math.abs(expected[i]!));
        compared++;
      }
    }
    assert.equal(compared, 3154);
    assert.ok(worst > 0, 'an approximation differs somewhere from the exact path');
    console.log(
      `swiglu_f32_fast: worst relative error ${worst.toExponential(2)} (${(worst * 2 ** 23).toFixed(1)} f32 ulp)`,
    );
  });
});
