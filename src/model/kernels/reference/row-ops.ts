/**
 * The per-row and element-wise kernels of the forward pass, in plain TypeScript: RMSNorm, SiLU/SwiGLU,
 * softmax, residual add, argmax. Every backend runs these (they are a few percent of a forward pass, next
 * to the matmuls); they are also the oracle for any faster version later.
 */

/**
 * RMSNorm per row: out = weight · x / sqrt(mean(x²) + eps).
 *   x, out: (rows, dim)   weight: (dim)
 */
export function rmsnorm(
  out: Float32Array,
  x: Float32Array,
  weight: Float32Array,
  rows: number,
  dim: number,
  eps: number,
): void {
  for (let i = 0; i < rows; i++) {
    const o = i * dim;
    let sumSquares = 0;
    for (let k = 0; k < dim; k++) sumSquares += x[o + k]! * x[o + k]!;
    // HF rounds the normalized value to fp32 before scaling by the weight; do the same.
    const inv = 1 / Math.sqrt(Math.fround(sumSquares / dim) + eps);
    for (let k = 0; k < dim; k++) out[o + k] = weight[k]! * Math.fround(x[o + k]! * inv);
  }
}

/** SiLU (a.k.a. swish): x · sigmoid(x). */
export function silu(x: number): number {
  return x / (1 + Math.exp(-x));
}

/** SwiGLU gate in place: gate[i] = silu(gate[i]) · up[i]. gate, up: (n) */
export function swiglu(gate: Float32Array, up: Float32Array, n: number): void {
  for (let i = 0; i < n; i++) gate[i] = silu(gate[i]!) * up[i]!;
}

/** Softmax in place over x[offset .. offset+n), max-subtracted for stability. */
export function softmax(x: Float32Array | Float64Array, offset: number, n: number): void {
  let max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < n; i++) if (x[offset + i]! > max) max = x[offset + i]!;
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const e = Math.exp(x[offset + i]! - max);
    x[offset + i] = e;
    sum += e;
  }
  for (let i = 0; i < n; i++) x[offset + i]! /= sum;
}

/** Residual connection in place: a += b. a, b: (n) */
export function add(a: Float32Array, b: Float32Array, n: number): void {
  for (let i = 0; i < n; i++) a[i]! += b[i]!;
}

/** Index of the largest of x[offset .. offset+n) (first one on ties, like torch.argmax). */
export function argmax(x: Float32Array, offset = 0, n = x.length - offset): number {
  let best = 0;
  let bestValue = x[offset]!; // kept in a register: one load per element, not two
  for (let i = 1; i < n; i++) {
    const v = x[offset + i]!;
    if (v > bestValue) {
      best = i;
      bestValue = v;
    }
  }
  return best;
}
