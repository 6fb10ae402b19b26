/**
 * WebAssembly SIMD attention kernels: the two inner loops of paged attention for one token row and one
 * KV head (its `group` query heads together), reading K/V rows scattered over the paged cache through a
 * table of row offsets. The softmax between them stays in TypeScript (one exp per score: cheap next to
 * the headDim multiply-adds per score, and wasm has no exp instruction).
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
 */
// biome-ignore-all format: instruction sequences read like assembly, one logical step per line
import { type Code, F32, type FunctionDef, I32, op, V128, whileLoop } from './assembler.ts';

const get = op.localGet;
const set = op.localSet;
const bump = (l: number, step: Code): Code => [...get(l), ...step, ...op.i32Add, ...set(l)];
const lt = (a: number, b: number): Code => [...get(a), ...get(b), ...op.i32LtU];
/** v128 at (base + off) */
const load = (base: number, off: number, imm = 0): Code => [...get(base), ...get(off), ...op.i32Add, ...op.v128Load(imm)];
/** row pointer = base + offsets[t] * 4 */
const rowPointer = (base: number, offsets: number, t: number): Code => [
  ...get(base), ...get(offsets), ...get(t), ...op.i32Const(2), ...op.i32Shl, ...op.i32Add, ...op.i32Load(), ...op.i32Const(2), ...op.i32Shl, ...op.i32Add,
];

/** params: scores, q, kBase, offsets, seen, group, headDim (i32), scale (f32) */
export function attentionScores(): FunctionDef {
  const [scores, q, kBase, offsets, seen, group, headDim, scale] = [0, 1, 2, 3, 4, 5, 6, 7];
  const [t, h, d, kp, qp, out, headBytes] = [8, 9, 10, 11, 12, 13, 14];
  const [a0, a1] = [15, 16];
  const dot: Code = [
    ...op.v128Zero, ...set(a0), ...op.v128Zero, ...set(a1), ...op.i32Const(0), ...set(d),
    ...whileLoop(lt(d, headBytes), [
      ...load(qp, d), ...load(kp, d), ...op.f32x4Mul, ...get(a0), ...op.f32x4Add, ...set(a0),
      ...load(qp, d, 16), ...load(kp, d, 16), ...op.f32x4Mul, ...get(a1), ...op.f32x4Add, ...set(a1),
      ...bump(d, op.i32Const(32)),
    ]),
    ...get(a0), ...get(a1), ...op.f32x4Add, ...set(a0),
  ];
  const perHead: Code = [
    ...dot,
    // scores[h*seen + t] = hsum(a0) * scale; `out` walks the column of t (stride seen*4)
    ...get(out),
    ...get(a0), ...op.f32x4ExtractLane(0), ...get(a0), ...op.f32x4ExtractLane(1), ...op.f32Add,
    ...get(a0), ...op.f32x4ExtractLane(2), ...get(a0), ...op.f32x4ExtractLane(3), ...op.f32Add, ...op.f32Add,
    ...get(scale), ...op.f32Mul, ...op.f32Store(),
    ...bump(out, [...get(seen), ...op.i32Const(2), ...op.i32Shl]),
    ...bump(qp, get(headBytes)),
    ...bump(h, op.i32Const(1)),
  ];
  const perToken: Code = [
    ...rowPointer(kBase, offsets, t), ...set(kp),
    ...get(q), ...set(qp),
    ...get(scores), ...get(t), ...op.i32Const(2), ...op.i32Shl, ...op.i32Add, ...set(out),
    ...op.i32Const(0), ...set(h),
    ...whileLoop(lt(h, group), perHead),
    ...bump(t, op.i32Const(1)),
  ];
  const body: Code = [
    ...get(headDim), ...op.i32Const(2), ...op.i32Shl, ...set(headBytes),
    ...whileLoop(lt(t, seen), perToken),
  ];
  return { name: 'attn_scores', params: [I32, I32, I32, I32, I32, I32, I32, F32], results: [], locals: [I32, I32, I32, I32, I32, I32, I32, V128, V128], body };
}

/** params: out, scores, vBase, offsets, seen, group, headDim (all i32) */
export function attentionValues(): FunctionDef {
  const [out, scores, vBase, offsets, seen, group, headDim] = [0, 1, 2, 3, 4, 5, 6];
  const [t, h, d, vp, op_, sp, headBytes, outBytes] = [7, 8, 9, 10, 11, 12, 13, 14];
  const p = 15;
  const zero: Code = [
    ...op.i32Const(0), ...set(d),
    ...whileLoop(lt(d, outBytes), [...get(out), ...get(d), ...op.i32Add, ...op.v128Zero, ...op.v128Store(), ...bump(d, op.i32Const(16))]),
  ];
  // out[h][d..d+8) += p * V[t][d..d+8)
  const axpy = (imm: number): Code => [
    ...get(op_), ...get(d), ...op.i32Add,
    ...load(op_, d, imm), ...get(p), ...load(vp, d, imm), ...op.f32x4Mul, ...op.f32x4Add,
    ...op.v128Store(imm),
  ];
  const perHead: Code = [
    ...get(sp), ...op.v128Load32Splat(), ...set(p),
    ...op.i32Const(0), ...set(d),
    ...whileLoop(lt(d, headBytes), [...axpy(0), ...axpy(16), ...bump(d, op.i32Const(32))]),
    ...bump(op_, get(headBytes)),
    ...bump(sp, [...get(seen), ...op.i32Const(2), ...op.i32Shl]),
    ...bump(h, op.i32Const(1)),
  ];
  const perToken: Code = [
    ...rowPointer(vBase, offsets, t), ...set(vp),
    ...get(out), ...set(op_),
    ...get(scores), ...get(t), ...op.i32Const(2), ...op.i32Shl, ...op.i32Add, ...set(sp),
    ...op.i32Const(0), ...set(h),
    ...whileLoop(lt(h, group), perHead),
    ...bump(t, op.i32Const(1)),
  ];
  const body: Code = [
    ...get(headDim), ...op.i32Const(2), ...op.i32Shl, ...set(headBytes),
    ...get(headBytes), ...get(group), ...op.i32Mul, ...set(outBytes),
    ...zero,
    ...whileLoop(lt(t, seen), perToken),
  ];
  return { name: 'attn_values', params: [I32, I32, I32, I32, I32, I32, I32], results: [], locals: [I32, I32, I32, I32, I32, I32, I32, I32, V128], body };
}
