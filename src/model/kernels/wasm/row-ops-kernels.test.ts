/**
 * The wasm row kernels (row-ops-codegen.ts) against the TypeScript reference, bit for bit: exp_f64 against
 * Math.exp on 10 million random doubles and the edge cases, and RMSNorm / RoPE / SwiGLU / the residual add
 * on ragged shapes of random values (with zeros, subnormals, huge values and infinities mixed in). Output
 * bits must be equal; only NaN counts as equal to any NaN (JS does not fix NaN payloads either).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { KernelExports } from '../kernel-abi.ts';
import { SharedArena } from '../arena.ts';
import { writeKvSlots } from '../reference/attention.ts';
import { applyRope } from '../reference/rope.ts';
import { add, rmsnorm, swiglu } from '../reference/row-ops.ts';
import { instantiateKernels, kernelModule } from './kernel-module.ts';

function kernels(): { wasm: KernelExports; arena: SharedArena } {
  const compiled = kernelModule(false);
  assert.ok(compiled, 'this runtime has WebAssembly SIMD');
  const arena = new SharedArena(64 << 20);
  return { wasm: instantiateKernels(compiled.module, arena.memory), arena };
}

/** xorshift32: reproducible random bits (a failure names its seed and index). */
function randomBits(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s;
  };
}

const f64Bits = new Float64Array(1);
const u32OfF64 = new Uint32Array(f64Bits.buffer);
/** The double next to x towards +Inf (dir 1) or −Inf (-1); non-finite x is returned as is. */
function nextDouble(x: number, dir: 1 | -1): number {
  if (!Number.isFinite(x)) return x;
  if (x === 0) return dir * 5e-324;
  f64Bits[0] = x;
  const away = x > 0 === dir > 0; // one more ulp away from 0
  const lo = u32OfF64[0]!;
  if (away) {
    u32OfF64[0] = lo + 1;
    if (lo === 0xffffffff) u32OfF64[1] = u32OfF64[1]! + 1;
  } else {
    u32OfF64[0] = lo - 1;
    if (lo === 0) u32OfF64[1] = u32OfF64[1]! - 1;
  }
  return f64Bits[0]!;
}

const sameDouble = (a: number, b: number): boolean => (Number.isNaN(a) ? Number.isNaN(b) : Object.is(a, b));

/** First index where two f32 arrays differ in bits (NaN equals NaN), or -1. */
function firstDifference(a: Float32Array, b: Float32Array): number {
  const ua = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const ub = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < a.length; i++) {
    if (ua[i] !== ub[i] && !(Number.isNaN(a[i]!) && Number.isNaN(b[i]!))) return i;
  }
  return -1;
}

/** f32 values for a kernel's input: mostly ordinary activations, with the awkward ones mixed in. */
function activations(n: number, seed: number, scale: number): Float32Array {
  const bits = randomBits(seed);
  const special = [0, -0, 1e-42, -3e-39, 3.4e38, -3.4e38, 88.7, -103.9, 1, -1];
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const r = bits();
    if (r % 97 === 0) out[i] = special[r % special.length]!;
    else out[i] = ((bits() / 2 ** 32) * 2 - 1) * scale;
  }
  return out;
}

describe('exp_f64 (fdlibm __ieee754_exp) is Math.exp bit for bit', () => {
  const { wasm, arena } = kernels();
  const CHUNK = 1 << 20;
  const input = arena.allocF32(2 * CHUNK); // CHUNK f64 values
  const output = arena.allocF32(2 * CHUNK);
  const inputF64 = new Float64Array(input.buffer, input.byteOffset, CHUNK);
  const outputF64 = new Float64Array(output.buffer, output.byteOffset, CHUNK);
  /** exp_f64_pairs (the f64x2 path of swiglu_f32, scalar where a lane is out of its range) over values. */
  const pairs = (values: ArrayLike<number>): Float64Array => {
    inputF64.set(values as ArrayLike<number>);
    wasm.exp_f64_pairs(output.byteOffset, input.byteOffset, values.length);
    return outputF64.subarray(0, values.length);
  };

  it('on the edge cases: ±0, subnormals, ±Inf, NaN, thresholds, |x| < 2^-28, reduction boundaries', () => {
    const cases = [
      0,
      -0,
      5e-324,
      -5e-324,
      2.2250738585072014e-308,
      -2.2250738585072014e-308,
      Infinity,
      -Infinity,
      NaN,
      709.782712893384,
      709.7827128933841,
      709.78,
      710,
      -745.1332191019411,
      -745.1332191019412,
      -745.2,
      -746,
      -708.4,
      -708.3964185322641,
      -709.1,
      2 ** -28,
      -(2 ** -28),
      2 ** -29,
      3.7252902984e-9,
      1e-300,
      1,
      -1,
      0.5 * Math.LN2,
      1.5 * Math.LN2,
      -0.5 * Math.LN2,
      -1.5 * Math.LN2,
      0.34657359027997264,
      1.0397207708399179,
      Math.LN2,
      -Math.LN2,
      2,
      -2,
      10,
      -10,
      100,
      -100,
      1.7976931348623157e308,
      -1.7976931348623157e308,
    ];
    const all = cases.flatMap((x) => [x, nextDouble(x, 1), nextDouble(x, -1)]);
    for (const v of all) {
      assert.ok(sameDouble(wasm.exp_f64(v), Math.exp(v)), `exp(${v}): ${wasm.exp_f64(v)} ≠ ${Math.exp(v)}`);
    }
    // The pair path: every case next to every other (both lanes in range, one in, none in).
    const lanes = all.flatMap((a) => all.flatMap((b) => [a, b]));
    const got = pairs(lanes);
    for (let i = 0; i < lanes.length; i++) {
      const v = lanes[i]!;
      assert.ok(sameDouble(got[i]!, Math.exp(v)), `pair exp(${v}): ${got[i]} ≠ ${Math.exp(v)}`);
    }
  });

  it('on 10 million random inputs (uniform over bits in the finite range, and dense near 0), one and two at a time', () => {
    const bits = randomBits(0x9e3779b9);
    let mismatches = 0;
    let first = '';
    const batch = new Float64Array(CHUNK);
    const check = (count: number): void => {
      const got = pairs(batch.subarray(0, count));
      for (let j = 0; j < count; j++) {
        const want = Math.exp(batch[j]!);
        if (!sameDouble(got[j]!, want) && mismatches++ === 0)
          first = `pair exp(${batch[j]}) = ${got[j]}, Math.exp gives ${want}`;
      }
    };
    for (let i = 0; i < 10_000_000; i++) {
      let x: number;
      if (i % 2 === 0) {
        // Any exponent from 2^-1074 up to overflow: random high and low words, |x| capped below 1000.
        u32OfF64[0] = bits();
        u32OfF64[1] = bits();
        x = f64Bits[0]!;
        if (!Number.isFinite(x) || Math.abs(x) > 1000) x = (bits() / 2 ** 32 - 0.5) * 1600;
      } else {
        x = (bits() / 2 ** 32 - 0.5) * 2 ** ((bits() % 12) - 2); // the SiLU range: |x| up to 256
      }
      const got = wasm.exp_f64(x);
      const want = Math.exp(x);
      if (!sameDouble(got, want)) {
        if (mismatches++ === 0) first = `exp(${x}) = ${got}, Math.exp gives ${want}`;
      }
      // Pairs of like inputs: the bit-uniform ones in the first half, the dense ones (mostly in range) in the second.
      batch[((i % CHUNK) >> 1) + (i % 2) * (CHUNK >> 1)] = x;
      if (i % CHUNK === CHUNK - 1) check(CHUNK);
    }
    check(CHUNK); // the last partial chunk (the rest of the batch holds earlier inputs: checked again)
    assert.equal(mismatches, 0, first);
  });
});

describe('row kernels match the reference bit for bit', () => {
  const { wasm, arena } = kernels();
  const place = (a: Float32Array): Float32Array => {
    const p = arena.allocF32(a.length);
    p.set(a);
    return p;
  };

  it('swiglu_f32 on random gates and ups (every odd length up to 37, then 5000)', () => {
    for (const n of [1, 3, 5, 7, 17, 37, 5000]) {
      for (const scale of [1, 12, 120]) {
        const gate = activations(n, n * 31 + scale, scale);
        const up = activations(n, n * 17 + scale, scale);
        const want = gate.slice();
        swiglu(want, up, n);
        const g = place(gate);
        wasm.swiglu_f32(g.byteOffset, place(up).byteOffset, n);
        const i = firstDifference(g, want);
        assert.equal(i, -1, `n ${n}, scale ${scale}, index ${i}: gate ${gate[i]} up ${up[i]}`);
      }
    }
  });

  it('add_f32 on lengths around the f32x4 step', () => {
    for (const n of [1, 2, 3, 4, 5, 7, 8, 9, 576, 1537]) {
      const a = activations(n, n, 50);
      const b = activations(n, n + 1, 50);
      const want = a.slice();
      add(want, b, n);
      const pa = place(a);
      wasm.add_f32(pa.byteOffset, place(b).byteOffset, n);
      assert.equal(firstDifference(pa, want), -1, `n ${n}`);
    }
  });

  it('rmsnorm_f32 on ragged rows × dims, out separate and in place', () => {
    for (const [rows, dim] of [
      [1, 1],
      [1, 576],
      [3, 7],
      [5, 64],
      [2, 2048],
      [17, 33],
    ] as const) {
      for (const eps of [1e-5, 1e-6]) {
        const x = activations(rows * dim, rows * 7 + dim, 3);
        const weight = activations(dim, dim, 2);
        const want = new Float32Array(rows * dim);
        rmsnorm(want, x, weight, rows, dim, eps);
        const px = place(x);
        const pw = place(weight);
        const out = arena.allocF32(rows * dim);
        wasm.rmsnorm_f32(out.byteOffset, px.byteOffset, pw.byteOffset, rows, dim, eps);
        assert.equal(firstDifference(out, want), -1, `rows ${rows} dim ${dim} eps ${eps}`);
        wasm.rmsnorm_f32(px.byteOffset, px.byteOffset, pw.byteOffset, rows, dim, eps);
        assert.equal(firstDifference(px, want), -1, `in place: rows ${rows} dim ${dim}`);
      }
    }
  });

  it('rope_f32 on ragged rows, heads and head sizes (half a multiple of 4 or not)', () => {
    for (const [rows, heads, headDim] of [
      [1, 9, 64],
      [3, 3, 64],
      [2, 5, 6],
      [4, 2, 10],
      [7, 4, 128],
      [1, 1, 2],
    ] as const) {
      const half = headDim / 2;
      const x = activations(rows * heads * headDim, rows + heads + headDim, 4);
      const angles = activations(rows * half, headDim, 1000);
      const cos = angles.map(Math.cos);
      const sin = angles.map(Math.sin);
      const want = x.slice();
      applyRope(want, rows, heads, headDim, cos, sin);
      const px = place(x);
      wasm.rope_f32(px.byteOffset, rows, heads, headDim, place(cos).byteOffset, place(sin).byteOffset);
      assert.equal(firstDifference(px, want), -1, `rows ${rows} heads ${heads} headDim ${headDim}`);
    }
  });

  it('kv_write files rows in their slots like writeKvSlots, skipping negative (padding) slots', () => {
    const shape = { numBlocks: 5, blockSize: 4, numLayers: 1, numKvHeads: 3, headDim: 8 };
    const kvDim = shape.numKvHeads * shape.headDim;
    const floats = shape.numBlocks * shape.blockSize * kvDim;
    const slotMapping = Int32Array.of(7, -1, 0, 19, 12, -1, 3);
    const rows = slotMapping.length;
    const k = place(activations(rows * kvDim, 1, 5));
    const v = place(activations(rows * kvDim, 2, 5));
    const before = activations(floats, 3, 1);
    const want = { ...shape, key: [before.slice()], value: [before.slice()] };
    writeKvSlots(want, 0, k, v, slotMapping);
    const key = place(before);
    const value = place(before);
    const slots = arena.allocI32(rows);
    slots.set(slotMapping);
    wasm.kv_write(
      key.byteOffset,
      value.byteOffset,
      k.byteOffset,
      v.byteOffset,
      slots.byteOffset,
      rows,
      kvDim,
    );
    assert.equal(firstDifference(key, want.key[0]!), -1, 'keys');
    assert.equal(firstDifference(value, want.value[0]!), -1, 'values');
  });
});
