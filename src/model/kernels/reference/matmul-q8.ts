/**
 * The reference q8_0 × q8_0 matmul (llama.cpp's `ggml_vec_dot_q8_0_q8_0`), in plain TypeScript: the oracle
 * the integer WebAssembly kernel (../wasm/q8-int-codegen.ts) is tested against.
 *
 * Activations are quantized like the weights, per row and per block of 32: scale = max|x| / 127 and
 * q = round(x / scale). Each block's dot product is then exact integer arithmetic, and one multiply by the
 * two block scales brings it back to real units:
 *
 *   out[i, j] = Σ_b  xs[i, b] · ws[j, b] · Σ_{k in block b} xq[i, k] · wq[j, k]
 *
 * Systems analogy: fixed-point DSP arithmetic with a per-block exponent (block floating point).
 *
 * Rounding is written out in f32 steps (Math.fround) with ties to even, exactly as the SIMD kernel does it
 * (f32x4.nearest), so the quantized activations of both are bit-identical and tests compare them exactly.
 */
import { Q8_BLOCK, type Q8Tensor } from '../quantize.ts';

/** Activations quantized to q8_0: values in [-127, 127] (stored as i16, as the kernel reads them). */
export interface Q8Activations {
  q: Int16Array; // (rows, inDim)
  scales: Float32Array; // (rows, inDim / 32)
}

/** Round half to even, as f32x4.nearest (Math.round rounds halves up). */
export function roundHalfEven(v: number): number {
  const r = Math.round(v);
  return (r - v === 0.5 && r % 2 !== 0 ? r - 1 : r) + 0; // + 0: -0 → 0
}

/** Quantizes x (rows, inDim) per block of 32: the reference for the kernel's `quantize_q8_act`. */
export function quantizeActivations(x: Float32Array, rows: number, inDim: number): Q8Activations {
  const blocks = (rows * inDim) / Q8_BLOCK;
  const out: Q8Activations = { q: new Int16Array(rows * inDim), scales: new Float32Array(blocks) };
  for (let b = 0; b < blocks; b++) {
    const base = b * Q8_BLOCK;
    let maxAbs = 0;
    for (let k = 0; k < Q8_BLOCK; k++) maxAbs = Math.max(maxAbs, Math.abs(x[base + k]!));
    const scale = Math.fround(maxAbs / 127);
    const inv = scale === 0 ? 0 : Math.fround(1 / scale);
    out.scales[b] = scale;
    for (let k = 0; k < Q8_BLOCK; k++) out.q[base + k] = roundHalfEven(Math.fround(x[base + k]! * inv));
  }
  return out;
}

/** out (rows, outDim) = xq · wqᵀ with integer block dot products, summed in f64. */
export function matmulQ8Int(
  out: Float32Array,
  x: Q8Activations,
  w: Q8Tensor,
  rows: number,
  inDim: number,
  outDim: number,
): void {
  const blocks = inDim / Q8_BLOCK;
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < outDim; j++) {
      let sum = 0;
      for (let b = 0; b < blocks; b++) {
        const xBase = i * inDim + b * Q8_BLOCK;
        const wBase = j * inDim + b * Q8_BLOCK;
        let dot = 0;
        for (let k = 0; k < Q8_BLOCK; k++) dot += x.q[xBase + k]! * w.q[wBase + k]!;
        sum += x.scales[i * blocks + b]! * w.scales[j * blocks + b]! * dot;
      }
      out[i * outDim + j] = sum;
    }
  }
}
