/**
 * The memory floor under q8_0 single-stream decode (issue 16 item 2): how fast one core can merely read one
 * token's q8_0 weights (136 MiB on the SmolLM2-135M shape) in WebAssembly, against how fast the packed q8_0
 * tile streams the same bytes. If the tile reads at the floor's speed it is memory-bound (only fewer bytes
 * or better streaming help); if it reads well below it while a bare loop over the same bytes does not, the
 * tile's instructions are the limit.
 *
 * Like timing `dd if=/dev/nvme0 of=/dev/null` before judging a database's scan rate. Every figure is one
 * pass over the same arena bytes, in one process, the variants interleaved round by round:
 *   - stream v128: `v128.load` + `i32x4.add` per 16 bytes (4 accumulators, 64 bytes per loop pass);
 *   - stream load8x8: the tile's own load (`v128.load8x8_s`, sign-widening 8 bytes) + `i32x4.add` per 8 bytes;
 *   - stream load8x8 + dot: that load times an activation-pair splat (`i32x4.dot_i16x8_s`, one splat per two
 *     loads as the decode tile does) + add: the tile's arithmetic without its per-block work;
 *   - tile: `matmul_q8_int` over the model's matrices in model order (q, k, v, o, gate, up, down per layer,
 *     then the LM head), one token row, as a decode step calls it (no quantization, no row ops);
 *   - the same four on one small matrix that stays in L2 (the compute-bound speed of each).
 * Timed by this process's CPU time per pass (a neighbour that takes the core away lowers the count of
 * passes, not the figure); best and median over the rounds.
 */
// biome-ignore-all format: instruction sequences read like assembly, one logical step per line
import { readGgufHeader } from '../../src/model/checkpoint/gguf/index.ts';
import type { ModelConfig } from '../../src/model/index.ts';
import { SharedArena } from '../../src/model/kernels/arena.ts';
import type { KernelExports } from '../../src/model/kernels/kernel-abi.ts';
import { Q8X4_BLOCK_BYTES, q8x4Bytes } from '../../src/model/kernels/q8x4-pack.ts';
import { type Code, encodeULeb128, FunctionBuilder, I32, op, V128, whileLoop, assembleModule } from '../../src/model/kernels/wasm/assembler.ts';
import { get, increment, set } from '../../src/model/kernels/wasm/codegen-helpers.ts';
import { instantiateKernels, kernelModule } from '../../src/model/kernels/wasm/kernel-module.ts';
import { median } from '../../src/util/stats.ts';

const i32x4Add: Code = [0xfd, ...encodeULeb128(0xae)];
const i32x4DotI16x8S: Code = [0xfd, ...encodeULeb128(0xba)];
const UNROLL_BYTES = 64;
/** Weight bytes per cache panel, as backend.ts computes it for a 1-byte-per-weight matrix. */
const PANEL_BYTES = 64 * 1024;

/**
 * `name(p, end, sink, xp)`: reads [p, end) (a multiple of 64 bytes) `width` bytes per load, stores a v128 at
 * sink. `dot`: each widened load is multiplied by a splat of an activation pair at xp (`i32x4.dot_i16x8_s`),
 * one splat per two loads as the decode tile does (its two 4-row groups), with none of the tile's per-block
 * work: the tile's arithmetic with no overhead.
 */
function streamKernel(name: string, width: 16 | 8, dot = false): ReturnType<FunctionBuilder['build']> {
  const fn = new FunctionBuilder(name, true);
  const p = fn.param('p', I32);
  const end = fn.param('end', I32);
  const sink = fn.param('sink', I32);
  const xp = fn.param('xp', I32);
  const acc = fn.localArray('acc', 4, V128);
  const xv = fn.local('xPair', V128);
  const body: Code = [];
  for (let k = 0; k < UNROLL_BYTES / width; k++) {
    const a = acc[k % 4]!;
    const load = width === 16 ? op.v128Load(k * 16) : op.v128Load8x8S(k * 8);
    if (dot && k % 2 === 0) body.push(...get(xp), ...op.v128Load32Splat(k * 2), ...set(xv));
    const product = dot ? [...get(xv), ...i32x4DotI16x8S] : [];
    body.push(...get(p), ...load, ...product, ...get(a), ...i32x4Add, ...set(a));
  }
  body.push(...increment(p, op.i32Const(UNROLL_BYTES)));
  return fn.build([
    ...whileLoop([...get(p), ...get(end), ...op.i32LtU], body),
    // keep the sums alive: the optimizer cannot drop loads whose sum is stored
    ...get(sink), ...get(acc[0]!), ...get(acc[1]!), ...i32x4Add, ...get(acc[2]!), ...i32x4Add, ...get(acc[3]!), ...i32x4Add,
    ...op.v128Store(0),
  ]);
}

interface StreamExports {
  stream_v128(p: number, end: number, sink: number, xp: number): void;
  stream_load8x8(p: number, end: number, sink: number, xp: number): void;
  stream_dot(p: number, end: number, sink: number, xp: number): void;
}

/** One matrix of a decode step: (outDim, inDim) packed q8_0 at byte offset `at` of the arena. */
interface PackedMatrix {
  at: number;
  outDim: number;
  inDim: number;
}

/** The q8_0 matrices one decode token streams, in the order `forward` multiplies them. */
export function decodeMatrices(c: ModelConfig): { outDim: number; inDim: number }[] {
  const qDim = c.numHeads * c.headDim;
  const kvDim = c.numKvHeads * c.headDim;
  const dim = c.hiddenSize;
  const layer = [[qDim, dim], [kvDim, dim], [kvDim, dim], [dim, qDim], [c.intermediateSize, dim], [c.intermediateSize, dim], [dim, c.intermediateSize]];
  const all = Array.from({ length: c.numLayers }, () => layer).flat();
  all.push([c.vocabSize, dim]);
  return all.map(([outDim, inDim]) => ({ outDim: outDim!, inDim: inDim! }));
}

export interface FloorFigures {
  /** bytes per pass */
  bytes: number;
  /** GB/s (1e9 bytes) of each variant, best and median over the rounds */
  gbs: Record<string, { best: number; median: number }>;
}

export interface StreamFloor {
  /** one token's weights, from DRAM */
  token: FloorFigures;
  /** one small matrix read again and again (L2) */
  cached: FloorFigures;
}

/** Fills `bytes` with a xorshift stream (non-zero, touches every page so no pass pays first-touch faults). */
function fillPseudoRandom(bytes: Uint8Array): void {
  const words = new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength >>> 2);
  let s = 0x9e3779b9;
  for (let i = 0; i < words.length; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    // weight bytes in [-127, 127] like real q8_0 (no -128), scales whatever: timing does not depend on them
    words[i] = (s & 0x7f7f7f7f) >>> 0;
  }
}

/**
 * Every packed block's four f16 scales → 2^-7: random bits would hold infinities and NaNs (which time
 * differently). The matrices lie back to back and each is whole 136-byte blocks, so `bytes` is too.
 */
function setScales(weights: Uint8Array, bytes: number): void {
  const halves = new Uint16Array(weights.buffer, weights.byteOffset, bytes >>> 1);
  for (let end = Q8X4_BLOCK_BYTES; end <= bytes; end += Q8X4_BLOCK_BYTES) halves.fill(0x2000, (end - 8) >>> 1, end >>> 1);
}

/** Measures the floor and the tile on `config`'s decode matrices; see the file comment. */
export function measureStreamFloor(config: ModelConfig, rounds: number): StreamFloor {
  const matrices = decodeMatrices(config);
  const sizes = matrices.map((m) => q8x4Bytes(m.outDim, m.inDim));
  const total = sizes.reduce((a, b) => a + b, 0);
  const maxOut = Math.max(...matrices.map((m) => m.outDim));
  const arena = new SharedArena(total + 4 * maxOut + (1 << 20));
  const weights = arena.allocU8(total + UNROLL_BYTES);
  fillPseudoRandom(weights);
  const placed: PackedMatrix[] = [];
  let at = weights.byteOffset;
  for (const [i, m] of matrices.entries()) {
    placed.push({ at, ...m });
    at += sizes[i]!;
  }
  setScales(weights, total);
  // quantize_q8_act's output for one token row per input width: i16 values, then the f32 block scales
  const xqFor = new Map<number, number>();
  for (const inDim of new Set(matrices.map((m) => m.inDim))) {
    const xq = arena.allocF32(inDim / 2 + inDim / 32);
    const values = new Int16Array(xq.buffer, xq.byteOffset, inDim);
    for (let k = 0; k < inDim; k++) values[k] = ((k * 37) % 255) - 127;
    xq.subarray(inDim / 2).fill(0.01);
    xqFor.set(inDim, xq.byteOffset);
  }
  const out = arena.allocF32(maxOut);
  const xp576 = xqFor.values().next().value!;
  const sink = arena.allocF32(4).byteOffset;

  const compiled = kernelModule(false);
  if (!compiled) throw new Error('this runtime lacks WebAssembly SIMD: no floor to measure');
  const kernels: KernelExports = instantiateKernels(compiled.module, arena.memory);
  const streamBytes = assembleModule([streamKernel('stream_v128', 16), streamKernel('stream_load8x8', 8), streamKernel('stream_dot', 8, true)], { minPages: 1, maxPages: 65536, shared: true });
  const stream = new WebAssembly.Instance(new WebAssembly.Module(streamBytes), { env: { memory: arena.memory } })
    .exports as unknown as StreamExports;

  const tile = (ms: PackedMatrix[]) => (): void => {
    for (const m of ms) {
      const panel = Math.max(4, Math.floor(PANEL_BYTES / m.inDim) & ~3);
      kernels.matmul_q8_int(out.byteOffset, xqFor.get(m.inDim)!, m.at, 0, 1, m.inDim, m.outDim, 0, m.outDim, panel);
    }
  };
  const streamOver = (from: number, bytes: number) => {
    const end = from + Math.ceil(bytes / UNROLL_BYTES) * UNROLL_BYTES;
    return {
      v128: (): void => stream.stream_v128(from, end, sink, xp576),
      load8x8: (): void => stream.stream_load8x8(from, end, sink, xp576),
      dot: (): void => stream.stream_dot(from, end, sink, xp576),
    };
  };
  // The L2 case: the first q projection, read `repeat` times per pass (about as many bytes as a token)
  const small = placed[0]!;
  const smallBytes = sizes[0]!;
  const repeat = Math.max(1, Math.round(total / smallBytes));
  const repeated = (f: () => void) => (): void => {
    for (let r = 0; r < repeat; r++) f();
  };
  const token = streamOver(weights.byteOffset, total);
  const cached = streamOver(small.at, smallBytes);
  const variants: [string, string, () => void, number][] = [
    ['token', 'stream v128', token.v128, total],
    ['token', 'stream load8x8', token.load8x8, total],
    ['token', 'stream load8x8 + dot', token.dot, total],
    ['token', 'tile (matmul_q8_int)', tile(placed), total],
    ['cached', 'stream v128', repeated(cached.v128), smallBytes * repeat],
    ['cached', 'stream load8x8', repeated(cached.load8x8), smallBytes * repeat],
    ['cached', 'stream load8x8 + dot', repeated(cached.dot), smallBytes * repeat],
    ['cached', 'tile (matmul_q8_int)', repeated(tile([small])), smallBytes * repeat],
  ];
  const samples = variants.map((): number[] => []);
  for (const [, , run] of variants) run(); // compile tiers up, pages resident
  for (let round = 0; round < rounds; round++) {
    const order = variants.map((_, i) => i);
    if (round % 2 === 1) order.reverse();
    for (const i of order) {
      const [, , run, bytes] = variants[i]!;
      const t0 = process.cpuUsage();
      run();
      const cpu = process.cpuUsage(t0);
      samples[i]!.push(bytes / ((cpu.user + cpu.system) * 1e3));
    }
  }
  const figures = (where: string): FloorFigures => {
    const gbs: FloorFigures['gbs'] = {};
    for (const [i, [w, label]] of variants.entries())
      if (w === where) gbs[label] = { best: Math.max(...samples[i]!), median: median(samples[i]!) };
    return { bytes: variants.find(([w]) => w === where)![3], gbs };
  };
  return { token: figures('token'), cached: figures('cached') };
}

/** Bytes llama.cpp reads per decoded token from a GGUF: every tensor once (a tied head reads token_embd whole). */
export function ggufBytesPerToken(path: string): number {
  let bytes = 0;
  for (const t of readGgufHeader(path).tensors.values()) bytes += t.byteLength;
  return bytes;
}

/** The floor as lines of text: GB/s per variant, the tile as a fraction of the DRAM stream. */
export function formatStreamFloor(f: StreamFloor, llama: { bytes: number; tokensPerSec: number | null } | null): string {
  const mb = (b: number) => (b / 1e6).toFixed(1);
  const lines: string[] = [];
  for (const [title, fig] of [['one token of q8_0 weights (DRAM)', f.token], ['one small matrix again and again (L2)', f.cached]] as const) {
    lines.push(`${title}, ${mb(fig.bytes)} MB a pass: GB/s best / median`);
    for (const [label, g] of Object.entries(fig.gbs)) lines.push(`  ${label.padEnd(22)} ${g.best.toFixed(1).padStart(6)} / ${g.median.toFixed(1)}`);
  }
  const floor = f.token.gbs['stream v128']!.best;
  const tile = f.token.gbs['tile (matmul_q8_int)']!;
  const tileL2 = f.cached.gbs['tile (matmul_q8_int)']!.best;
  const dotL2 = f.cached.gbs['stream load8x8 + dot']!.best;
  lines.push(
    `tile ÷ floor (DRAM, best): ${(tile.best / floor).toFixed(2)}; tile from DRAM ÷ tile in L2: ${(tile.best / tileL2).toFixed(2)}` +
      ' (near 1: compute-bound, its bytes arrive faster than it uses them)',
    `tile ÷ its own arithmetic with no block overhead (L2, best): ${(tileL2 / dotL2).toFixed(2)}`,
    `a decode step's matmuls at the floor: ${((f.token.bytes / (floor * 1e9)) * 1e3).toFixed(2)} ms; at the tile's best: ${((f.token.bytes / (tile.best * 1e9)) * 1e3).toFixed(2)} ms`,
  );
  if (llama) {
    const at = llama.tokensPerSec;
    lines.push(
      `llama.cpp reads ${mb(llama.bytes)} MB a token` +
        (at ? `: at ${at.toFixed(1)} tok/s that is ${((llama.bytes * at) / 1e9).toFixed(1)} GB/s (whole step, not only matmuls)` : ' (--llama-tok-s N gives its GB/s)'),
    );
  }
  return lines.join('\n');
}
