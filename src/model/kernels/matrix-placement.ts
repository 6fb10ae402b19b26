/**
 * Where and in which format a weight matrix lives for its backend (chosen once, at load time): f32 in the
 * arena, q8_0 packed for the integer kernel (q8x4-pack.ts), q8_0 row-major with f32 scales for the
 * f32-activation kernel, or plain arrays for the TypeScript reference backend.
 *
 * Systems analogy: a filesystem's on-disk format picked at mkfs time: the readers (the matmul kernels)
 * only ever see the layout they were built for.
 */
import type { SharedArena } from './arena.ts';
import { KIND_F32, KIND_Q8, KIND_Q8_INT, type MatmulOp } from './kernel-abi.ts';
import { packQ8x4, type Q8x4Lane, q8x4Bytes } from './q8x4-pack.ts';
import { canQuantizeQ8, dequantizeQ8, Q8_BLOCK, type Q8Tensor, quantizeQ8 } from './quantize.ts';

export type WeightDtype = 'f32' | 'q8_0';

/** Weight bytes per cache panel (L2-sized share of weight rows every token row streams past). */
const PANEL_BYTES = 64 * 1024;

/** A weight matrix (outDim, inDim) in the format its kernel reads. */
export interface PlacedMatrix {
  readonly outDim: number;
  readonly inDim: number;
  readonly dtype: WeightDtype;
  /** (outDim, inDim) f32 weights; for a q8_0 matrix on the 'ts' backend, its dequantized values. */
  readonly f32: Float32Array | null;
  /** Quantized weights and f32 scales, row-major (q8_0 on the 'wasm' backend with f32 activations). */
  readonly q8: Q8Tensor | null;
  /** Quantized weights packed for the integer kernel (q8x4-pack.ts: f16 scales inside), q8_0 activations. */
  readonly q8x4: Uint8Array | null;
}

/**
 * Places w (outDim, inDim) in `arena` (null: the reference backend's ordinary memory), quantized when
 * `dtype` is q8_0 and the rows are whole blocks of 32; `q8IntActivations` picks the packed layout, `lane`
 * its variant: the one the running kernel module's matmul_q8_int reads (kernel-module.ts `q8x4Lane`).
 */
export function placeMatrix(
  w: Float32Array,
  outDim: number,
  inDim: number,
  dtype: WeightDtype,
  arena: SharedArena | null,
  q8IntActivations: boolean,
  lane: Q8x4Lane = 2,
): PlacedMatrix {
  const quantize = dtype === 'q8_0' && canQuantizeQ8(inDim);
  if (!quantize) {
    const f32 = arena ? arena.allocF32(w.length) : w;
    if (f32 !== w) f32.set(w);
    return { outDim, inDim, dtype: 'f32', f32, q8: null, q8x4: null };
  }
  if (arena && q8IntActivations) {
    const q8x4 = arena.allocU8(q8x4Bytes(outDim, inDim));
    packQ8x4(w, outDim, inDim, q8x4, lane);
    return { outDim, inDim, dtype: 'q8_0', f32: null, q8: null, q8x4 };
  }
  const numScales = (outDim * inDim) / Q8_BLOCK;
  const q8: Q8Tensor = arena
    ? { q: arena.allocI8(w.length), scales: arena.allocF32(numScales) }
    : { q: new Int8Array(w.length), scales: new Float32Array(numScales) };
  quantizeQ8(w, outDim, inDim, q8);
  if (!arena) return { outDim, inDim, dtype: 'q8_0', f32: dequantizeQ8(q8), q8: null, q8x4: null };
  return { outDim, inDim, dtype: 'q8_0', f32: null, q8, q8x4: null };
}

/** out (rows, outDim) += bias, per row (the bias add after a matmul, in TypeScript). */
export function addBias(out: Float32Array, bias: Float32Array, rows: number, outDim: number): void {
  for (let i = 0; i < rows; i++) {
    const o = i * outDim;
    for (let j = 0; j < outDim; j++) out[o + j]! += bias[j]!;
  }
}

/**
 * The kernel call that multiplies x (rows, inDim; `xq`: its q8_0 activations for the packed layout) by the
 * placed matrix w into out, all in the arena, with the panel of weight rows sized for the cache.
 */
export function matmulOp(
  out: Float32Array,
  x: Float32Array,
  w: PlacedMatrix,
  rows: number,
  xq: Float32Array | null,
): MatmulOp {
  const bytesPerWeight = w.q8 || w.q8x4 ? 1 : 4;
  const panel = Math.max(4, Math.floor(PANEL_BYTES / (bytesPerWeight * w.inDim)) & ~3);
  if (w.q8x4) {
    // the packed kernel's panels hold whole pairs of 4-row groups (q8x4-pack.ts)
    const pairPanel = Math.max(8, panel & ~7);
    // biome-ignore format: one op
    return { kind: KIND_Q8_INT, out: out.byteOffset, x: xq!.byteOffset, w: w.q8x4.byteOffset, scales: 0, rows, inDim: w.inDim, outDim: w.outDim, panel: pairPanel };
  }
  return {
    kind: w.q8 ? KIND_Q8 : KIND_F32,
    out: out.byteOffset,
    x: x.byteOffset,
    w: w.q8 ? w.q8.q.byteOffset : w.f32!.byteOffset,
    scales: w.q8 ? w.q8.scales.byteOffset : 0,
    rows,
    inDim: w.inDim,
    outDim: w.outDim,
    panel,
  };
}
