/**
 * Code generators for exp and SwiGLU, bit for bit what V8's Math.exp and reference/row-ops.ts compute:
 * Math.exp is V8's port of fdlibm's __ieee754_exp (src/base/ieee754.cc), ported again here instruction for
 * instruction (`exp_f64`), inlined into `swiglu_f32`, and run two lanes at a time (`exp_f64_pairs`) where
 * both arguments take no early exit. The row-ops header (row-ops-codegen.ts) says why bit-identical holds.
 *
 *   swiglu_f32(gate, up, n)                   gate[i] = gate[i] / (1 + exp(−gate[i])) · up[i]
 *   exp_f64(x) → f64                          Math.exp(x), bit for bit
 *   exp_f64_pairs(out, x, n)                  out[i] = Math.exp(x[i]) (f64 arrays), two lanes at a time
 */
// biome-ignore-all format: instruction sequences read like assembly, one logical step per line
import {
  type Code,
  F64,
  FunctionBuilder,
  type FunctionDef,
  I32,
  type Local,
  op,
  V128,
  whileLoop,
} from './assembler.ts';
import { bytesOf, get, increment, lessThan, set, } from './codegen-helpers.ts';

// fdlibm e_exp.c constants, by their bits as in its comments (the decimal literals there carry more digits
// than a double holds, so they are written as the words they round to).
const fromWords = (hi: number, lo: number): number => {
  const words = new Uint32Array([lo, hi]); // little-endian: low word first
  return new Float64Array(words.buffer)[0]!;
};
const O_THRESHOLD = fromWords(0x40862e42, 0xfefa39ef); // 709.78..., above which exp overflows
const U_THRESHOLD = fromWords(0xc0874910, 0xd52d3051); // -745.13..., below which exp underflows to 0
const LN2_HI = fromWords(0x3fe62e42, 0xfee00000); // ln2 split in two: k·LN2_HI is exact
const LN2_LO = fromWords(0x3dea39ef, 0x35793c76);
const INV_LN2 = Math.LOG2E; // 0x3FF71547652B82FE, the C constant invln2
const P1 = fromWords(0x3fc55555, 0x5555553e);
const P2 = fromWords(0xbf66c16c, 0x16bebd93);
const P3 = fromWords(0x3f11566a, 0xaf25de2c);
const P4 = fromWords(0xbebbbd41, 0xc5d26bf1);
const P5 = fromWords(0x3e663769, 0x72bea4d0);
const E = Math.E; // V8 returns this for exp(1): the reduction below gets its last bit wrong
const TWO_M1000 = 2 ** -1000;
const TWO_1023 = 2 ** 1023;

const f64 = op.f64Const;
const load64 = (addr: Code): Code => [...addr, ...op.f32Load(), ...op.f64PromoteF32];

/**
 * exp(x), fdlibm's __ieee754_exp as V8 compiles it: |x| ≥ 709.78 filters Inf/NaN/overflow/underflow; the
 * argument is reduced to x − k·ln2 (hi − lo), a degree-5 polynomial gives exp of the remainder, and
 * 2^k is built from its exponent bits. The C's `huge*huge` and `twom1000*twom1000` are folded to their
 * values (+Inf, +0), as the C compiler folds them.
 */
export function expInline(fn: FunctionBuilder, x: Local): Code {
  const hx = fn.local('hx', I32); // high word of |x|
  const xsb = fn.local('xsb', I32); // sign bit of x
  const k = fn.local('k', I32);
  const hi = fn.local('hi', F64);
  const lo = fn.local('lo', F64);
  const t = fn.local('t', F64);
  const c = fn.local('c', F64);
  const y = fn.local('y', F64);
  const twopk = fn.local('twopk', F64);
  // A C `return` is a branch out of the block holding the sequence, to `depth` labels up (each enclosing
  // `if` is one).
  const ret = (value: Code, depth: number): Code => [...value, ...op.br(depth)];
  const ifThen = (cond: Code, then: Code, otherwise: Code = []): Code => [
    ...cond, ...op.if, ...then, ...(otherwise.length ? [...op.else, ...otherwise] : []), ...op.end,
  ];
  const hxAtLeast = (v: number): Code => [...get(hx), ...op.i32Const(v), ...op.i32GeU];
  /** (xsb ? b : a) for f64 a, b */
  const bySign = (a: number, b: number): Code => [...f64(b), ...f64(a), ...get(xsb), ...op.select];
  /** f64 with high word (0x3FF00000 + (e << 20)) and low word 0: 2^e */
  const powerOfTwo = (e: Code): Code => [
    ...op.i32Const(0x3ff00000), ...e, ...op.i32Const(20), ...op.i32Shl, ...op.i32Add,
    ...op.i64ExtendI32U, ...op.i64Const(32), ...op.i64Shl, ...op.f64ReinterpretI64,
  ];
  const body: Code = [
    ...op.i32Const(0), ...set(k), // the C's `k = 0` (the sequence may run in a loop)
    ...get(x), ...op.i64ReinterpretF64, ...op.i64Const(32), ...op.i64ShrU, ...op.i32WrapI64, ...set(hx),
    ...get(hx), ...op.i32Const(31), ...op.i32ShrU, ...set(xsb),
    ...get(hx), ...op.i32Const(0x7fffffff), ...op.i32And, ...set(hx),
    // Non-finite, overflowing or underflowing arguments.
    ...ifThen(hxAtLeast(0x40862e42), [
      ...ifThen(hxAtLeast(0x7ff00000), [
        ...ifThen([...get(x), ...get(x), ...op.f64Ne], ret([...get(x), ...get(x), ...op.f64Add], 3)), // NaN: x + x
        ...ret([...get(x), ...f64(0), ...get(xsb), ...op.i32Eqz, ...op.select], 2), // exp(+Inf) = Inf, exp(−Inf) = 0
      ]),
      ...ifThen([...get(x), ...f64(O_THRESHOLD), ...op.f64Gt], ret(f64(Number.POSITIVE_INFINITY), 2)),
      ...ifThen([...get(x), ...f64(U_THRESHOLD), ...op.f64Lt], ret(f64(0), 2)),
    ]),
    // Argument reduction: x = hi − lo = x − k·ln2.
    ...ifThen([...get(hx), ...op.i32Const(0x3fd62e42), ...op.i32GtU], [
      ...ifThen([...get(hx), ...op.i32Const(0x3ff0a2b2), ...op.i32LtU], [
        ...ifThen([...get(x), ...f64(1), ...op.f64Eq], ret(f64(E), 3)),
        ...get(x), ...bySign(LN2_HI, -LN2_HI), ...op.f64Sub, ...set(hi),
        ...bySign(LN2_LO, -LN2_LO), ...set(lo),
        ...op.i32Const(1), ...get(xsb), ...op.i32Sub, ...get(xsb), ...op.i32Sub, ...set(k),
      ], [
        ...f64(INV_LN2), ...get(x), ...op.f64Mul, ...bySign(0.5, -0.5), ...op.f64Add, ...op.i32TruncF64S, ...set(k),
        ...get(k), ...op.f64ConvertI32S, ...set(t),
        ...get(x), ...get(t), ...f64(LN2_HI), ...op.f64Mul, ...op.f64Sub, ...set(hi),
        ...get(t), ...f64(LN2_LO), ...op.f64Mul, ...set(lo),
      ]),
      ...get(hi), ...get(lo), ...op.f64Sub, ...set(x),
    ], [
      // |x| < 2^-28: 1 + x (the C's `huge + x > one` test is always true here)
      ...ifThen([...get(hx), ...op.i32Const(0x3e300000), ...op.i32LtU], ret([...f64(1), ...get(x), ...op.f64Add], 2)),
    ]),
    // x is in the primary range: exp(x) = 1 + 2x / (2 − R(x²)) via c, then scaled by 2^k.
    ...get(x), ...get(x), ...op.f64Mul, ...set(t),
    ...get(k), ...op.i32Const(-1021), ...op.i32GeS, ...op.if,
      ...powerOfTwo(get(k)), ...set(twopk),
    ...op.else,
      ...powerOfTwo([...get(k), ...op.i32Const(1000), ...op.i32Add]), ...set(twopk),
    ...op.end,
    ...get(x),
    ...get(t),
    ...f64(P1), ...get(t), ...f64(P2), ...get(t), ...f64(P3), ...get(t), ...f64(P4), ...get(t), ...f64(P5),
    ...op.f64Mul, ...op.f64Add, ...op.f64Mul, ...op.f64Add, ...op.f64Mul, ...op.f64Add, ...op.f64Mul, ...op.f64Add,
    ...op.f64Mul, ...op.f64Sub, ...set(c),
    // (x·c) / (c − 2) − x, from 1, when k = 0
    ...ifThen([...get(k), ...op.i32Eqz], ret([
      ...f64(1), ...get(x), ...get(c), ...op.f64Mul, ...get(c), ...f64(2), ...op.f64Sub, ...op.f64Div,
      ...get(x), ...op.f64Sub, ...op.f64Sub,
    ], 1)),
    ...f64(1), ...get(lo), ...get(x), ...get(c), ...op.f64Mul, ...f64(2), ...get(c), ...op.f64Sub, ...op.f64Div,
    ...op.f64Sub, ...get(hi), ...op.f64Sub, ...op.f64Sub, ...set(y),
    ...ifThen([...get(k), ...op.i32Const(-1021), ...op.i32GeS], [
      ...ifThen([...get(k), ...op.i32Const(1024), ...op.i32Eq],
        ret([...get(y), ...f64(2), ...op.f64Mul, ...f64(TWO_1023), ...op.f64Mul], 2)),
      ...ret([...get(y), ...get(twopk), ...op.f64Mul], 1),
    ]),
    ...get(y), ...get(twopk), ...op.f64Mul, ...f64(TWO_M1000), ...op.f64Mul,
  ];
  return [...op.blockF64, ...body, ...op.end];
}

/** exp(x) as a function (the sequence swiglu_f32 inlines, exported so tests compare it with Math.exp). */
export function expF64(): FunctionDef {
  const fn = new FunctionBuilder('exp_f64', true);
  const x = fn.param('x', F64);
  return fn.build(expInline(fn, x), [F64]);
}

/** gate[i] = silu(gate[i]) · up[i] = gate[i] / (1 + exp(−gate[i])) · up[i], in f64 like reference/row-ops.ts. */
export function swigluF32(): FunctionDef {
  const fn = new FunctionBuilder('swiglu_f32', true);
  const gate = fn.param('gate', I32);
  const up = fn.param('up', I32);
  const n = fn.param('n', I32);
  const end = fn.local('end', I32); // gate + n*4
  const g = fn.local('g', F64);
  const negG = fn.local('negG', F64); // exp's argument (the sequence overwrites it)
  // exp inlined: a call per value kept the loop from overlapping one value's divisions with the next's.
  const exp = expInline(fn, negG);
  const oneAtATime: Code = [
    ...load64(get(gate)), ...set(g),
    ...get(gate),
    ...get(g), ...op.f64Neg, ...set(negG),
    ...get(g), ...f64(1), ...exp, ...op.f64Add, ...op.f64Div,
    ...load64(get(up)), ...op.f64Mul, ...op.f32DemoteF64, ...op.f32Store(),
    ...increment(gate, op.i32Const(4)), ...increment(up, op.i32Const(4)),
  ];
  const body: Code = [
    ...get(gate), ...bytesOf(n), ...op.i32Add, ...set(end),
    ...whileLoop(lessThan(gate, end), [
      // Two values at once when both are in exp's ordinary range, else one through the scalar sequence.
      ...get(gate), ...op.i32Const(8), ...op.i32Add, ...get(end), ...op.i32LeU, ...op.if,
        ...swigluPairStep(fn, gate, up, 1),
      ...op.end,
      ...oneAtATime,
    ]),
  ];
  return fn.build(body);
}

/**
 * exp of two f64 lanes at once: the scalar sequence's operations lane by lane, branch-free, for arguments
 * where it takes no early exit (`inRange`: 2^-28 ≤ |x| < 708 and x ≠ 1, so k is in [−1021, 1021]). Both
 * reductions are one formula: for 0.5·ln2 < |x| < 1.5·ln2 the C uses k = ±1, hi = x ∓ ln2_hi, lo = ±ln2_lo,
 * which x − k·ln2_hi and k·ln2_lo give exactly; lanes with |x| ≤ 0.5·ln2 take the k = 0 formula.
 */
export function expPair(fn: FunctionBuilder): { inRange: (xv: Local, ax: Local) => Code; exp: (xv: Local, ax: Local) => Code } {
  const neg = fn.local('neg', V128); // lanes where x < 0
  const mid = fn.local('mid', V128); // lanes with |x| > 0.5·ln2 (k ≠ 0)
  const kf = fn.local('kf', V128); // k as f64
  const hi = fn.local('hi2', V128);
  const lo = fn.local('lo2', V128);
  const xr = fn.local('xr', V128); // the reduced argument
  const t = fn.local('t2', V128);
  const c = fn.local('c2', V128);
  const splat = (v: number): Code => [...f64(v), ...op.f64x2Splat];
  const bySign = (positive: number): Code => [...splat(-positive), ...splat(positive), ...get(neg), ...op.v128Bitselect];
  const { f64x2Add: add, f64x2Sub: sub, f64x2Mul: mul, f64x2Div: div } = op;
  const inRange = (xv: Local, ax: Local): Code => [
    ...get(ax), ...splat(708), ...op.f64x2Lt, ...get(ax), ...splat(2 ** -28), ...op.f64x2Ge, ...op.v128And,
    ...get(xv), ...splat(1), ...op.f64x2Ne, ...op.v128And, ...op.i64x2AllTrue,
  ];
  const exp = (xv: Local, ax: Local): Code => [
    ...get(xv), ...splat(0), ...op.f64x2Lt, ...set(neg),
    ...get(ax), ...splat(fromWords(0x3fd62e43, 0)), ...op.f64x2Ge, ...set(mid),
    // k = ±1 below 1.5·ln2, else trunc(x/ln2 ± 0.5)
    ...bySign(1),
    ...splat(INV_LN2), ...get(xv), ...mul, ...bySign(0.5), ...add, ...op.f64x2Trunc,
    ...get(ax), ...splat(fromWords(0x3ff0a2b2, 0)), ...op.f64x2Lt, ...op.v128Bitselect, ...set(kf),
    ...get(xv), ...get(kf), ...splat(LN2_HI), ...mul, ...sub, ...set(hi),
    ...get(kf), ...splat(LN2_LO), ...mul, ...set(lo),
    ...get(hi), ...get(lo), ...sub, ...get(xv), ...get(mid), ...op.v128Bitselect, ...set(xr),
    ...get(xr), ...get(xr), ...mul, ...set(t),
    ...get(xr), ...get(t),
    ...splat(P1), ...get(t), ...splat(P2), ...get(t), ...splat(P3), ...get(t), ...splat(P4), ...get(t), ...splat(P5),
    ...mul, ...add, ...mul, ...add, ...mul, ...add, ...mul, ...add, ...mul, ...sub, ...set(c),
    // k ≠ 0: (1 − ((lo − x·c / (2 − c)) − hi)) · 2^k, 2^k from k's exponent bits
    ...splat(1), ...get(lo), ...get(xr), ...get(c), ...mul, ...splat(2), ...get(c), ...sub, ...div, ...sub,
    ...get(hi), ...sub, ...sub,
    ...get(kf), ...op.i32x4TruncSatF64x2SZero, ...op.i64x2ExtendLowI32x4S, ...op.i64Const(1023), ...op.i64x2Splat,
    ...op.i64x2Add, ...op.i32Const(52), ...op.i64x2Shl, ...mul,
    // k = 0: 1 − ((x·c) / (c − 2) − x)
    ...splat(1), ...get(xr), ...get(c), ...mul, ...get(c), ...splat(2), ...sub, ...div, ...get(xr), ...sub, ...sub,
    ...get(mid), ...op.v128Bitselect,
  ];
  return { inRange, exp };
}

/**
 * Two SwiGLU values when both of exp's arguments are in its ordinary range (expPair), else nothing (the
 * loop goes on one value at a time). `continueDepth` is the loop label's depth at the splice point.
 */
function swigluPairStep(fn: FunctionBuilder, gate: Local, up: Local, continueDepth: number): Code {
  const g2 = fn.local('g2', V128);
  const xv = fn.local('xv', V128); // exp's argument, −g
  const ax = fn.local('ax', V128);
  const pair = expPair(fn);
  return [
    ...get(gate), ...op.v128Load64Zero(), ...op.f64x2PromoteLowF32x4, ...set(g2),
    ...get(g2), ...op.f64x2Neg, ...set(xv),
    ...get(xv), ...op.f64x2Abs, ...set(ax),
    ...pair.inRange(xv, ax), ...op.if,
      ...get(gate), ...get(g2), ...f64(1), ...op.f64x2Splat, ...pair.exp(xv, ax), ...op.f64x2Add, ...op.f64x2Div,
      ...get(up), ...op.v128Load64Zero(), ...op.f64x2PromoteLowF32x4, ...op.f64x2Mul,
      ...op.f32x4DemoteF64x2Zero, ...op.v128Store64Lane(0),
      ...increment(gate, op.i32Const(8)), ...increment(up, op.i32Const(8)),
      ...op.br(continueDepth + 1),
    ...op.end,
  ];
}

/**
 * out[i] = exp(x[i]) for n f64 values, two at a time through expPair where both are in its range, else
 * one through the scalar sequence: the pair path swiglu_f32 runs, exported so tests compare it with Math.exp.
 */
export function expF64Pairs(): FunctionDef {
  const fn = new FunctionBuilder('exp_f64_pairs', true);
  const out = fn.param('out', I32);
  const x = fn.param('x', I32);
  const n = fn.param('n', I32);
  const end = fn.local('end', I32); // x + n*8
  const xs = fn.local('xs', F64);
  const xv = fn.local('xv', V128);
  const ax = fn.local('ax', V128);
  const scalar = expInline(fn, xs);
  const pair = expPair(fn);
  const body: Code = [
    ...get(x), ...get(n), ...op.i32Const(3), ...op.i32Shl, ...op.i32Add, ...set(end),
    ...whileLoop(lessThan(x, end), [
      ...get(x), ...op.i32Const(16), ...op.i32Add, ...get(end), ...op.i32LeU, ...op.if,
        ...get(x), ...op.v128Load(), ...set(xv), ...get(xv), ...op.f64x2Abs, ...set(ax),
        ...pair.inRange(xv, ax), ...op.if,
          ...get(out), ...pair.exp(xv, ax), ...op.v128Store(),
          ...increment(x, op.i32Const(16)), ...increment(out, op.i32Const(16)),
          ...op.br(2),
        ...op.end,
      ...op.end,
      ...get(x), ...op.f64Load(), ...set(xs),
      ...get(out), ...scalar, ...op.f64Store(),
      ...increment(x, op.i32Const(8)), ...increment(out, op.i32Const(8)),
    ]),
  ];
  return fn.build(body);
}
