/**
 * Code generators for the WebAssembly SIMD attention kernels: the two inner loops of paged attention for
 * one token row and one KV head (its `group` query heads together), reading K/V rows scattered over the
 * paged cache through a table of row offsets. The softmax between them stays in TypeScript (one exp per
 * score: cheap next to the headDim multiply-adds per score, and wasm has no exp instruction). The driver
 * that calls them per sequence, row and KV head is attention-driver.ts.
 *
 * Systems analogy: scatter-gather DMA. The offsets table is the gather list (one entry per cached token,
 * already translated through the block table); each kernel walks it once and touches every K or V row once
 * for all query heads of the group.
 *
 *   attn_scores(scores, q, kBase, offsets, seen, group, headDim, scale)
 *     scores[h*seen + t] = scale · q[h] · K[t]        for t < seen, h < group
 *   attn_values(out, scores, vBase, offsets, seen, group, headDim)
 *     out[h] = Σ_t scores[h*seen + t] · V[t]
 *
 *   q, out:  (group, headDim) f32, contiguous        K[t] at kBase + offsets[t]*4 bytes (offsets: i32 floats)
 *   headDim must be a multiple of 8 (two f32x4 per step); pointers are byte offsets into the shared memory.
 *   A head of whole 32-float chunks (32, 64, 128) takes the faster loops: scores 32 floats per loop pass,
 *   the V sum in registers per chunk (docs/engine-speed.md, Q5); same sums in the same order, same bits.
 */
// biome-ignore-all format: instruction sequences read like assembly, one logical step per line
import { type Code, F32, FunctionBuilder, type FunctionDef, I32, type Local, op, V128, whileLoop } from './assembler.ts';
import { bytesOf, get, horizontalSum, increment, lessThan, loadV128, set, TIMES_4 } from './codegen-helpers.ts';

/** pushes the address of cached row t: base + offsets[t] * 4 (the gather list holds float offsets) */
const gatheredRow = (base: Local, offsets: Local, t: Local): Code => [
  ...get(base), ...get(offsets), ...bytesOf(t), ...op.i32Add, ...op.i32Load(), ...TIMES_4, ...op.i32Add,
];

/** scores[h*seen + t] = scale · q[h] · K[t] for every visible token t and query head h of the group. */
export function attentionScores(): FunctionDef {
  const fn = new FunctionBuilder('attn_scores', true);
  const scores = fn.param('scores', I32);
  const q = fn.param('q', I32);
  const kBase = fn.param('kBase', I32);
  const offsets = fn.param('offsets', I32);
  const seen = fn.param('seen', I32);
  const group = fn.param('group', I32);
  const headDim = fn.param('headDim', I32);
  const scale = fn.param('scale', F32);
  const t = fn.local('t', I32);
  const h = fn.local('h', I32);
  const d = fn.local('d', I32); // byte offset along the head
  const kRow = fn.local('kRow', I32); // address of K[t]
  const qHead = fn.local('qHead', I32); // address of q[h]
  const scoreOut = fn.local('scoreOut', I32); // address of scores[h*seen + t]
  const headBytes = fn.local('headBytes', I32);
  const sum0 = fn.local('sum0', V128); // two independent f32x4 sums: 8 floats per step
  const sum1 = fn.local('sum1', V128);
  const unrolled = fn.local('unrolled', I32); // headDim is whole passes of 32 floats

  // sum0 = Σ q[h][d..d+4)·K[t][d..d+4) + Σ q[h][d+4..d+8)·K[t][d+4..d+8) (lane-wise), 8 floats per step;
  // 4 steps per loop pass when the head is whole passes of 32 floats (same sums in the same order)
  const step = (imm: number): Code => [
    ...loadV128(qHead, d, imm), ...loadV128(kRow, d, imm), ...op.f32x4Mul, ...get(sum0), ...op.f32x4Add, ...set(sum0),
    ...loadV128(qHead, d, imm + 16), ...loadV128(kRow, d, imm + 16), ...op.f32x4Mul, ...get(sum1), ...op.f32x4Add, ...set(sum1),
  ];
  const dot: Code = [
    ...op.v128Zero, ...set(sum0), ...op.v128Zero, ...set(sum1), ...op.i32Const(0), ...set(d),
    ...get(unrolled), ...op.if,
      ...whileLoop(lessThan(d, headBytes), [...step(0), ...step(32), ...step(64), ...step(96), ...increment(d, op.i32Const(128))]),
    ...op.else,
      ...whileLoop(lessThan(d, headBytes), [...step(0), ...increment(d, op.i32Const(32))]),
    ...op.end,
    ...get(sum0), ...get(sum1), ...op.f32x4Add, ...set(sum0),
  ];
  const perHead: Code = [
    ...dot,
    // scores[h*seen + t] = hsum(sum0) * scale; scoreOut walks the column of t (stride seen*4)
    ...get(scoreOut), ...horizontalSum(sum0), ...get(scale), ...op.f32Mul, ...op.f32Store(),
    ...increment(scoreOut, bytesOf(seen)),
    ...increment(qHead, get(headBytes)),
    ...increment(h, op.i32Const(1)),
  ];
  const perToken: Code = [
    ...gatheredRow(kBase, offsets, t), ...set(kRow),
    ...get(q), ...set(qHead),
    ...get(scores), ...bytesOf(t), ...op.i32Add, ...set(scoreOut),
    ...op.i32Const(0), ...set(h),
    ...whileLoop(lessThan(h, group), perHead),
    ...increment(t, op.i32Const(1)),
  ];
  return fn.build([
    ...bytesOf(headDim), ...set(headBytes),
    ...get(headBytes), ...op.i32Const(127), ...op.i32And, ...op.i32Eqz, ...set(unrolled),
    ...whileLoop(lessThan(t, seen), perToken),
  ]);
}

/**
 * out[h] = Σ_t scores[h*seen + t] · V[t] for every query head h of the group. When the head is whole
 * chunks of 32 floats, each chunk of out[h] is summed in 8 registers over all tokens and stored once
 * (the other path loads and stores out for every token); both add the tokens in order t = 0, 1, ... from
 * zero, so they produce the same bits.
 */
export function attentionValues(): FunctionDef {
  const fn = new FunctionBuilder('attn_values', true);
  const out = fn.param('out', I32);
  const scores = fn.param('scores', I32);
  const vBase = fn.param('vBase', I32);
  const offsets = fn.param('offsets', I32);
  const seen = fn.param('seen', I32);
  const group = fn.param('group', I32);
  const headDim = fn.param('headDim', I32);
  const t = fn.local('t', I32);
  const h = fn.local('h', I32);
  const d = fn.local('d', I32); // byte offset along the head
  const vRow = fn.local('vRow', I32); // address of V[t]
  const outHead = fn.local('outHead', I32); // address of out[h]
  const score = fn.local('score', I32); // address of scores[h*seen + t]
  const headBytes = fn.local('headBytes', I32);
  const outBytes = fn.local('outBytes', I32); // group * headBytes
  const weight = fn.local('weight', V128); // scores[h*seen + t] in all 4 lanes
  const acc = fn.localArray('acc', 8, V128); // one 32-float chunk of out[h]
  const offset = fn.local('offset', I32); // address of offsets[t]
  const offsetsEnd = fn.local('offsetsEnd', I32);

  const zeroOut: Code = [
    ...op.i32Const(0), ...set(d),
    ...whileLoop(lessThan(d, outBytes), [
      ...get(out), ...get(d), ...op.i32Add, ...op.v128Zero, ...op.v128Store(), ...increment(d, op.i32Const(16)),
    ]),
  ];
  // out[h][d..d+4) += weight * V[t][d..d+4), at byte offset imm past d
  const accumulate = (imm: number): Code => [
    ...get(outHead), ...get(d), ...op.i32Add,
    ...loadV128(outHead, d, imm), ...get(weight), ...loadV128(vRow, d, imm), ...op.f32x4Mul, ...op.f32x4Add,
    ...op.v128Store(imm),
  ];
  const perHead: Code = [
    ...get(score), ...op.v128Load32Splat(), ...set(weight),
    ...op.i32Const(0), ...set(d),
    ...whileLoop(lessThan(d, headBytes), [...accumulate(0), ...accumulate(16), ...increment(d, op.i32Const(32))]),
    ...increment(outHead, get(headBytes)),
    ...increment(score, bytesOf(seen)),
    ...increment(h, op.i32Const(1)),
  ];
  const perToken: Code = [
    ...gatheredRow(vBase, offsets, t), ...set(vRow),
    ...get(out), ...set(outHead),
    ...get(scores), ...bytesOf(t), ...op.i32Add, ...set(score),
    ...op.i32Const(0), ...set(h),
    ...whileLoop(lessThan(h, group), perHead),
    ...increment(t, op.i32Const(1)),
  ];
  const tokenByToken: Code = [...zeroOut, ...whileLoop(lessThan(t, seen), perToken)];

  // Chunked: for each head h and 32-float chunk d of it, acc = Σ_t scores[h*seen + t] · V[t][d..d+32).
  const chunkToken: Code = [
    ...get(vBase), ...get(offset), ...op.i32Load(), ...TIMES_4, ...op.i32Add, ...get(d), ...op.i32Add, ...set(vRow),
    ...get(score), ...op.v128Load32Splat(), ...set(weight),
    ...acc.flatMap((a, k) => [...get(a), ...get(weight), ...get(vRow), ...op.v128Load(16 * k), ...op.f32x4Mul, ...op.f32x4Add, ...set(a)]),
    ...increment(score, op.i32Const(4)),
    ...increment(offset, op.i32Const(4)),
  ];
  const chunk: Code = [
    ...acc.flatMap((a) => [...op.v128Zero, ...set(a)]),
    ...get(scores), ...get(h), ...get(seen), ...op.i32Mul, ...TIMES_4, ...op.i32Add, ...set(score),
    ...get(offsets), ...set(offset),
    ...whileLoop(lessThan(offset, offsetsEnd), chunkToken),
    ...acc.flatMap((a, k) => [...get(outHead), ...get(d), ...op.i32Add, ...get(a), ...op.v128Store(16 * k)]),
    ...increment(d, op.i32Const(128)),
  ];
  const chunked: Code = [
    ...get(offsets), ...bytesOf(seen), ...op.i32Add, ...set(offsetsEnd),
    ...get(out), ...set(outHead),
    ...whileLoop(lessThan(h, group), [
      ...op.i32Const(0), ...set(d),
      ...whileLoop(lessThan(d, headBytes), chunk),
      ...increment(outHead, get(headBytes)),
      ...increment(h, op.i32Const(1)),
    ]),
  ];
  return fn.build([
    ...bytesOf(headDim), ...set(headBytes),
    ...get(headBytes), ...get(group), ...op.i32Mul, ...set(outBytes),
    ...get(headBytes), ...op.i32Const(127), ...op.i32And, ...op.i32Eqz, ...op.if,
      ...chunked,
    ...op.else,
      ...tokenByToken,
    ...op.end,
  ]);
}
