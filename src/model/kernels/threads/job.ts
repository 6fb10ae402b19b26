/**
 * The job board shared by the engine thread and the kernel workers: a few Int32 slots at the start of the
 * shared arena, and the rule that splits one matmul's output columns between threads.
 *
 * Systems analogy: a lock-free work queue in shared memory with a generation counter as its doorbell.
 * The engine thread writes the ops, bumps GEN and notifies; every worker (and the engine thread itself)
 * computes its own slice of every op's columns; each worker bumps DONE when finished; the last one wakes
 * the engine thread. No message is copied: ops carry pointers into the same memory.
 *
 *   control: Int32Array
 *   [0] GEN   [1] DONE   [2] STOP   [3] NUM_OPS   [4] NUM_THREADS   [5] FAILED   ...
 *   [16 + 16*o ...] op o: kind, out, x, w, scales, rows, inDim, outDim, panel
 */
import { KIND_Q8, KIND_Q8_INT, type KernelExports, type MatmulOp } from '../kernel-abi.ts';

export const GEN = 0;
export const DONE = 1;
export const STOP = 2;
export const NUM_OPS = 3;
export const NUM_THREADS = 4;
export const FAILED = 5;
const OPS = 16;
const OP_INTS = 16;
export const MAX_OPS = 8;

export function writeOp(control: Int32Array, index: number, o: MatmulOp): void {
  const b = OPS + index * OP_INTS;
  control[b] = o.kind;
  control[b + 1] = o.out;
  control[b + 2] = o.x;
  control[b + 3] = o.w;
  control[b + 4] = o.scales;
  control[b + 5] = o.rows;
  control[b + 6] = o.inDim;
  control[b + 7] = o.outDim;
  control[b + 8] = o.panel;
}

/**
 * Columns [start, end) of an op with `outDim` columns that thread `t` of `n` computes: multiples of 8, the
 * packed q8_0 kernel's pair of 4-row groups (q8x4-pack.ts), which the other kernels' 4-column tiles divide.
 */
export function columnShare(outDim: number, t: number, n: number): [number, number] {
  const chunk = Math.ceil(outDim / n / 8) * 8;
  return [Math.min(outDim, t * chunk), Math.min(outDim, (t + 1) * chunk)];
}

/** Runs thread t's share of every op on the board. */
export function runShare(kernels: KernelExports, control: Int32Array, t: number): void {
  const n = control[NUM_THREADS]!;
  const numOps = control[NUM_OPS]!;
  for (let i = 0; i < numOps; i++) {
    const b = OPS + i * OP_INTS;
    const outDim = control[b + 7]!;
    const [j0, j1] = columnShare(outDim, t, n);
    if (j0 >= j1) continue;
    const fn = matmulKernel(kernels, control[b]!);
    // biome-ignore format: argument list mirrors the op layout
    fn(control[b + 1]!, control[b + 2]!, control[b + 3]!, control[b + 4]!, control[b + 5]!, control[b + 6]!, outDim, j0, j1, control[b + 8]!);
  }
}

/** The export that runs an op of `kind`. */
export function matmulKernel(kernels: KernelExports, kind: number): KernelExports['matmul_f32'] {
  if (kind === KIND_Q8_INT) return kernels.matmul_q8_int;
  return kind === KIND_Q8 ? kernels.matmul_q8 : kernels.matmul_f32;
}
