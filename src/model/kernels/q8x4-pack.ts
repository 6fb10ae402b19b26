/**
 * The packed q8_0 weight layout the integer decode kernel streams (`Q8x4`, wasm/q8-int-codegen.ts): llama.cpp's
 * Q8_0 numbers (int8 weights, one f16 scale per 32, 1.0625 bytes per weight), with four weight rows
 * interleaved two weights at a time and each block's four scales right after its 128 weight bytes; two such
 * groups of 4 rows (a pair) alternate block by block.
 *
 * Systems analogy: laying a table out in the order a scan reads it. One `i32x4.dot_i16x8_s` of 8 packed
 * weights and a pair of activations gives one partial sum per output row in each of its four lanes, and the
 * whole matrix is one sequential stream (no separate scale array to prefetch). The decode tile reads a pair
 * of groups at once, so one activation splat serves 8 rows; a 4-row tile reads every other block.
 *
 *   packed: Uint8Array  (ceil(outDim/8), inDim/32, 2, 136): pair P = groups 2P, 2P+1; group g = rows
 *     4g..4g+3 (missing rows are zeros); block b of group g at byte ((g>>1)·inDim/32 + b)·272 + (g&1)·136:
 *     block bytes 0..127: for p in 0..15, for c in 0..3: w[4g+c][32b+2p], w[4g+c][32b+2p+1]   (int8)
 *     block bytes 128..135: f16 scale of rows 4g..4g+3 in block b (scale = max|w| / 127, rounded to f16)
 *
 * "q8x4 by 4" (`lane` = 4, what the relaxed-SIMD kernel module reads, wasm/q8-dot-codegen.ts): the same blocks,
 * pairs and scales, but four consecutive weights of a row per 4-byte lane:
 *     block bytes 0..127: for p in 0..7, for c in 0..3: w[4g+c][32b+4p .. 32b+4p+3]   (int8)
 * so one `i16x8.relaxed_dot_i8x16_i7x16_s` of 16 weight bytes and a splat of 4 activations gives two partial
 * sums per row, which one `i32x4.extadd_pairwise_i16x8_s` folds into one per row and lane.
 */
import { f32ToF16Bits } from '../checkpoint/dtypes.ts';
import { canQuantizeQ8, Q8_BLOCK, type Q8Tensor } from './quantize.ts';

/** Weight rows per packed group (lanes of one i32x4 sum). */
export const Q8X4_ROWS = 4;
/** Bytes of one packed block: 4 rows × 32 int8 weights, then their 4 f16 scales. */
export const Q8X4_BLOCK_BYTES = Q8X4_ROWS * Q8_BLOCK + Q8X4_ROWS * 2;
/** Groups of 4 rows whose blocks alternate (rows are padded to a multiple of 4 · this). */
export const Q8X4_PAIR = 2;

/** Bytes a packed (outDim, inDim) matrix takes. */
export function q8x4Bytes(outDim: number, inDim: number): number {
  return Math.ceil(outDim / (Q8X4_ROWS * Q8X4_PAIR)) * Q8X4_PAIR * (inDim / Q8_BLOCK) * Q8X4_BLOCK_BYTES;
}

/** Weights of one row side by side in a lane: 2 for `dot_i16x8_s` (the default), 4 for the relaxed dot. */
export type Q8x4Lane = 2 | 4;

/** Byte of weight k (0..31) of row c (0..3) inside its group's block: lanes of `lane` weights, 4 rows per 4·lane bytes. */
function weightByte(k: number, c: number, lane: Q8x4Lane): number {
  return Math.floor(k / lane) * lane * Q8X4_ROWS + c * lane + (k % lane);
}

/** Byte offset of block b of the group of 4 rows g (matrices of `blocks` blocks per row). */
function blockOffset(g: number, b: number, blocks: number): number {
  return ((Math.floor(g / Q8X4_PAIR) * blocks + b) * Q8X4_PAIR + (g % Q8X4_PAIR)) * Q8X4_BLOCK_BYTES;
}

/** The value of f16 bits (finite, non-negative: the scales). */
function f16Value(bits: number): number {
  const e = bits >> 10;
  const m = bits & 0x3ff;
  return e === 0 ? m * 2 ** -24 : 2 ** (e - 15) * (1 + m / 1024);
}

/**
 * Quantizes w (outDim, inDim) to Q8_0 with f16 scales and packs it into `out` (q8x4Bytes long, zeroed),
 * `lane` weights of a row side by side (2: q8x4, 4: q8x4 by 4; the same numbers, other byte positions).
 */
export function packQ8x4(
  w: Float32Array,
  outDim: number,
  inDim: number,
  out: Uint8Array,
  lane: Q8x4Lane = 2,
): void {
  if (!canQuantizeQ8(inDim))
    throw new RangeError(`Q8_0 needs rows in whole blocks of ${Q8_BLOCK}, got ${inDim}`);
  const blocks = inDim / Q8_BLOCK;
  const q = new Int8Array(out.buffer, out.byteOffset, out.byteLength);
  const scales = new DataView(out.buffer, out.byteOffset, out.byteLength);
  for (let j = 0; j < outDim; j++) {
    const c = j % Q8X4_ROWS;
    const g = (j - c) / Q8X4_ROWS;
    for (let b = 0; b < blocks; b++) {
      const src = j * inDim + b * Q8_BLOCK;
      let maxAbs = 0;
      for (let k = 0; k < Q8_BLOCK; k++) {
        const a = Math.abs(w[src + k]!);
        if (a > maxAbs) maxAbs = a;
      }
      const bits = f32ToF16Bits(Math.fround(maxAbs / 127));
      if (bits >= 0x7c00)
        throw new RangeError(`weight row ${j} has |w| = ${maxAbs}: too large for an f16 Q8_0 scale`);
      const scale = f16Value(bits);
      const inv = scale === 0 ? 0 : 1 / scale;
      const base = blockOffset(g, b, blocks);
      scales.setUint16(base + Q8X4_ROWS * Q8_BLOCK + 2 * c, bits, true);
      // weight k of row c goes to byte 4·lane·(k/lane) + lane·c + k%lane of the block
      for (let k = 0; k < Q8_BLOCK; k++)
        q[base + weightByte(k, c, lane)] = Math.max(-127, Math.min(127, Math.round(w[src + k]! * inv)));
    }
  }
}

/** The row-major Q8_0 tensor (int8 values, f32 scales) a packed matrix stands for: the tests' oracle input. */
export function unpackQ8x4(packed: Uint8Array, outDim: number, inDim: number, lane: Q8x4Lane = 2): Q8Tensor {
  const blocks = inDim / Q8_BLOCK;
  const view = new DataView(packed.buffer, packed.byteOffset, packed.byteLength);
  const t: Q8Tensor = { q: new Int8Array(outDim * inDim), scales: new Float32Array(outDim * blocks) };
  for (let j = 0; j < outDim; j++) {
    const g = Math.floor(j / Q8X4_ROWS);
    const c = j % Q8X4_ROWS;
    for (let b = 0; b < blocks; b++) {
      const base = blockOffset(g, b, blocks);
      t.scales[j * blocks + b] = f16Value(view.getUint16(base + Q8X4_ROWS * Q8_BLOCK + 2 * c, true));
      for (let k = 0; k < Q8_BLOCK; k++)
        t.q[j * inDim + b * Q8_BLOCK + k] = view.getInt8(base + weightByte(k, c, lane));
    }
  }
  return t;
}
