/**
 * softmax_f32: the attention softmax of reference/row-ops.ts (`softmax`) in WebAssembly, bit for bit, so the
 * attention driver no longer leaves the kernels between the scores and the weighted V sum.
 *
 *   softmax_f32(x, rows, n)     per row of n f32 values: x = exp(x − max) / Σ exp(x − max)
 *
 * The reference runs on f32 storage in f64 arithmetic: max over the f32 values, e = Math.exp(x − max) in f64,
 * stored rounded to f32 while the f64 e goes into the f64 sum, then each stored value divided in f64 by the
 * sum and rounded again. This does the same operations in the same order: exp two lanes at a time where both
 * arguments are in exp's ordinary range (exp-codegen.ts `expPair`, bit for bit Math.exp), else one through
 * the scalar sequence; the sum adds lane 0 then lane 1, as the reference's loop does.
 *
 * Systems analogy: moving a step that bounced to user space (JS) between two kernel calls into the kernel.
 */
// biome-ignore-all format: instruction sequences read like assembly, one logical step per line
import { type Code, encodeULeb128, F32, F64, FunctionBuilder, type FunctionDef, I32, op, V128, whileLoop } from './assembler.ts';
import { bytesOf, get, increment, lessThan, set } from './codegen-helpers.ts';
import { expInline, expPair } from './exp-codegen.ts';

const f64x2ExtractLane = (lane: number): Code => [0xfd, ...encodeULeb128(0x21), lane];
const f32Gt: Code = [0x5e];

export function softmaxF32(): FunctionDef {
  const fn = new FunctionBuilder('softmax_f32', true);
  const x = fn.param('x', I32);
  const rows = fn.param('rows', I32);
  const n = fn.param('n', I32);
  const row = fn.local('row', I32);
  const p = fn.local('p', I32); // walks the row
  const end = fn.local('end', I32); // x + n*4: the row's end
  const max = fn.local('max', F32);
  const maxV = fn.local('maxV', V128); // f64x2 splat of max
  const sum = fn.local('sum', F64);
  const sumV = fn.local('sumV', V128); // f64x2 splat of sum
  const e = fn.local('e', V128); // exp of a pair
  const xv = fn.local('xv', V128); // a pair's exp arguments, x − max (f64x2)
  const ax = fn.local('ax', V128);
  const xs = fn.local('xs', F64); // one value's argument (the scalar sequence overwrites it)
  const es = fn.local('es', F64);
  const scalarExp = expInline(fn, xs);
  const pair = expPair(fn);

  const findMax: Code = [
    ...op.f32Const(Number.NEGATIVE_INFINITY), ...set(max),
    ...get(x), ...set(p),
    ...whileLoop(lessThan(p, end), [
      // max = x[i] > max ? x[i] : max
      ...get(p), ...op.f32Load(), ...get(max), ...get(p), ...op.f32Load(), ...get(max), ...f32Gt, ...op.select, ...set(max),
      ...increment(p, op.i32Const(4)),
    ]),
    ...get(max), ...op.f64PromoteF32, ...op.f64x2Splat, ...set(maxV),
  ];
  const expPass: Code = [
    ...op.f64Const(0), ...set(sum),
    ...get(x), ...set(p),
    ...whileLoop(lessThan(p, end), [
      ...get(p), ...op.i32Const(8), ...op.i32Add, ...get(end), ...op.i32LeU, ...op.if,
        ...get(p), ...op.v128Load64Zero(), ...op.f64x2PromoteLowF32x4, ...get(maxV), ...op.f64x2Sub, ...set(xv),
        ...get(xv), ...op.f64x2Abs, ...set(ax),
        ...pair.inRange(xv, ax), ...op.if,
          ...pair.exp(xv, ax), ...set(e),
          ...get(p), ...get(e), ...op.f32x4DemoteF64x2Zero, ...op.v128Store64Lane(0),
          ...get(sum), ...get(e), ...f64x2ExtractLane(0), ...op.f64Add, ...get(e), ...f64x2ExtractLane(1), ...op.f64Add, ...set(sum),
          ...increment(p, op.i32Const(8)),
          ...op.br(2), // next pass of the loop
        ...op.end,
      ...op.end,
      ...get(p), ...op.f32Load(), ...op.f64PromoteF32, ...get(max), ...op.f64PromoteF32, ...op.f64Sub, ...set(xs),
      ...scalarExp, ...set(es),
      ...get(p), ...get(es), ...op.f32DemoteF64, ...op.f32Store(),
      ...get(sum), ...get(es), ...op.f64Add, ...set(sum),
      ...increment(p, op.i32Const(4)),
    ]),
    ...get(sum), ...op.f64x2Splat, ...set(sumV),
  ];
  const dividePass: Code = [
    ...get(x), ...set(p),
    ...whileLoop(lessThan(p, end), [
      ...get(p), ...op.i32Const(8), ...op.i32Add, ...get(end), ...op.i32LeU, ...op.if,
        ...get(p), ...get(p), ...op.v128Load64Zero(), ...op.f64x2PromoteLowF32x4, ...get(sumV), ...op.f64x2Div,
        ...op.f32x4DemoteF64x2Zero, ...op.v128Store64Lane(0),
        ...increment(p, op.i32Const(8)),
      ...op.else,
        ...get(p), ...get(p), ...op.f32Load(), ...op.f64PromoteF32, ...get(sum), ...op.f64Div, ...op.f32DemoteF64, ...op.f32Store(),
        ...increment(p, op.i32Const(4)),
      ...op.end,
    ]),
  ];
  return fn.build([
    ...whileLoop(lessThan(row, rows), [
      ...get(x), ...bytesOf(n), ...op.i32Add, ...set(end),
      ...findMax, ...expPass, ...dividePass,
      ...get(end), ...set(x),
      ...increment(row, op.i32Const(1)),
    ]),
  ]);
}
