/**
 * The WebAssembly SIMD roofline of one core: peak f32 GFLOP/s of a loop that does nothing but multiply-adds
 * on registers (no memory traffic), so every kernel can be reported as a fraction of what the core can do.
 *
 * Like measuring a NIC's line rate with a packet generator before judging a server's throughput: the loop
 * keeps ACCUMULATORS independent chains busy (more than latency × issue width, so the adder pipes never
 * wait), each step `acc = acc + a_i·b` on f32x4 (the exact path: separate mul and add) or, where the runtime
 * accepts relaxed SIMD, `acc = relaxed_madd(a_i, b, acc)` (one fused multiply-add). Timed by process CPU
 * time, so a busy neighbour lowers the count of runs, not the figure.
 */
// biome-ignore-all format: instruction sequences read like assembly, one logical step per line
import { assembleModule, FunctionBuilder, I32, op, V128, whileLoop } from '../../src/model/kernels/wasm/assembler.ts';
import { get, increment, set } from '../../src/model/kernels/wasm/codegen-helpers.ts';
import { enableRelaxedSimd } from '../../src/model/kernels/wasm/kernel-module.ts';

const ACCUMULATORS = 12;
const STEPS_PER_PASS = 8; // unrolled passes over all accumulators per loop iteration
const FLOPS_PER_LANE_OP = 2; // one multiply + one add
const LANES = 4;

export interface Roofline {
  /** GFLOP/s of f32x4.mul + f32x4.add (what the exact kernels can reach). */
  mulAdd: number;
  /** GFLOP/s of f32x4.relaxed_madd, or null where the runtime rejects relaxed SIMD. */
  fma: number | null;
}

/** `roofline(iterations)`: iterations × STEPS_PER_PASS × ACCUMULATORS multiply-adds on f32x4. */
function rooflineModule(fused: boolean): Uint8Array {
  const fn = new FunctionBuilder('roofline', true);
  const iterations = fn.param('iterations', I32);
  const i = fn.local('i', I32);
  const acc = fn.localArray('acc', ACCUMULATORS, V128);
  const a = fn.localArray('a', 2, V128);
  const b = fn.local('b', V128);
  const sink = fn.local('sink', I32);
  const madd = (k: number, s: number) => {
    const ai = a[(k + s) % 2]!;
    return fused
      ? [...get(ai), ...get(b), ...get(acc[k]!), ...op.f32x4RelaxedMadd, ...set(acc[k]!)]
      : [...get(ai), ...get(b), ...op.f32x4Mul, ...get(acc[k]!), ...op.f32x4Add, ...set(acc[k]!)];
  };
  const splat = (v: number) => [...op.f32Const(v), ...op.f32x4Splat];
  const body = Array.from({ length: STEPS_PER_PASS }, (_, s) => acc.flatMap((_, k) => madd(k, s))).flat();
  const def = fn.build([
    ...splat(1.0000001), ...set(a[0]!), ...splat(0.9999999), ...set(a[1]!), ...splat(1e-7), ...set(b),
    ...whileLoop([...get(i), ...get(iterations), ...op.i32LtU], [...body, ...increment(i, op.i32Const(1))]),
    // Keep the sums alive: store one lane of their total where the optimizer cannot prove it unused.
    ...op.i32Const(0), ...acc.flatMap((x, k) => [...get(x), ...(k > 0 ? op.f32x4Add : [])]), ...op.f32x4ExtractLane(0),
    ...op.f32Store(0), ...op.i32Const(0), ...set(sink),
  ]);
  return assembleModule([def], { minPages: 1, maxPages: 1, shared: false });
}

function measure(bytes: Uint8Array, minCpuMs: number): number | null {
  if (!WebAssembly.validate(bytes)) return null;
  const memory = new WebAssembly.Memory({ initial: 1, maximum: 1 });
  const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } });
  const run = instance.exports.roofline as (iterations: number) => void;
  const iterations = 200_000;
  run(1000); // compile tiers up
  let best = 0;
  const start = process.cpuUsage();
  for (;;) {
    const t0 = process.cpuUsage();
    run(iterations);
    const us = process.cpuUsage(t0);
    const flops = iterations * STEPS_PER_PASS * ACCUMULATORS * LANES * FLOPS_PER_LANE_OP;
    best = Math.max(best, flops / ((us.user + us.system) * 1e3));
    const spent = process.cpuUsage(start);
    if ((spent.user + spent.system) / 1e3 > minCpuMs) return best;
  }
}

/** Best of a few runs within `minCpuMs` of CPU time each (best, not median: the peak is the question). */
export function measureRoofline(minCpuMs = 300): Roofline {
  enableRelaxedSimd();
  return { mulAdd: measure(rooflineModule(false), minCpuMs)!, fma: measure(rooflineModule(true), minCpuMs) };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const r = measureRoofline();
  console.log(`wasm SIMD roofline, one core: mul+add ${r.mulAdd.toFixed(1)} GFLOP/s, relaxed madd ${r.fma?.toFixed(1) ?? 'n/a'} GFLOP/s`);
}
