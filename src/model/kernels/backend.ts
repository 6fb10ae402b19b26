/**
 * KernelBackend: the one kernel object forward.ts calls (`kernels.matmuls(...)`, `kernels.rmsnorm(...)`,
 * `kernels.attention(...)`), deciding once at load time where and how each kernel runs:
 *
 *   'wasm' + threads > 1   WebAssembly SIMD kernels, output columns split over a worker pool (the engine
 *                          thread computes a share too); tiny products stay on the engine thread
 *   'wasm' + threads = 1   the same kernels on the engine thread only
 *   'ts'                   the plain TypeScript kernels of reference/ (the oracle; also the fallback
 *                          when the runtime lacks WebAssembly SIMD)
 *
 * Matmuls and attention have fast paths (wasm/, threads/); the row ops and the KV write run wasm kernels
 * (bit for bit the reference, but q8_0's SwiGLU) when their buffers live in the arena, else the reference.
 *
 * Systems analogy: a storage driver with a fast path (DMA into a shared segment) and a safe path (plain
 * reads), chosen at mount time. Weights live in the backend's SharedArena so every thread sees them.
 */
import { availableParallelism } from 'node:os';
import { getLogger } from '../../util/logger.ts';
import { checkKvSlots, pagedAttention, writeKvSlots } from './reference/attention.ts';
import type { ForwardBatch, KvCacheTensors } from '../forward-batch.ts';
import { matmul as referenceMatmul } from './reference/matmul.ts';
import { applyRope, ropeTables } from './reference/rope.ts';
import { add, argmax, rmsnorm, swiglu } from './reference/row-ops.ts';
import type { KernelExports, MatmulOp } from './kernel-abi.ts';
import { addBias, matmulOp, type PlacedMatrix, placeMatrix, type WeightDtype } from './matrix-placement.ts';
import { matmulKernel } from './threads/job.ts';
import { KernelThreadPool } from './threads/thread-pool.ts';
import { SharedArena } from './arena.ts';
import { WasmAttention } from './wasm/attention-driver.ts';
import { Q8_BLOCK } from './quantize.ts';
import { instantiateKernels, kernelModule, q8x4Lane } from './wasm/kernel-module.ts';
import type { Q8x4Lane } from './q8x4-pack.ts';

const log = getLogger('kernels');

export type { WeightDtype } from './matrix-placement.ts';
export type KernelKind = 'wasm' | 'ts';
/** What q8_0 weights multiply: q8_0-quantized activations in integer arithmetic, or the f32 activations. */
export type Q8Activations = 'q8_0' | 'f32';

export interface KernelOptions {
  /** Threads that compute matmuls, the engine thread included (`--threads`, default: the core count). */
  threads?: number;
  /** Storage of the weight matrices (`--weight-dtype`, default 'f32'). Norms and biases stay f32. */
  weightDtype?: WeightDtype;
  /** 'wasm' (default) or 'ts' to force the reference TypeScript kernels. */
  kernels?: KernelKind;
  /** Fused multiply-add kernels (relaxed SIMD, `--relaxed-simd`) where the runtime has them; default off (exact path). */
  relaxedSimd?: boolean;
  /**
   * q8_0 weights only: 'q8_0' (default) quantizes each activation row per block of 32 and multiplies in
   * integers (llama.cpp's q8_0 × q8_0 dot); 'f32' keeps f32 activations and widens the weights instead.
   */
  q8Activations?: Q8Activations;
}

/** A weight matrix (outDim, inDim) placed for its backend (matrix-placement.ts). */
export interface Matrix extends PlacedMatrix {
  readonly backend: KernelBackend;
}

/** One product of a `matmuls` call: out (rows, w.outDim) = x · wᵀ (+ bias). */
export type Product = [out: Float32Array, w: Matrix, bias: Float32Array | null];

/** Products smaller than this (multiply-adds) are not worth a thread barrier (~15-30 µs). */
const THREAD_MIN_MACS = 1 << 18;
/** The arena: a 32-bit WebAssembly memory addresses 4 GiB. */
const ARENA_BYTES = 4 * 2 ** 30;
/**
 * What a KV cache placed in the arena leaves free for activations when its caller does not say how many
 * token rows a forward pass can carry (an engine's batches are bounded by its scheduler, not by the cache).
 */
export const DEFAULT_ACTIVATION_RESERVE_BYTES = 512 * 2 ** 20;

export class KernelBackend {
  private scratch: Float32Array[] = [];
  /** The ops of the `matmuls` call in flight (reused: no array per call). */
  private readonly ops: MatmulOp[] = [];
  /** quantize_q8_act's output for the current x: 64 bytes per block (i16 values, or q⁺ and q⁻ bytes), then f32 block scales. */
  private q8xScratch: Float32Array | null = null;
  /** Set by create(): whether q8_0 matrices use the integer kernel. */
  private q8IntActivations = false;
  /** Set by create(): the packed layout the module that runs reads (relaxed module: q8x4 by 4). */
  private q8Lane: Q8x4Lane = 2;
  private readonly wasmAttention: WasmAttention | null;
  /** kv_write reads the slot ids from here (a copy of the batch's slotMapping). */
  private slotScratch: Int32Array | null = null;
  /** Where ropeTables puts a pass's cos/sin for rope_f32: reused by the next pass. */
  private ropeScratch: Float32Array | null = null;

  private constructor(
    readonly kind: KernelKind,
    readonly weightDtype: WeightDtype,
    readonly threads: number,
    private readonly arena: SharedArena | null,
    private readonly wasm: KernelExports | null,
    private readonly pool: KernelThreadPool | null,
    /** True when the matmuls run the relaxed-SIMD fused multiply-add tiles. */
    readonly relaxedSimd = false,
  ) {
    this.wasmAttention = wasm && arena ? new WasmAttention(wasm, arena) : null;
  }

  /** The reference backend: TypeScript kernels on the calling thread, ordinary memory. */
  static reference(weightDtype: WeightDtype = 'f32'): KernelBackend {
    return new KernelBackend('ts', weightDtype, 1, null, null, null);
  }

  /**
   * Builds the backend the options ask for, falling back (with a warning) to fewer threads or to the
   * TypeScript kernels when the runtime cannot do more. `arenaBytes` sizes the shared memory up front.
   */
  static async create(opts: KernelOptions, arenaBytes: number): Promise<KernelBackend> {
    const dtype = opts.weightDtype ?? 'f32';
    const threads = Math.max(1, Math.floor(opts.threads ?? availableParallelism()));
    if (opts.kernels === 'ts') return KernelBackend.reference(dtype);
    const compiled = kernelModule(opts.relaxedSimd ?? false);
    if (!compiled) {
      log.warn('WebAssembly SIMD is not available; using the TypeScript kernels');
      return KernelBackend.reference(dtype);
    }
    const arena = new SharedArena(arenaBytes);
    const wasm = instantiateKernels(compiled.module, arena.memory);
    let pool: KernelThreadPool | null = null;
    if (threads > 1) {
      try {
        pool = await KernelThreadPool.start(threads, arena, compiled.module, wasm);
      } catch (err) {
        log.warn('kernel worker threads failed to start; computing on one thread', { error: String(err) });
      }
    }
    const backend = new KernelBackend('wasm', dtype, pool ? threads : 1, arena, wasm, pool, compiled.relaxed);
    backend.q8IntActivations = (opts.q8Activations ?? 'q8_0') === 'q8_0';
    backend.q8Lane = q8x4Lane(compiled);
    return backend;
  }

  /** A zeroed f32 buffer the kernels can read and write without copying. */
  allocF32(length: number): Float32Array {
    return this.arena ? this.arena.allocF32(length) : new Float32Array(length);
  }

  /**
   * A KV cache of `numLayers` key and value buffers of `floatsPerLayer` each, in the arena when it fits
   * with `activationReserveBytes` to spare for the activations of the passes that use it (so attention
   * runs on the SIMD kernels), else in ordinary memory (the TypeScript attention reads it).
   */
  allocKvBuffers(
    numLayers: number,
    floatsPerLayer: number,
    activationReserveBytes = DEFAULT_ACTIVATION_RESERVE_BYTES,
  ): { key: Float32Array[]; value: Float32Array[] } {
    const bytes = 2 * numLayers * floatsPerLayer * 4;
    const inArena =
      this.arena !== null && this.arena.bytesUsed + bytes + activationReserveBytes <= ARENA_BYTES;
    if (this.arena && !inArena) {
      log.warn('KV cache does not fit in the kernel arena; attention runs in TypeScript (slower)', {
        kvBytes: bytes,
        arenaBytesUsed: this.arena.bytesUsed,
      });
    }
    // Arena pages are mapped on first touch, so a decode step writing K/V rows into fresh pages pays that
    // fault once per page (kv_write: ~13 µs a call on fresh slots, ~0.7 after; docs/engine-speed.md Q6).
    // Not pre-touched here: faulting in 256 MiB took 1.8 s on a busy 2-core box, a synchronous stall at
    // start-up that outlived a 2 s discovery lease (the worker registers its lease before the engine loads),
    // and it makes every worker's whole KV cache resident before any request needs it.
    const alloc = (n: number): Float32Array => (inArena ? this.arena!.allocF32(n) : new Float32Array(n));
    const key = Array.from({ length: numLayers }, () => alloc(floatsPerLayer));
    const value = Array.from({ length: numLayers }, () => alloc(floatsPerLayer));
    return { key, value };
  }

  /** RMSNorm per row: out = weight · x / sqrt(mean(x²) + eps). x, out: (rows, dim), weight: (dim). */
  rmsnorm(
    out: Float32Array,
    x: Float32Array,
    weight: Float32Array,
    rows: number,
    dim: number,
    eps: number,
  ): void {
    if (this.wasm && this.owned(out, x, weight))
      this.wasm.rmsnorm_f32(out.byteOffset, x.byteOffset, weight.byteOffset, rows, dim, eps);
    else rmsnorm(out, x, weight, rows, dim, eps);
  }

  /** Rotates x (rows, numHeads, headDim) in place by each row's angles (cos/sin: (rows, headDim/2)). */
  applyRope(
    x: Float32Array,
    rows: number,
    numHeads: number,
    headDim: number,
    cos: Float32Array,
    sin: Float32Array,
  ): void {
    if (this.wasm && this.owned(x, cos, sin))
      this.wasm.rope_f32(x.byteOffset, rows, numHeads, headDim, cos.byteOffset, sin.byteOffset);
    else applyRope(x, rows, numHeads, headDim, cos, sin);
  }

  /**
   * cos/sin (positions.length, invFreq.length) of every row's angles (reference/rope.ts), placed in arena
   * scratch on the wasm backend so rope_f32 reads them in place: valid until the next call (one forward
   * pass computes them once and shares them across its layers).
   */
  ropeTables(invFreq: Float32Array, positions: Int32Array): { cos: Float32Array; sin: Float32Array } {
    const tables = ropeTables(invFreq, positions);
    if (!this.arena) return tables;
    const floats = tables.cos.length;
    let s = this.ropeScratch;
    if (!s || s.length < 2 * floats) {
      s = this.arena.allocF32(Math.max(2 * floats, 2 * (s?.length ?? 0)));
      this.ropeScratch = s;
    }
    const cos = s.subarray(0, floats);
    const sin = s.subarray(floats, 2 * floats);
    cos.set(tables.cos);
    sin.set(tables.sin);
    return { cos, sin };
  }

  /** Files the new tokens' K and V (numTokens, numKvHeads*headDim) in their cache slots. */
  writeKvSlots(
    kv: KvCacheTensors,
    layer: number,
    k: Float32Array,
    v: Float32Array,
    slotMapping: Int32Array,
  ): void {
    const keyCache = kv.key[layer]!;
    const valueCache = kv.value[layer]!;
    if (!this.wasm || !this.owned(keyCache, valueCache, k, v)) {
      writeKvSlots(kv, layer, k, v, slotMapping);
      return;
    }
    checkKvSlots(kv, slotMapping);
    const rows = slotMapping.length;
    let slots = this.slotScratch;
    if (!slots || slots.length < rows) {
      slots = this.arena!.allocI32(Math.max(rows, 2 * (slots?.length ?? 0)));
      this.slotScratch = slots;
    }
    slots.set(slotMapping);
    // biome-ignore format: one call
    this.wasm.kv_write(keyCache.byteOffset, valueCache.byteOffset, k.byteOffset, v.byteOffset, slots.byteOffset, rows, kv.numKvHeads * kv.headDim);
  }

  /**
   * SwiGLU in place: gate[i] = silu(gate[i]) · up[i], for n values. q8_0 weights take the vectorized expf
   * (a few ulp off, as llama.cpp's: wasm/fast-swiglu-codegen.ts); f32 the exact path, bit for bit.
   */
  swiglu(gate: Float32Array, up: Float32Array, n: number): void {
    if (!this.wasm || !this.owned(gate, up)) swiglu(gate, up, n);
    else if (this.weightDtype === 'q8_0') this.wasm.swiglu_f32_fast(gate.byteOffset, up.byteOffset, n);
    else this.wasm.swiglu_f32(gate.byteOffset, up.byteOffset, n);
  }

  /** Residual add in place: a += b, for n values. */
  add(a: Float32Array, b: Float32Array, n: number): void {
    if (this.wasm && this.owned(a, b)) this.wasm.add_f32(a.byteOffset, b.byteOffset, n);
    else add(a, b, n);
  }

  /** Index of the largest of x's n ≥ 1 values (first on ties): argmax_f32 on arena memory, else reference. */
  argmax(x: Float32Array, n = x.length): number {
    return this.wasm && this.owned(x, x) ? this.wasm.argmax_f32(x.byteOffset, n) : argmax(x, 0, n);
  }

  /**
   * A norm weight or bias vector in the arena (a copy), so the row kernels read it in place; the
   * reference backend keeps the array itself.
   */
  vector(v: Float32Array): Float32Array {
    if (!this.arena) return v;
    const copy = this.arena.allocF32(v.length);
    copy.set(v);
    return copy;
  }

  /** out (numTokens, numHeads, headDim) = paged causal attention (see reference/attention.ts), SIMD when it can. */
  attention(
    out: Float32Array,
    q: Float32Array,
    kv: KvCacheTensors,
    layer: number,
    batch: ForwardBatch,
    numHeads: number,
  ): void {
    if (this.wasmAttention?.canRun(out, q, kv, layer))
      this.wasmAttention.run(out, q, kv, layer, batch, numHeads);
    else pagedAttention(out, q, kv, layer, batch, numHeads);
  }

  /** Places weights w (outDim, inDim) for this backend, quantizing them when the dtype asks for it. */
  matrix(w: Float32Array, outDim: number, inDim: number): Matrix {
    const placed = placeMatrix(
      w,
      outDim,
      inDim,
      this.weightDtype,
      this.arena,
      this.q8IntActivations,
      this.q8Lane,
    );
    return { ...placed, backend: this };
  }

  /** out (rows, outDim) = x (rows, inDim) · wᵀ (+ bias). */
  matmul(out: Float32Array, x: Float32Array, w: Matrix, bias: Float32Array | null, rows: number): void {
    this.matmuls(x, rows, [out, w, bias]);
  }

  /**
   * Several products of the same input, e.g. the q, k and v projections: one thread job (one barrier)
   * for all of them instead of one each.
   */
  matmuls(x: Float32Array, rows: number, ...products: Product[]): void {
    if (!this.wasm || !this.arena) {
      for (const [out, w, bias] of products) referenceMatmul(out, x, w.f32!, bias, rows, w.inDim, w.outDim);
      return;
    }
    // Plain loops, no closures or per-call arrays: a decode step makes ~150 of these calls (docs/engine-speed.md, Q6).
    const inDim = products[0]![1].inDim;
    const xIn = this.inArena(x, rows * inDim, 0, true);
    let quantized = false;
    let macs = 0;
    for (let i = 0; i < products.length; i++) {
      const w = products[i]![1];
      if (w.q8x4) quantized = true;
      macs += rows * w.inDim * w.outDim;
    }
    const xq = quantized ? this.quantizeX(xIn, rows, inDim) : null;
    const threaded = this.pool !== null && macs >= THREAD_MIN_MACS;
    const ops = this.ops;
    ops.length = 0;
    for (let i = 0; i < products.length; i++) {
      const [out, w] = products[i]!;
      const o = matmulOp(this.inArena(out, rows * w.outDim, 1 + i, false), xIn, w, rows, xq);
      if (threaded) ops.push(o);
      else this.runHere(o);
    }
    if (threaded) this.pool!.run(ops);
    for (let i = 0; i < products.length; i++) {
      const [out, w, bias] = products[i]!;
      const computed = this.scratch[1 + i];
      if (!this.arena.owns(out) && computed) out.set(computed.subarray(0, rows * w.outDim));
      if (bias) addBias(out, bias, rows, w.outDim);
    }
  }

  /** Stops the worker threads. The backend must not be used afterwards. */
  async close(): Promise<void> {
    await this.pool?.close();
  }

  /** Whether the wasm kernels can read and write all of these in place (they live in the arena). */
  private owned(a: Float32Array, b: Float32Array, c?: Float32Array, d?: Float32Array): boolean {
    const arena = this.arena;
    if (arena === null || !arena.owns(a) || !arena.owns(b)) return false;
    return (c === undefined || arena.owns(c)) && (d === undefined || arena.owns(d));
  }

  /** x (rows, inDim) quantized to q8_0 activations in arena scratch, for the integer kernel. */
  private quantizeX(x: Float32Array, rows: number, inDim: number): Float32Array {
    const floats = (rows * inDim) / 2 + (rows * inDim) / Q8_BLOCK;
    let s = this.q8xScratch;
    if (!s || s.length < floats) {
      s = this.arena!.allocF32(Math.max(floats, 2 * (s?.length ?? 0)));
      this.q8xScratch = s;
    }
    this.wasm!.quantize_q8_act(s.byteOffset, x.byteOffset, rows, inDim);
    return s;
  }

  private runHere(o: MatmulOp): void {
    const fn = matmulKernel(this.wasm!, o.kind);
    fn(o.out, o.x, o.w, o.scales, o.rows, o.inDim, o.outDim, 0, o.outDim, o.panel);
  }

  /** `a` itself when the arena owns it, else a scratch copy (copied in only when the kernel reads it). */
  private inArena(a: Float32Array, length: number, slot: number, copyIn: boolean): Float32Array {
    if (this.arena!.owns(a)) return a;
    let s = this.scratch[slot];
    if (!s || s.length < length) {
      s = this.arena!.allocF32(Math.max(length, 2 * (s?.length ?? 0)));
      this.scratch[slot] = s;
    }
    if (copyIn) s.set(a.subarray(0, length));
    return s;
  }
}
