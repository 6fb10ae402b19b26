/**
 * Greedy decoding's argmax in WebAssembly: the index of the largest of n f32 values, the same index
 * reference/row-ops.ts `argmax` returns (first one on ties, NaN never chosen unless x[0] is NaN, -0 equal
 * to +0), four lanes at a time over the arena's logits instead of a JS loop over a copy of them.
 *
 * Why it is the same index: every lane starts at (x[0], 0) and takes its elements i ≡ lane (mod 4) in
 * order, replacing its best only on a strict f32 greater-than, exactly the reference's chain on that
 * subsequence; so each lane holds the largest value of x[0] and its elements and the first index of it.
 * The four lanes reduce by value, then by the smaller index on equal values; the last n % 4 follow one at
 * a time with the reference's rule (their indices are larger than every lane's). NaN compares false
 * everywhere, as in JS.
 *
 * Systems analogy: a reduction pushed down into the storage engine instead of shipping the rows out.
 *
 *   argmax_f32(x, n) → i32      n ≥ 1
 */
// biome-ignore-all format: instruction sequences read like assembly, one logical step per line
import { F32, FunctionBuilder, type FunctionDef, I32, op, V128, whileLoop } from './assembler.ts';
import { bytesOf, get, increment, lessThan, set, TIMES_4 } from './codegen-helpers.ts';

export function argmaxF32(): FunctionDef {
  const fn = new FunctionBuilder('argmax_f32', true);
  const x = fn.param('x', I32);
  const n = fn.param('n', I32);
  const p = fn.local('p', I32);
  const end4 = fn.local('end4', I32);
  const end = fn.local('end', I32);
  const i = fn.local('i', I32);
  const bestIndex = fn.local('bestIndex', I32);
  const bestValue = fn.local('bestValue', F32);
  const laneIndex = fn.local('laneIndex', I32);
  const laneValue = fn.local('laneValue', F32);
  const best = fn.local('best', V128); // per lane: its largest value so far
  const bestAt = fn.local('bestAt', V128); // per lane: the first index of it (i32x4)
  const at = fn.local('at', V128); // the indices of the 4 values being compared
  const v = fn.local('v', V128);
  const greater = fn.local('greater', V128);
  /** lane l of the reduction: take it when larger, or equal with a smaller index */
  const reduceLane = (lane: number) => [
    ...get(best), ...op.f32x4ExtractLane(lane), ...set(laneValue),
    ...get(bestAt), ...op.i32x4ExtractLane(lane), ...set(laneIndex),
    ...get(laneValue), ...get(bestValue), ...op.f32Gt,
    ...get(laneValue), ...get(bestValue), ...op.f32Eq, ...get(laneIndex), ...get(bestIndex), ...op.i32LtU, ...op.i32And,
    ...op.i32Or, ...op.if,
      ...get(laneValue), ...set(bestValue), ...get(laneIndex), ...set(bestIndex),
    ...op.end,
  ];
  const body = [
    ...get(x), ...op.v128Load32Splat(), ...set(best),
    ...op.v128Zero, ...set(bestAt),
    ...op.v128Zero, ...op.i32Const(1), ...op.i32x4ReplaceLane(1), ...op.i32Const(2), ...op.i32x4ReplaceLane(2),
    ...op.i32Const(3), ...op.i32x4ReplaceLane(3), ...set(at),
    ...get(x), ...set(p),
    ...get(n), ...op.i32Const(-4), ...op.i32And, ...set(i),
    ...get(x), ...get(i), ...TIMES_4, ...op.i32Add, ...set(end4),
    ...get(x), ...bytesOf(n), ...op.i32Add, ...set(end),
    ...whileLoop(lessThan(p, end4), [
      ...get(p), ...op.v128Load(), ...set(v),
      ...get(v), ...get(best), ...op.f32x4Gt, ...set(greater),
      ...get(v), ...get(best), ...get(greater), ...op.v128Bitselect, ...set(best),
      ...get(at), ...get(bestAt), ...get(greater), ...op.v128Bitselect, ...set(bestAt),
      ...get(at), ...op.i32Const(4), ...op.i32x4Splat, ...op.i32x4Add, ...set(at),
      ...increment(p, op.i32Const(16)),
    ]),
    ...get(best), ...op.f32x4ExtractLane(0), ...set(bestValue),
    ...get(bestAt), ...op.i32x4ExtractLane(0), ...set(bestIndex),
    ...reduceLane(1), ...reduceLane(2), ...reduceLane(3),
    ...whileLoop(lessThan(p, end), [
      ...get(p), ...op.f32Load(), ...set(laneValue),
      ...get(laneValue), ...get(bestValue), ...op.f32Gt, ...op.if,
        ...get(laneValue), ...set(bestValue), ...get(i), ...set(bestIndex),
      ...op.end,
      ...increment(p, op.i32Const(4)), ...increment(i, op.i32Const(1)),
    ]),
    ...get(bestIndex),
  ];
  return fn.build(body, [I32]);
}
