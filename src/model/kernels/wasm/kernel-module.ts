/**
 * Builds and compiles the kernel module once per process, and instantiates it over an arena's memory.
 *
 * Like loading a driver: probe what the CPU/runtime supports (SIMD is required, relaxed SIMD's fused
 * multiply-add is used only when the runtime accepts it), then map the same code into every thread.
 */
import v8 from 'node:v8';
import type { KernelExports } from '../kernel-abi.ts';
import type { Q8x4Lane } from '../q8x4-pack.ts';
import { assembleModule, type FunctionDef, type MemoryLimits, ModuleBuilder } from './assembler.ts';
import { attentionScores, attentionValues } from './attention-codegen.ts';
import { F32_TILE, f32Matmul, type KernelTiles, Q8_TILE, q8Matmul } from './matmul-codegen.ts';
import { relaxedDotScheme } from './q8-dot-codegen.ts';
import { q8IntKernels, widenDotScheme } from './q8-int-codegen.ts';
import { rowOpKernels } from './row-ops-codegen.ts';
import { argmaxF32 } from './argmax-codegen.ts';
import { softmaxF32 } from './softmax-codegen.ts';
import { swigluF32Fast } from './fast-swiglu-codegen.ts';

const MEMORY: MemoryLimits = { minPages: 1, maxPages: 65536, shared: true };

/**
 * Every function of the module, in index order: the f32 tiles, the q8 tiles, then the exported kernels
 * matmul_f32, matmul_q8 (the drivers, which call their tiles), attn_scores, attn_values; then the integer
 * q8 tiles and matmul_q8_int, quantize_q8_act (q8-int-codegen.ts; the relaxed module's from
 * q8-dot-codegen.ts, on weights packed q8x4 by 4 and activations split by sign); then the row operations exp_f64,
 * swiglu_f32, add_f32, rmsnorm_f32, rope_f32 (row-ops-codegen.ts); then softmax_f32 (softmax-codegen.ts),
 * swiglu_f32_fast (fast-swiglu-codegen.ts), argmax_f32 (argmax-codegen.ts).
 */
export function kernelFunctions(
  relaxed: boolean,
  tiles: KernelTiles = { f32: F32_TILE, q8: Q8_TILE },
): FunctionDef[] {
  const module = new ModuleBuilder();
  // Each call adds its four tiles now and returns its driver, added below after both tile sets: this
  // order fixes every function's index, so it is part of the emitted bytes (and of kernels.wat).
  const matmulF32 = f32Matmul(module, tiles.f32, relaxed);
  const matmulQ8 = q8Matmul(module, tiles.q8, relaxed);
  for (const kernel of [matmulF32, matmulQ8, attentionScores(), attentionValues()]) module.add(kernel);
  // the relaxed module's integer q8 tiles read the q8x4-by-4 layout (q8-dot-codegen.ts): the placement must
  // pack for the module that runs (`CompiledKernels.relaxed`, `q8x4Lane`)
  for (const kernel of q8IntKernels(module, relaxed ? relaxedDotScheme : widenDotScheme)) module.add(kernel);
  rowOpKernels(module);
  module.add(softmaxF32());
  module.add(swigluF32Fast());
  module.add(argmaxF32());
  return module.functions;
}

/** The module's bytes; `names` adds the name section a disassembler prints (kernels.wat), not used to run. */
export function kernelModuleBytes(relaxed: boolean, options: { names?: boolean } = {}): Uint8Array {
  return assembleModule(kernelFunctions(relaxed), MEMORY, options);
}

type CompiledKernels = { module: WebAssembly.Module; relaxed: boolean };

/**
 * Weights of a row per 4-byte lane in the packed q8_0 layout the module's matmul_q8_int reads
 * (q8x4-pack.ts): 4 for the relaxed module's relaxed-dot tiles, 2 for the widening ones.
 */
export function q8x4Lane(compiled: CompiledKernels): Q8x4Lane {
  return compiled.relaxed ? 4 : 2;
}
const cache = new Map<boolean, CompiledKernels | null>();

/**
 * Turns on relaxed SIMD in this process's V8 (Node 20 ships it behind --experimental-wasm-relaxed-simd;
 * on by default from Node 22). V8 flags are process-wide and read at compile time, so setting it before
 * the module is compiled is enough, for the worker threads too (they instantiate the same module).
 */
export function enableRelaxedSimd(): void {
  v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
}

/**
 * The compiled kernel module, or null when this runtime lacks WebAssembly SIMD (callers then use the
 * TypeScript kernels). Relaxed SIMD (f32x4.relaxed_madd: one fused multiply-add where the CPU has FMA)
 * is opted into with `relaxedSimd` (the `relaxedSimd` kernel option, `--relaxed-simd`) and used only if
 * the runtime validates it. It rounds once per multiply-add instead of twice, so f32 logits move in the last
 * bits: the exact path (separate mul and add, what the golden tests pin) stays the default. Its q8_0 × q8_0
 * kernels (relaxed integer dot, q8-dot-codegen.ts) give the exact module's bits, on their own layout.
 */
export function kernelModule(relaxedSimd = false): CompiledKernels | null {
  const hit = cache.get(relaxedSimd);
  if (hit !== undefined) return hit;
  if (relaxedSimd) enableRelaxedSimd();
  let compiled: CompiledKernels | null = null;
  for (const relaxed of relaxedSimd ? [true, false] : [false]) {
    const bytes = kernelModuleBytes(relaxed);
    if (WebAssembly.validate(bytes)) {
      compiled = { module: new WebAssembly.Module(bytes), relaxed };
      break;
    }
  }
  cache.set(relaxedSimd, compiled);
  return compiled;
}

export function instantiateKernels(module: WebAssembly.Module, memory: WebAssembly.Memory): KernelExports {
  const instance = new WebAssembly.Instance(module, { env: { memory } });
  return instance.exports as unknown as KernelExports;
}
