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
import { expF64, expF64Pairs, swigluF32 } from './exp-codegen.ts';

const f64 = op.f64Const;
const load64 = (addr: Code): Code => [...addr, ...op.f32Load(), ...op.f64PromoteF32];

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
