/**
 * The reference matmul, in plain TypeScript on Float32Array: the oracle the WebAssembly kernels (../wasm/)
 * are tested against, and the 'ts' backend's implementation.
 *
 * Systems analogy: `matmul` is a batched write path. Each weight row is a large, cold record; fetching it
 * from memory costs far more than the arithmetic on it, so we amortize the fetch over several token rows
 * at once (4×4 register tiles inside a cache-sized panel of weight rows), exactly as a storage engine
 * batches many small writes into one page flush. A batch of tokens therefore costs much less than the
 * same tokens one by one.
 *
 * Sums are accumulated in float64 (JS numbers) and stored as float32.
 */

/** Bytes of weight rows kept hot while every token row streams past them. */
const PANEL_BYTES = 128 * 1024;

/**
 * out = x · wᵀ (+ bias): the linear layer `y = x Wᵀ + b` of PyTorch's nn.Linear.
 *
 *   x:    (rows, inDim)
 *   w:    (outDim, inDim)   as stored in checkpoints
 *   bias: (outDim) or null
 *   out:  (rows, outDim)
 */
export function matmul(
  out: Float32Array,
  x: Float32Array,
  w: Float32Array,
  bias: Float32Array | null,
  rows: number,
  inDim: number,
  outDim: number,
): void {
  const panelRows = Math.max(4, Math.floor(PANEL_BYTES / (4 * inDim)) & ~3);
  for (let j0 = 0; j0 < outDim; j0 += panelRows) {
    const j1 = Math.min(j0 + panelRows, outDim);
    let i = 0;
    for (; i + 4 <= rows; i += 4) tile4Rows(out, x, w, i, j0, j1, inDim, outDim);
    for (; i < rows; i++) tile1Row(out, x, w, i, j0, j1, inDim, outDim);
  }
  if (bias) {
    for (let i = 0; i < rows; i++) {
      for (let j = 0; j < outDim; j++) out[i * outDim + j]! += bias[j]!;
    }
  }
}

/** Rows i..i+3 of out, columns j0..j1: a 4×4 register tile loads 8 values per step and does 16 multiply-adds. */
// biome-ignore format: the 4×4 tile reads best laid out as a grid
function tile4Rows(
  out: Float32Array,
  x: Float32Array,
  w: Float32Array,
  i: number,
  j0: number,
  j1: number,
  n: number,
  outDim: number,
): void {
  const x0 = i * n;
  const x1 = x0 + n;
  const x2 = x1 + n;
  const x3 = x2 + n;
  let j = j0;
  for (; j + 4 <= j1; j += 4) {
    const w0 = j * n;
    const w1 = w0 + n;
    const w2 = w1 + n;
    const w3 = w2 + n;
    let s00 = 0, s01 = 0, s02 = 0, s03 = 0;
    let s10 = 0, s11 = 0, s12 = 0, s13 = 0;
    let s20 = 0, s21 = 0, s22 = 0, s23 = 0;
    let s30 = 0, s31 = 0, s32 = 0, s33 = 0;
    for (let k = 0; k < n; k++) {
      const a0 = x[x0 + k]!, a1 = x[x1 + k]!, a2 = x[x2 + k]!, a3 = x[x3 + k]!;
      const b0 = w[w0 + k]!, b1 = w[w1 + k]!, b2 = w[w2 + k]!, b3 = w[w3 + k]!;
      s00 += a0 * b0; s01 += a0 * b1; s02 += a0 * b2; s03 += a0 * b3;
      s10 += a1 * b0; s11 += a1 * b1; s12 += a1 * b2; s13 += a1 * b3;
      s20 += a2 * b0; s21 += a2 * b1; s22 += a2 * b2; s23 += a2 * b3;
      s30 += a3 * b0; s31 += a3 * b1; s32 += a3 * b2; s33 += a3 * b3;
    }
    const o0 = i * outDim + j;
    const o1 = o0 + outDim;
    const o2 = o1 + outDim;
    const o3 = o2 + outDim;
    out[o0] = s00; out[o0 + 1] = s01; out[o0 + 2] = s02; out[o0 + 3] = s03;
    out[o1] = s10; out[o1 + 1] = s11; out[o1 + 2] = s12; out[o1 + 3] = s13;
    out[o2] = s20; out[o2 + 1] = s21; out[o2 + 2] = s22; out[o2 + 3] = s23;
    out[o3] = s30; out[o3 + 1] = s31; out[o3 + 2] = s32; out[o3 + 3] = s33;
  }
  for (; j < j1; j++) {
    for (let r = 0; r < 4; r++) out[(i + r) * outDim + j] = dot(x, (i + r) * n, w, j * n, n);
  }
}

/** One row of out, columns j0..j1: four weight rows per pass share each load of x. */
function tile1Row(
  out: Float32Array,
  x: Float32Array,
  w: Float32Array,
  i: number,
  j0: number,
  j1: number,
  n: number,
  outDim: number,
): void {
  const xo = i * n;
  let j = j0;
  for (; j + 4 <= j1; j += 4) {
    const w0 = j * n;
    const w1 = w0 + n;
    const w2 = w1 + n;
    const w3 = w2 + n;
    let s0 = 0,
      s1 = 0,
      s2 = 0,
      s3 = 0;
    for (let k = 0; k < n; k++) {
      const a = x[xo + k]!;
      s0 += a * w[w0 + k]!;
      s1 += a * w[w1 + k]!;
      s2 += a * w[w2 + k]!;
      s3 += a * w[w3 + k]!;
    }
    const o = i * outDim + j;
    out[o] = s0;
    out[o + 1] = s1;
    out[o + 2] = s2;
    out[o + 3] = s3;
  }
  for (; j < j1; j++) out[i * outDim + j] = dot(x, xo, w, j * n, n);
}

/** Σ a[aOff+k]·b[bOff+k] for k < n. */
export function dot(a: Float32Array, aOff: number, b: Float32Array, bOff: number, n: number): number {
  let s = 0;
  for (let k = 0; k < n; k++) s += a[aOff + k]! * b[bOff + k]!;
  return s;
}
