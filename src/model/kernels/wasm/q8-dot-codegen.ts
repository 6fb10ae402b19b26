/**
 * The relaxed-SIMD integer q8_0 tiles (issue 16 item 2, docs/engine-speed.md Q15): the same q8_0 × q8_0
 * block sums as q8-int-codegen.ts's widening tiles, with one `v128.load` of 16 weight bytes per 16 instead
 * of two widening loads, on weights packed "q8x4 by 4" (../q8x4-pack.ts, `lane` = 4) and activations split
 * by sign. Only the relaxed kernel module has them; its matmul_q8_int and quantize_q8_act keep the ABI.
 *
 * Systems analogy: pmaddubsw, the u8 × s8 multiply x86 has had since SSSE3, driven so that its one
 * implementation-defined corner (an unsigned operand ≥ 128, and i16 saturation) is never reached: then every
 * CPU computes the same bits.
 *
 *   quantize_q8_act(xq, x, rows, inDim): q exactly as the widening quantizer (same f32 steps, same q and
 *   scales), stored per block of 32 as two byte vectors, then all rows' f32 block scales:
 *     xq + 64·(row block index): [q⁺ = max(q, 0): 32 × u8] [q⁻ = max(−q, 0): 32 × u8]   (both in 0..127)
 *     xq + rows·inDim·2:         f32 scale per block, row-major (where the widening quantizer puts them)
 *   tile, per 16 weight bytes of group g at lane p (4 weights of each of its 4 rows):
 *     t⁺ = i16x8.relaxed_dot_i8x16_i7x16_s(w, splat32(q⁺[4p..4p+3]))   lane 2c+e: w[c][4p+2e..]·q⁺ pair
 *     t⁻ = i16x8.relaxed_dot_i8x16_i7x16_s(w, splat32(q⁻[4p..4p+3]))
 *     isum += i32x4.dot_i16x8_s(i16x8.sub(t⁺, t⁻), splat16(1))          lane c: Σ of row c's 4 products
 *   (the dot with ones is i32x4.extadd_pairwise_i16x8_s, which V8 lowers with a constant it re-addresses per use)
 *
 * Exactness: the weights are the signed operand (|w| ≤ 127, 128 from a foreign GGUF still fits) and the
 * activations the 7-bit one (0..127), which the relaxed dot defines on every CPU; a pair of products is at
 * most 2·128·127 = 32512 < 2^15, so pmaddubsw never saturates, and the true difference t⁺ − t⁻ (one pair of
 * w·q products) fits i16 too, so wrapping i16x8.sub is exact. The i32 block sums, and with them every f32
 * step after them, are the widening tiles' own: the logits are bit-identical.
 *
 * The `_add_s` form (i32x4.relaxed_dot_i8x16_i7x16_add_s) is not used: V8 in Node 20 lowers it to
 * pmaddubsw + pmaddwd + paddd (no VNNI, even on a CPU that has it), and it ran slower in a scratch benchmark
 * (two of them per 16 bytes, one per sign, each with its own pmaddwd).
 */
// biome-ignore-all format: instruction sequences read like assembly, one logical step per line
import { Q8_BLOCK } from '../quantize.ts';
import { type Code, encodeULeb128, type Local, op, V128 } from './assembler.ts';
import { get, set } from './codegen-helpers.ts';
import { type ActivationStore, type Q8DotScheme, quantizeActivationsQ8 } from './q8-int-codegen.ts';

const simd = (opcode: number): Code => [0xfd, ...encodeULeb128(opcode)];
/** The SIMD instructions only this scheme uses (opcodes: the SIMD and relaxed-SIMD proposals' tables). */
const dop = {
  i16x8NarrowI32x4S: simd(0x85),
  i8x16NarrowI16x8S: simd(0x65),
  i8x16Neg: simd(0x61),
  i8x16MaxS: simd(0x78),
  i16x8Sub: simd(0x91),
  i32x4ExtaddPairwiseI16x8S: simd(0x7e),
  i32x4DotI16x8S: simd(0xba),
  i16x8Splat: simd(0x10),
  i32x4Add: simd(0xae),
  /** i16x8.relaxed_dot_i8x16_i7x16_s(a: i8, b: i7): lane i = a[2i]·b[2i] + a[2i+1]·b[2i+1] */
  i16x8RelaxedDotI8x16I7x16S: simd(0x112),
};

/** Weights of a row per 4-byte lane (q8x4 by 4), and the lanes p of a group's block. */
const LANE = 4;
const LANES_PER_BLOCK = Q8_BLOCK / LANE;
/** Where a block's q⁻ bytes start, after its q⁺ bytes. */
const MINUS_OFFSET = Q8_BLOCK;
/**
 * Lanes p per pass of the inner loop, by token rows per tile. TurboFan issues a pass copy's loads first:
 * per lane p a lone row holds 2 weight vectors + 2 splats, two rows 2 + 4; with the sums (2 or 4), the
 * accumulators (2 or 4), the ones and two i16 temporaries per dot pair that stays within 15 xmm registers at
 * 2 lanes for one row and 1 lane for two. Measured (kernel A/B, Q15): 4 lanes for one row spill, ×0.33–0.38;
 * 1 lane for one row ×0.93–0.97 of 2 lanes; 2 lanes for two rows ×0.95–0.97 of 1 lane.
 */
const PASS_LANES: Record<number, number> = { 1: 2, 2: 1 };

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

/** i8x16 of 16 values of q: two i32x4 → i16x8, twice, → i8x16 (saturating narrows; |q| ≤ 127 fits). */
const narrowToBytes = (quantized: (v: Local) => Code, v: Local[]): Code => [
  ...quantized(v[0]!), ...quantized(v[1]!), ...dop.i16x8NarrowI32x4S,
  ...quantized(v[2]!), ...quantized(v[3]!), ...dop.i16x8NarrowI32x4S,
  ...dop.i8x16NarrowI16x8S,
];

/** Per block: q⁺ = max(q, 0) at 0..31, q⁻ = max(−q, 0) at 32..63 (|q| ≤ 127: i8x16.neg never wraps). */
const storeBySign: ActivationStore = (fn, xq, vecs, quantized) => {
  const qv = fn.local('qBytes', V128);
  return range(2).flatMap((half) => [
    ...narrowToBytes(quantized, vecs.slice(4 * half, 4 * half + 4)), ...set(qv),
    ...get(xq), ...get(qv), ...op.v128Zero, ...dop.i8x16MaxS, ...op.v128Store(16 * half),
    ...get(xq), ...get(qv), ...dop.i8x16Neg, ...op.v128Zero, ...dop.i8x16MaxS, ...op.v128Store(MINUS_OFFSET + 16 * half),
  ]);
};

/**
 * isum += fold(dot(w, x⁺) − dot(w, x⁻)): row c's 4 products of this lane in lane c. The fold of i16 pairs is
 * `i32x4.extadd_pairwise_i16x8_s`, or the same sums as `i32x4.dot_i16x8_s` with a register of i16 ones
 * (`ones`): V8 lowers extadd_pairwise to pmaddwd with a constant in memory, and reloads that constant's
 * address before each one (two loads per 16 weight bytes); the register form is one pmaddwd.
 */
const dotBySign = (w: Local, xPlus: Local, xMinus: Local, s: Local, ones: Local | null): Code => [
  ...get(w), ...get(xPlus), ...dop.i16x8RelaxedDotI8x16I7x16S,
  ...get(w), ...get(xMinus), ...dop.i16x8RelaxedDotI8x16I7x16S,
  ...dop.i16x8Sub,
  ...(ones ? [...get(ones), ...dop.i32x4DotI16x8S] : dop.i32x4ExtaddPairwiseI16x8S),
  ...get(s), ...dop.i32x4Add, ...set(s),
];

/**
 * The relaxed dot (relaxed kernel module only; layout q8x4 by 4, activations by sign): per 16 weight bytes of
 * a group one `v128.load` and two relaxed dots; the two splats of a lane serve both groups of the pair (Q12).
 */
export const relaxedDotScheme: Q8DotScheme = relaxedDot(PASS_LANES, true);

/**
 * The relaxed dot with `passLanes[R]` lanes per pass, folding pairs with a register of ones or with
 * extadd_pairwise (the kernel benchmarks build the other choices).
 */
export function relaxedDot(passLanes: Record<number, number>, onesRegister: boolean): Q8DotScheme {
  return {
    tileName: 'q8_dot_tile',
    // a pass moves a row's pointer through q⁺ only; its block's q⁻ half is read at +32 and skipped after
    blockActivationSkip: Q8_BLOCK,
    quantizer: () => quantizeActivationsQ8(storeBySign),
    declare(fn, R, H) {
      const wv = fn.localArray('w', H, V128);
      const xPlus = fn.local('xPlus', V128);
      const xMinus = fn.local('xMinus', V128);
      const ones = onesRegister ? fn.local('i16Ones', V128) : null;
      const lanes = passLanes[R] ?? 1;
      if (LANES_PER_BLOCK % lanes !== 0) throw new Error(`q8 dot tile: ${lanes} lanes per pass do not divide a block`);
      return ({ wg, xRows, isum }) => {
        const code: Code = [];
        for (const u of range(lanes)) {
          for (const h of range(H)) code.push(...get(wg[h]!), ...op.v128Load(u * 16), ...set(wv[h]!));
          for (const r of range(R)) {
            code.push(
              ...get(xRows[r]!), ...op.v128Load32Splat(u * LANE), ...set(xPlus),
              ...get(xRows[r]!), ...op.v128Load32Splat(MINUS_OFFSET + u * LANE), ...set(xMinus),
            );
            for (const h of range(H)) code.push(...dotBySign(wv[h]!, xPlus, xMinus, isum[r * H + h]!, ones));
          }
        }
        const setup = ones ? [...op.i32Const(1), ...dop.i16x8Splat, ...set(ones)] : [];
        return { setup, code, weightBytes: lanes * 4 * LANE, activationBytes: lanes * LANE };
      };
    },
  };
}
