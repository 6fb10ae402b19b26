/**
 * Code generators for the per-token row operations of a forward pass: RMSNorm, RoPE, SwiGLU and the
 * residual add, bit for bit what reference/row-ops.ts and reference/rope.ts compute in TypeScript.
 *
 * Why bit-identical is possible: a JS `Float32Array` value is an f32 promoted to f64; the arithmetic runs in
 * f64 and the store rounds to f32. The kernels do the same (f32 load → f64.promote, the same f64 operations
 * in the same order, f32.demote on store; Math.sqrt is f64.sqrt). Where JS rounds every intermediate to
 * f32 (RoPE's `fround(a·c) − fround(b·s)`, the residual add `a[i] += b[i]`), a plain f32 operation gives
 * the same bits: f64 has more than 2·24 + 2 significand bits, so rounding an f64 sum, difference or product
 * of two f32 values to f32 equals rounding the exact result once (double rounding is innocuous), and those
 * run as f32x4 SIMD. Math.exp is V8's port of fdlibm's __ieee754_exp (src/base/ieee754.cc), ported again
 * here instruction for instruction (`exp_f64`), and tested against Math.exp on millions of inputs.
 *
 * Systems analogy: moving a hot path from a scripting layer into the driver, keeping the wire format.
 *
 *   rmsnorm_f32(out, x, w, rows, dim, eps)    out[r] = w · fround(x[r] / sqrt(fround(Σx²/dim) + eps))
 *   rope_f32(x, rows, heads, headDim, cos, sin) rotate_half in place (cos/sin: (rows, headDim/2))
 *   swiglu_f32(gate, up, n)                   gate[i] = gate[i] / (1 + exp(−gate[i])) · up[i]
 *   add_f32(a, b, n)                          a[i] += b[i]
 *   exp_f64(x) → f64                          Math.exp(x), bit for bit
 *   exp_f64_pairs(out, x, n)                  out[i] = Math.exp(x[i]) (f64 arrays), two lanes at a time
 *   kv_write(kDst, vDst, k, v, slots, rows, kvDim)  K/V row r → cache slot slots[r] (negative: skipped)
 */
// biome-ignore-all format: instruction sequences read like assembly, one logical step per line
import {
  type Code,
  F32,
  F64,
  FunctionBuilder,
  type FunctionDef,
  type FunctionRef,
  I32,
  type Local,
  type ModuleBuilder,
  op,
  V128,
  whileLoop,
} from './assembler.ts';
import { bytesOf, get, increment, lessThan, set, TIMES_4 } from './codegen-helpers.ts';

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
function expInline(fn: FunctionBuilder, x: Local): Code {
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
function expPair(fn: FunctionBuilder): { inRange: (xv: Local, ax: Local) => Code; exp: (xv: Local, ax: Local) => Code } {
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

/** a[i] += b[i] for n floats: f32x4 adds, then one at a time for the last n % 4. */
export function addF32(): FunctionDef {
  const fn = new FunctionBuilder('add_f32', true);
  const a = fn.param('a', I32);
  const b = fn.param('b', I32);
  const n = fn.param('n', I32);
  const end = fn.local('end', I32);
  const end4 = fn.local('end4', I32); // a + (n & ~3)*4: where the f32x4 loop stops
  const body: Code = [
    ...get(a), ...bytesOf(n), ...op.i32Add, ...set(end),
    ...get(a), ...get(n), ...op.i32Const(-4), ...op.i32And, ...TIMES_4, ...op.i32Add, ...set(end4),
    ...whileLoop(lessThan(a, end4), [
      ...get(a), ...get(a), ...op.v128Load(), ...get(b), ...op.v128Load(), ...op.f32x4Add, ...op.v128Store(),
      ...increment(a, op.i32Const(16)), ...increment(b, op.i32Const(16)),
    ]),
    ...whileLoop(lessThan(a, end), [
      ...get(a), ...get(a), ...op.f32Load(), ...get(b), ...op.f32Load(), ...op.f32Add, ...op.f32Store(),
      ...increment(a, op.i32Const(4)), ...increment(b, op.i32Const(4)),
    ]),
  ];
  return fn.build(body);
}

/**
 * RMSNorm of each row: the sum of squares in f64 in index order (as the reference), its mean rounded to
 * f32, inv = 1 / sqrt(mean + eps) in f64, then out[k] = w[k] · fround(x[k] · inv). out may be x.
 */
export function rmsnormF32(): FunctionDef {
  const fn = new FunctionBuilder('rmsnorm_f32', true);
  const out = fn.param('out', I32);
  const x = fn.param('x', I32);
  const w = fn.param('w', I32);
  const rows = fn.param('rows', I32);
  const dim = fn.param('dim', I32);
  const eps = fn.param('eps', F64);
  const r = fn.local('r', I32);
  const kb = fn.local('kb', I32); // byte offset along the row
  const rowBytes = fn.local('rowBytes', I32);
  const sum = fn.local('sum', F64);
  const inv = fn.local('inv', F64);
  const v = fn.local('v', F64);
  const at = (base: Local): Code => [...get(base), ...get(kb), ...op.i32Add];
  const body: Code = [
    ...bytesOf(dim), ...set(rowBytes),
    ...whileLoop(lessThan(r, rows), [
      ...f64(0), ...set(sum), ...op.i32Const(0), ...set(kb),
      ...whileLoop(lessThan(kb, rowBytes), [
        ...load64(at(x)), ...set(v), ...get(sum), ...get(v), ...get(v), ...op.f64Mul, ...op.f64Add, ...set(sum),
        ...increment(kb, op.i32Const(4)),
      ]),
      ...f64(1),
      ...get(sum), ...get(dim), ...op.f64ConvertI32S, ...op.f64Div, ...op.f32DemoteF64, ...op.f64PromoteF32,
      ...get(eps), ...op.f64Add, ...op.f64Sqrt, ...op.f64Div, ...set(inv),
      ...op.i32Const(0), ...set(kb),
      ...whileLoop(lessThan(kb, rowBytes), [
        ...at(out),
        ...load64(at(w)),
        ...load64(at(x)), ...get(inv), ...op.f64Mul, ...op.f32DemoteF64, ...op.f64PromoteF32,
        ...op.f64Mul, ...op.f32DemoteF64, ...op.f32Store(),
        ...increment(kb, op.i32Const(4)),
      ]),
      ...increment(x, get(rowBytes)), ...increment(out, get(rowBytes)), ...increment(r, op.i32Const(1)),
    ]),
  ];
  return fn.build(body);
}

/**
 * RoPE (rotate_half) in place: for each row, head and i < half,
 *   x[i] = fround(a·c) − fround(b·s),  x[i+half] = fround(b·c) + fround(a·s)   (a = x[i], b = x[i+half])
 * as f32 operations, four i at a time while they last (half % 4 == 0 for every Llama head size), then one.
 */
export function ropeF32(): FunctionDef {
  const fn = new FunctionBuilder('rope_f32', true);
  const x = fn.param('x', I32);
  const rows = fn.param('rows', I32);
  const heads = fn.param('heads', I32);
  const headDim = fn.param('headDim', I32);
  const cos = fn.param('cos', I32);
  const sin = fn.param('sin', I32);
  const r = fn.local('r', I32);
  const h = fn.local('h', I32);
  const ib = fn.local('ib', I32); // byte offset of i within the half
  const halfBytes = fn.local('halfBytes', I32);
  const half4Bytes = fn.local('half4Bytes', I32); // bytes the f32x4 loop covers
  const lo = fn.local('lo', I32); // address of x[i] of this head
  const hi = fn.local('hi', I32); // address of x[i + half]
  const cosAt = fn.local('cosAt', I32); // address of cos[r*half + i]
  const sinAt = fn.local('sinAt', I32);
  const a = fn.local('a', V128);
  const b = fn.local('b', V128);
  const cv = fn.local('c', V128);
  const sv = fn.local('s', V128);
  const as = fn.local('as', F32);
  const bs = fn.local('bs', F32);
  const cs = fn.local('cs', F32);
  const ss = fn.local('ss', F32);
  const addr = (base: Local): Code => [...get(base), ...get(ib), ...op.i32Add];
  const rotate = (
    load: Code, store: (addr: Code, value: Code) => Code, mul: Code, sub: Code, add: Code,
    va: Local, vb: Local, vc: Local, vs: Local,
  ): Code => [
    ...addr(lo), ...load, ...set(va), ...addr(hi), ...load, ...set(vb),
    ...addr(cosAt), ...load, ...set(vc), ...addr(sinAt), ...load, ...set(vs),
    ...store(addr(lo), [...get(va), ...get(vc), ...mul, ...get(vb), ...get(vs), ...mul, ...sub]),
    ...store(addr(hi), [...get(vb), ...get(vc), ...mul, ...get(va), ...get(vs), ...mul, ...add]),
  ];
  const body: Code = [
    ...get(headDim), ...op.i32Const(1), ...op.i32ShrU, ...set(halfBytes),
    ...get(halfBytes), ...op.i32Const(-4), ...op.i32And, ...TIMES_4, ...set(half4Bytes),
    ...get(halfBytes), ...TIMES_4, ...set(halfBytes),
    ...get(x), ...set(lo),
    ...whileLoop(lessThan(r, rows), [
      ...op.i32Const(0), ...set(h),
      ...whileLoop(lessThan(h, heads), [
        ...get(lo), ...get(halfBytes), ...op.i32Add, ...set(hi),
        ...get(cos), ...set(cosAt), ...get(sin), ...set(sinAt),
        ...op.i32Const(0), ...set(ib),
        ...whileLoop(lessThan(ib, half4Bytes), [
          ...rotate(op.v128Load(), (p, v) => [...p, ...v, ...op.v128Store()], op.f32x4Mul, op.f32x4Sub, op.f32x4Add, a, b, cv, sv),
          ...increment(ib, op.i32Const(16)),
        ]),
        ...whileLoop(lessThan(ib, halfBytes), [
          ...rotate(op.f32Load(), (p, v) => [...p, ...v, ...op.f32Store()], op.f32Mul, op.f32Sub, op.f32Add, as, bs, cs, ss),
          ...increment(ib, op.i32Const(4)),
        ]),
        ...increment(lo, [...get(halfBytes), ...get(halfBytes), ...op.i32Add]),
        ...increment(h, op.i32Const(1)),
      ]),
      ...increment(cos, get(halfBytes)), ...increment(sin, get(halfBytes)), ...increment(r, op.i32Const(1)),
    ]),
  ];
  return fn.build(body);
}

/**
 * Files each new token's K and V row in its cache slot: memory.copy of kvDim floats per row and side, rows
 * whose slot is negative (padding) skipped. The caller checks slots against the cache size first.
 */
export function kvWrite(): FunctionDef {
  const fn = new FunctionBuilder('kv_write', true);
  const kDst = fn.param('kDst', I32);
  const vDst = fn.param('vDst', I32);
  const k = fn.param('k', I32);
  const v = fn.param('v', I32);
  const slots = fn.param('slots', I32);
  const rows = fn.param('rows', I32);
  const kvDim = fn.param('kvDim', I32);
  const r = fn.local('r', I32);
  const slot = fn.local('slot', I32);
  const rowBytes = fn.local('rowBytes', I32);
  const copyRow = (dst: Local, src: Local): Code => [
    ...get(dst), ...get(slot), ...get(rowBytes), ...op.i32Mul, ...op.i32Add,
    ...get(src), ...get(r), ...get(rowBytes), ...op.i32Mul, ...op.i32Add,
    ...get(rowBytes), ...op.memoryCopy,
  ];
  const body: Code = [
    ...bytesOf(kvDim), ...set(rowBytes),
    ...whileLoop(lessThan(r, rows), [
      ...get(slots), ...bytesOf(r), ...op.i32Add, ...op.i32Load(), ...set(slot),
      ...get(slot), ...op.i32Const(0), ...op.i32GeS, ...op.if,
        ...copyRow(kDst, k), ...copyRow(vDst, v),
      ...op.end,
      ...increment(r, op.i32Const(1)),
    ]),
  ];
  return fn.build(body);
}

/** Adds the row kernels to the module and returns them in index order. */
export function rowOpKernels(module: ModuleBuilder): FunctionRef[] {
  return [module.add(expF64()), module.add(expF64Pairs()), module.add(swigluF32()), module.add(addF32()), module.add(rmsnormF32()), module.add(ropeF32()), module.add(kvWrite())];
}
