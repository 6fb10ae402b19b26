/**
 * `matmul` / `matmuls` as free functions: a product runs on whichever backend holds its weights, so a caller
 * holding only matrices (tests, tools) needs no backend object.
 */
import type { Matrix, Product } from './backend.ts';

/** out (rows, w.outDim) = x (rows, w.inDim) · wᵀ (+ bias), on whichever backend holds w. */
export function matmul(
  out: Float32Array,
  x: Float32Array,
  w: Matrix,
  bias: Float32Array | null,
  rows: number,
): void {
  w.backend.matmul(out, x, w, bias, rows);
}

/** Several products of the same x (rows, inDim) in one pass of the kernel threads; see KernelBackend.matmuls. */
export function matmuls(x: Float32Array, rows: number, ...products: Product[]): void {
  products[0]![1].backend.matmuls(x, rows, ...products);
}
