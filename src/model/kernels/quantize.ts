/**
 * Q8_0 weight quantization (llama.cpp's format, our layout): every run of 32 consecutive weights of a row
 * shares one f32 scale, and each weight is stored as round(w / scale) in int8, scale = max|w| / 127.
 *
 * Systems analogy: block compression with a per-block header. The header (scale) costs 4 bytes per 32
 * weights, so a weight takes 1.125 bytes instead of 4, and decoding is one multiply: w ≈ q · scale.
 * The rounding error per weight is at most scale/2 = max|w|/254 of its block.
 *
 *   q:      Int8Array    (outDim, inDim)       row-major like the f32 weight
 *   scales: Float32Array (outDim, inDim / 32)  scale of block b of row j at j*(inDim/32) + b
 */
/** Weights per Q8_0 block (one f32 scale each). */
export const Q8_BLOCK = 32;

export interface Q8Tensor {
  q: Int8Array; // (outDim, inDim)
  scales: Float32Array; // (outDim, inDim / 32)
}

/** Whether a row length can be cut into whole Q8_0 blocks. */
export function canQuantizeQ8(inDim: number): boolean {
  return inDim % Q8_BLOCK === 0;
}

/** Quantizes w (outDim, inDim) into the given output arrays (which may live in shared memory). */
export function quantizeQ8(w: Float32Array, outDim: number, inDim: number, out: Q8Tensor): void {
  if (!canQuantizeQ8(inDim))
    throw new RangeError(`Q8_0 needs rows in whole blocks of ${Q8_BLOCK}, got ${inDim}`);
  const blocks = (outDim * inDim) / Q8_BLOCK;
  for (let b = 0; b < blocks; b++) {
    const base = b * Q8_BLOCK;
    let maxAbs = 0;
    for (let k = 0; k < Q8_BLOCK; k++) maxAbs = Math.max(maxAbs, Math.abs(w[base + k]!));
    const scale = Math.fround(maxAbs / 127);
    out.scales[b] = scale;
    const inv = scale === 0 ? 0 : 1 / scale;
    for (let k = 0; k < Q8_BLOCK; k++) out.q[base + k] = Math.round(w[base + k]! * inv);
  }
}

/** The f32 weights a Q8_0 tensor stands for (what the kernel multiplies by): the tests' oracle input. */
export function dequantizeQ8(t: Q8Tensor): Float32Array {
  const w = new Float32Array(t.q.length);
  for (let i = 0; i < w.length; i++) w[i] = t.q[i]! * t.scales[Math.floor(i / Q8_BLOCK)]!;
  return w;
}
