/**
 * Builds and compiles the kernel module once per process, and instantiates it over an arena's memory.
 *
 * Like loading a driver: probe what the CPU/runtime supports (SIMD is required, relaxed SIMD's fused
 * multiply-add is used only when the runtime accepts it), then map the same code into every thread.
 */
import type { KernelExports } from '../kernel-abi.ts';
import { assembleModule } from './assembler.ts';
import { kernelFunctions } from './matmul-codegen.ts';

const MEMORY = { minPages: 1, maxPages: 65536, shared: true };
type CompiledKernels = { module: WebAssembly.Module; relaxed: boolean };
const cache = new Map<boolean, CompiledKernels | null>();

/**
 * The compiled kernel module, or null when this runtime lacks WebAssembly SIMD (callers then use the
 * TypeScript kernels). Relaxed SIMD (fused multiply-add) is opted into with `relaxedSimd` (the
 * `relaxedSimd` kernel option) and used only if the runtime validates it (Node 20 needs
 * --experimental-wasm-relaxed-simd); it measured no gain here, so it is off by default.
 */
export function kernelModule(relaxedSimd = false): CompiledKernels | null {
  const hit = cache.get(relaxedSimd);
  if (hit !== undefined) return hit;
  let compiled: CompiledKernels | null = null;
  for (const relaxed of relaxedSimd ? [true, false] : [false]) {
    const bytes = assembleModule(kernelFunctions(relaxed), MEMORY);
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
