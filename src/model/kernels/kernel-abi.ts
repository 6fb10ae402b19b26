/**
 * The kernel ABI: what the engine thread, the worker threads and the WebAssembly module agree on.
 * `KernelExports` is the module's function table (pointers are byte offsets into the shared memory);
 * `MatmulOp` is one matmul as a job on the thread pool's board (threads/job.ts) or a direct call.
 *
 * Systems analogy: a driver's ioctl header. Both sides of the boundary (backend.ts issuing jobs,
 * threads/ running them, wasm/ implementing them) import this file and nothing of each other's.
 */

/** The module's exports. Pointers are byte offsets into the shared memory. */
export interface KernelExports {
  // biome-ignore format: one signature per line
  matmul_f32(out: number, x: number, w: number, scales: number, rows: number, inDim: number, outDim: number, j0: number, j1: number, panel: number): void;
  // biome-ignore format: one signature per line
  matmul_q8(out: number, x: number, q: number, scales: number, rows: number, inDim: number, outDim: number, j0: number, j1: number, panel: number): void;
  /** q8_0 weights packed by q8x4-pack.ts (`q`; `scales` unused, 0) × q8_0 activations (quantize_q8_act's output). */
  // biome-ignore format: one signature per line
  matmul_q8_int(out: number, xq: number, q: number, scales: number, rows: number, inDim: number, outDim: number, j0: number, j1: number, panel: number): void;
  /** Quantizes x (rows, inDim) f32 to q8_0 activations at xq: i16 values, then the f32 block scales. */
  quantize_q8_act(xq: number, x: number, rows: number, inDim: number): void;
  /** Row operations, bit for bit the reference/ TypeScript (wasm/row-ops-codegen.ts); eps is an f64. */
  rmsnorm_f32(out: number, x: number, w: number, rows: number, dim: number, eps: number): void;
  rope_f32(x: number, rows: number, heads: number, headDim: number, cos: number, sin: number): void;
  swiglu_f32(gate: number, up: number, n: number): void;
  /** SwiGLU in f32x4 with llama.cpp's vectorized expf (a few ulp from swiglu_f32): the q8_0 path's. */
  swiglu_f32_fast(gate: number, up: number, n: number): void;
  add_f32(a: number, b: number, n: number): void;
  /** Index of the largest of n f32 values at x (n ≥ 1), the same index reference/row-ops.ts `argmax` gives. */
  argmax_f32(x: number, n: number): number;
  /** K/V row r (kvDim floats) → slot slots[r] of the layer's caches at kDst/vDst; negative slots skipped. */
  // biome-ignore format: one signature per line
  kv_write(kDst: number, vDst: number, k: number, v: number, slots: number, rows: number, kvDim: number): void;
  /** out[i] = Math.exp(x[i]) for n f64 values, bit for bit (the f64x2 path swiglu_f32 runs; for tests). */
  exp_f64_pairs(out: number, x: number, n: number): void;
  /** Math.exp(x), bit for bit (fdlibm's __ieee754_exp, as V8 implements Math.exp). */
  exp_f64(x: number): number;
  /** Softmax of each of `rows` rows of n f32 values in place, bit for bit reference/row-ops.ts `softmax`. */
  softmax_f32(x: number, rows: number, n: number): void;
  // biome-ignore format: one signature per line
  attn_scores(scores: number, q: number, kBase: number, offsets: number, seen: number, group: number, headDim: number, scale: number): void;
  // biome-ignore format: one signature per line
  attn_values(out: number, scores: number, vBase: number, offsets: number, seen: number, group: number, headDim: number): void;
}

export const KIND_F32 = 0;
export const KIND_Q8 = 1;
/**
 * Packed q8_0 weights (4 rows interleaved, f16 scales inside) × q8_0 activations, integer dot products:
 * matmul_q8_int (x points at quantize_q8_act's output).
 */
export const KIND_Q8_INT = 2;

/** One matmul as the kernels see it: out (rows, outDim) = x (rows, inDim) · wᵀ. Pointers in bytes. */
export interface MatmulOp {
  kind: typeof KIND_F32 | typeof KIND_Q8 | typeof KIND_Q8_INT;
  out: number;
  x: number;
  w: number;
  scales: number; // q8 scales, 0 for f32 and packed q8
  rows: number;
  inDim: number;
  outDim: number;
  panel: number; // weight rows per cache panel
}
