/**
 * swiglu_f32_fast: SwiGLU in f32x4 with llama.cpp's vectorized expf (ggml_v_expf: one Cody-Waite reduction,
 * a degree-5 polynomial, 2^n from the exponent bits), for the q8_0 path, whose logits are an approximation
 * already. The exact path (`swiglu_f32`, exp-codegen.ts: V8's Math.exp in f64, bit for bit the reference)
 * stays the f32 default; this one is ~1-3 ulp from it per value and ~8× fewer instructions (docs/engine-speed.md, Q7).
 *
 *   swiglu_f32_fast(gate, up, n)     gate[i] = gate[i] / (1 + exp(−gate[i])) · up[i]
 *
 * exp's argument is clamped to [−87, 87] first, so 2^n stays a normal f32 (|n| ≤ 126) and there is no slow
 * path: exp(87) ≈ 6e37 already makes silu(g) = g / (1 + e) a denormal-sized number, and exp(−87) ≈ 2e-38
 * leaves g / (1 + e) = g, as the exact path gives. NaN stays NaN (f32x4.min/max propagate it).
 *
 * Systems analogy: a fast path with a documented tolerance, enabled per mount (per dtype), not globally.
 */
// biome-ignore-all format: instruction sequences read like assembly, one logical step per line
import { type Code, encodeULeb128, FunctionBuilder, type FunctionDef, I32, op, V128, whileLoop } from './assembler.ts';
import { bytesOf, get, increment, lessThan, set } from './codegen-helpers.ts';

const simd = (opcode: number, ...imm: number[]): Code => [0xfd, ...encodeULeb128(opcode), ...imm];
const f32x4Neg = simd(0xe1);
const f32x4Div = simd(0xe7);
const f32x4Min = simd(0xe8);
const f32x4Max = simd(0xe9);
const i32x4Shl = simd(0xab);
const i32x4Add = simd(0xae);
const v128Store32Lane = (lane: number): Code => simd(0x5a, 2, 0, lane);

// ggml_v_expf's constants, written as C hex floats there: 0x1.715476p+0 is hex(0x1715476, 6, 0) (exact in f32)
const hex = (digits: number, fractionDigits: number, exponent: number): number => digits * 2 ** (exponent - 4 * fractionDigits);
const ROUNDER = hex(0x18, 1, 23); // 0x1.8p23: adding it rounds to an integer held in the low mantissa bits
const LOG2E = hex(0x1715476, 6, 0);
const LN2_HI = hex(0x162e4, 4, -1);
const LN2_LO = hex(0x17f7d1c, 6, -20);
const C1 = hex(0x1ffffec, 6, -1);
const C2 = hex(0x1fffdb6, 6, -2);
const C3 = hex(0x1555e66, 6, -3);
const C4 = hex(0x1573e2e, 6, -5);
const C5 = hex(0x10e4020, 6, -7);
const CLAMP = 87;

export function swigluF32Fast(): FunctionDef {
  const fn = new FunctionBuilder('swiglu_f32_fast', true);
  const gate = fn.param('gate', I32);
  const up = fn.param('up', I32);
  const n = fn.param('n', I32);
  const end = fn.local('end', I32); // gate + n*4
  const vecEnd = fn.local('vecEnd', I32); // gate + (n & ~3)*4
  const g = fn.local('g', V128);
  const x = fn.local('x', V128); // exp's argument, clamp(−g)
  const z = fn.local('z', V128);
  const nk = fn.local('rounded', V128); // round(x·log2e) as f32
  const b = fn.local('b', V128); // the reduced argument
  const u = fn.local('u', V128);
  const k = fn.local('k', V128); // 2^n
  const splat = (v: number): Code => [...op.f32Const(v), ...op.f32x4Splat];
  const { f32x4Add: add, f32x4Sub: sub, f32x4Mul: mul } = op;
  /** pushes gate·up / (1 + exp(−gate)) for the 4 lanes of g and the up vector `upVec` pushes */
  const swiglu = (upVec: Code): Code => [
    ...get(g), ...f32x4Neg, ...splat(-CLAMP), ...f32x4Max, ...splat(CLAMP), ...f32x4Min, ...set(x),
    ...get(x), ...splat(LOG2E), ...mul, ...splat(ROUNDER), ...add, ...set(z),
    ...get(z), ...splat(ROUNDER), ...sub, ...set(nk),
    ...get(x), ...get(nk), ...splat(LN2_HI), ...mul, ...sub, ...get(nk), ...splat(LN2_LO), ...mul, ...sub, ...set(b),
    ...get(z), ...op.i32Const(23), ...i32x4Shl, ...splat(1), ...i32x4Add, ...set(k),
    ...get(b), ...get(b), ...mul, ...set(u),
    // j = C1·b + ((C2 + C3·b) + (C4 + C5·b)·u)·u; exp = k + j·k
    ...splat(C1), ...get(b), ...mul,
    ...splat(C2), ...splat(C3), ...get(b), ...mul, ...add,
    ...splat(C4), ...splat(C5), ...get(b), ...mul, ...add, ...get(u), ...mul, ...add,
    ...get(u), ...mul, ...add,
    ...get(k), ...mul, ...get(k), ...add,
    // g / (1 + exp(−g)) · up
    ...splat(1), ...op.f32x4Add, ...set(x),
    ...get(g), ...get(x), ...f32x4Div, ...upVec, ...mul,
  ];
  return fn.build([
    ...get(gate), ...bytesOf(n), ...op.i32Add, ...set(end),
    ...get(gate), ...get(n), ...op.i32Const(-4), ...op.i32And, ...op.i32Const(2), ...op.i32Shl, ...op.i32Add, ...set(vecEnd),
    ...whileLoop(lessThan(gate, vecEnd), [
      ...get(gate), ...op.v128Load(), ...set(g),
      ...get(gate), ...swiglu([...get(up), ...op.v128Load()]), ...op.v128Store(),
      ...increment(gate, op.i32Const(16)), ...increment(up, op.i32Const(16)),
    ]),
    // the last n mod 4 values, one lane at a time (no read or write past the end)
    ...whileLoop(lessThan(gate, end), [
      ...get(gate), ...op.v128Load32Splat(), ...set(g),
      ...get(gate), ...swiglu([...get(up), ...op.v128Load32Splat()]), ...v128Store32Lane(0),
      ...increment(gate, op.i32Const(4)), ...increment(up, op.i32Const(4)),
    ]),
  ]);
}
