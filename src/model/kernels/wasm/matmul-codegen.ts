/**
 * Code generators for the WebAssembly SIMD matmul kernels: one driver per weight format that walks
 * cache-sized panels of weight rows, calling a fully unrolled R×C register tile (R token rows × C weight rows).
 *
 * Systems analogy: the driver is a DMA scheduler and the tile is the ALU. The driver keeps a panel of weight
 * rows hot in L2 while every group of R token rows streams past it; the tile keeps R·C running sums in
 * SIMD registers (4 lanes along k each) so each loaded weight vector feeds R multiply-adds.
 *
 *   out (rows, outDim) = x (rows, inDim) · wᵀ,  w (outDim, inDim) row-major as in the checkpoint
 *
 *   for each panel of weight rows [jp, jp+panel) ∩ [j0, j1):
 *     for i in steps of R:  for j in steps of C:  tile(i..i+R, j..j+C) over all k
 *   (edges use the R×1, 1×C and 1×1 tiles, and a scalar loop for inDim % 4)
 *
 * Sums are f32 (4 partial sums per lane, reduced at the end); the TypeScript kernel in ../reference/matmul.ts
 * sums in f64 and is the oracle the tests compare against. q8_0 weights are int8 with one f32 scale per 32
 * weights (llama.cpp's Q8_0 layout, split into two arrays): the tile widens 4 int8 to f32, scales them and
 * multiplies as above, so it reads ~1.1 bytes per weight instead of 4.
 */
// biome-ignore-all format: instruction sequences read like assembly, one logical step per line
import { Q8_BLOCK } from '../quantize.ts';
import { type Code, F32, FunctionBuilder, type FunctionDef, type FunctionRef, I32, type Local, type ModuleBuilder, op, V128, whileLoop } from './assembler.ts';
import { bytesOf, get, horizontalSum, increment, rowByteOffset, set, TIMES_4 } from './codegen-helpers.ts';

/** Register tile shapes, chosen by measurement (docs/engine-speed.md). */
export const F32_TILE: TileShape = { rows: 2, cols: 4, singleRowCols: 4 };
export const Q8_TILE: TileShape = { rows: 4, cols: 2, singleRowCols: 4 };

/** R×C tile for groups of token rows; 1×singleRowCols for a lone row (decode is memory-bound: more streams). */
export interface TileShape {
  rows: number;
  cols: number;
  singleRowCols: number;
}
export interface KernelTiles {
  f32: TileShape;
  q8: TileShape;
}

/** The four tiles one driver calls: R×C inside the matrix, R×1 at the right edge, 1×C / 1×1 for the last rows. */
export interface TileSet {
  rc: FunctionRef;
  r1: FunctionRef;
  oneC: FunctionRef;
  one1: FunctionRef;
}

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

/** locals[i] = base + i*stride, for i < n (the R row pointers or C column pointers of a tile) */
const strided = (locals: Local[], base: Local, stride: Local): Code =>
  locals.flatMap((l, i) => (i === 0 ? [...get(base), ...set(l)] : [...get(locals[i - 1]!), ...get(stride), ...op.i32Add, ...set(l)]));

/** acc += a*b on f32x4 (a and b already on the stack) */
const multiplyAccumulate = (acc: Local, relaxed: boolean): Code =>
  relaxed ? [...get(acc), ...op.f32x4RelaxedMadd, ...set(acc)] : [...op.f32x4Mul, ...get(acc), ...op.f32x4Add, ...set(acc)];

/** Stores the R×C sums s[r*C+c] at outp + r*outRowBytes + c*4. */
function storeTile(fn: FunctionBuilder, R: number, C: number, outp: Local, outRowBytes: Local, sums: Local[]): Code {
  const outRow = fn.local('outRow', I32);
  const code: Code = [...get(outp), ...set(outRow)];
  for (const r of range(R)) {
    for (const c of range(C)) code.push(...get(outRow), ...get(sums[r * C + c]!), ...op.f32Store(c * 4));
    if (r < R - 1) code.push(...increment(outRow, get(outRowBytes)));
  }
  return code;
}

/** f32 tile: out[i..i+R, j..j+C] = x[i..i+R] · w[j..j+C]ᵀ, called by the driver with pointers to the corner. */
function f32Tile(R: number, C: number, relaxed: boolean): FunctionDef {
  const fn = new FunctionBuilder(`f32_tile_${R}x${C}`, false);
  const xp = fn.param('xp', I32); // x row i
  const wp = fn.param('wp', I32); // w row j
  const outp = fn.param('outp', I32); // out[i, j]
  const rowBytes = fn.param('rowBytes', I32); // inDim*4
  const outRowBytes = fn.param('outRowBytes', I32); // outDim*4
  const kVecBytes = fn.param('kVecBytes', I32); // (inDim & ~3)*4: the part done 4 floats at a time
  const kBytes = fn.param('kBytes', I32); // inDim*4
  const k = fn.local('k', I32); // byte offset along the rows
  const xRows = fn.localArray('xRow', R, I32);
  const wRows = fn.localArray('wRow', C, I32);
  const acc = fn.localArray('acc', R * C, V128); // acc[r*C + c]: 4 lane sums of out[i+r, j+c]
  const wVecs = fn.localArray('wVec', C, V128);
  const xVec = fn.local('xVec', V128);
  const sums = fn.localArray('sum', R * C, F32);
  // Each weight vector and each x vector is loaded once per step and feeds R (resp. C) multiply-adds.
  const simdStep: Code = [
    ...wRows.flatMap((w, c) => [...get(w), ...get(k), ...op.i32Add, ...op.v128Load(), ...set(wVecs[c]!)]),
    ...xRows.flatMap((x, r) => [
      ...get(x), ...get(k), ...op.i32Add, ...op.v128Load(), ...set(xVec),
      ...wRows.flatMap((_, c) => [...get(xVec), ...get(wVecs[c]!), ...multiplyAccumulate(acc[r * C + c]!, relaxed)]),
    ]),
    ...increment(k, op.i32Const(16)),
  ];
  // The last inDim % 4 products, one float at a time.
  const scalarStep: Code = [
    ...xRows.flatMap((x, r) =>
      wRows.flatMap((w, c) => {
        const sum = sums[r * C + c]!;
        return [...get(x), ...get(k), ...op.i32Add, ...op.f32Load(), ...get(w), ...get(k), ...op.i32Add, ...op.f32Load(),
          ...op.f32Mul, ...get(sum), ...op.f32Add, ...set(sum)];
      }),
    ),
    ...increment(k, op.i32Const(4)),
  ];
  return fn.build([
    ...strided(xRows, xp, rowBytes),
    ...strided(wRows, wp, rowBytes),
    ...whileLoop([...get(k), ...get(kVecBytes), ...op.i32LtU], simdStep),
    ...acc.flatMap((a, i) => [...horizontalSum(a), ...set(sums[i]!)]),
    ...whileLoop([...get(k), ...get(kBytes), ...op.i32LtU], scalarStep),
    ...storeTile(fn, R, C, outp, outRowBytes, sums),
  ]);
}

/** q8_0 tile: as f32Tile, with int8 weight rows and one f32 scale per block of 32 weights. */
function q8Tile(R: number, C: number, relaxed: boolean): FunctionDef {
  const fn = new FunctionBuilder(`q8_tile_${R}x${C}`, false);
  const xp = fn.param('xp', I32); // x row i
  const qp = fn.param('qp', I32); // int8 weight row j
  const sp = fn.param('sp', I32); // f32 scale row j
  const outp = fn.param('outp', I32); // out[i, j]
  const rowBytes = fn.param('rowBytes', I32); // inDim*4
  const qRowBytes = fn.param('qRowBytes', I32); // inDim
  const sRowBytes = fn.param('sRowBytes', I32); // inDim/32*4
  const outRowBytes = fn.param('outRowBytes', I32); // outDim*4
  const numBlocks = fn.param('numBlocks', I32); // inDim/32
  const b = fn.local('block', I32);
  const xRows = fn.localArray('xRow', R, I32);
  const qRows = fn.localArray('qRow', C, I32);
  const scaleRows = fn.localArray('scaleRow', C, I32);
  const acc = fn.localArray('acc', R * C, V128);
  const wVecs = fn.localArray('wVec', C, V128); // 4 dequantized weights of column c
  const scaleVecs = fn.localArray('scaleVec', C, V128); // the block's scale of column c, in all lanes
  const xVec = fn.local('xVec', V128);
  const sums = fn.localArray('sum', R * C, F32);
  const widen = [op.i32x4ExtendLowI16x8S, op.i32x4ExtendHighI16x8S];
  // Each column's block scale is splatted once per block; each x vector is loaded once per 4 weights.
  const blockStep: Code = scaleRows.flatMap((p, c) => [...get(p), ...op.v128Load32Splat(), ...set(scaleVecs[c]!)]);
  // 32 weights per block = 4 loads of 8 int8, each widened into two f32x4 halves.
  for (const g of range(4)) {
    for (const half of [0, 1]) {
      const kOff = g * 8 + half * 4; // weight index within the block
      for (const c of range(C)) {
        blockStep.push(...get(qRows[c]!), ...op.v128Load8x8S(g * 8), ...widen[half]!, ...op.f32x4ConvertI32x4S,
          ...get(scaleVecs[c]!), ...op.f32x4Mul, ...set(wVecs[c]!));
      }
      for (const r of range(R)) {
        blockStep.push(...get(xRows[r]!), ...op.v128Load(kOff * 4), ...set(xVec));
        for (const c of range(C)) blockStep.push(...get(xVec), ...get(wVecs[c]!), ...multiplyAccumulate(acc[r * C + c]!, relaxed));
      }
    }
  }
  blockStep.push(
    ...xRows.flatMap((x) => increment(x, op.i32Const(Q8_BLOCK * 4))),
    ...qRows.flatMap((q) => increment(q, op.i32Const(Q8_BLOCK))),
    ...scaleRows.flatMap((p) => increment(p, op.i32Const(4))),
    ...increment(b, op.i32Const(1)),
  );
  return fn.build([
    ...strided(xRows, xp, rowBytes),
    ...strided(qRows, qp, qRowBytes),
    ...strided(scaleRows, sp, sRowBytes),
    ...whileLoop([...get(b), ...get(numBlocks), ...op.i32LtU], blockStep),
    ...acc.flatMap((a, i) => [...horizontalSum(a), ...set(sums[i]!)]),
    ...storeTile(fn, R, C, outp, outRowBytes, sums),
  ]);
}

/** The driver's params and loop counters, for the per-format code that pushes a tile's arguments. */
interface DriverLocals {
  out: Local;
  x: Local;
  w: Local;
  scales: Local;
  rows: Local;
  inDim: Local;
  outDim: Local;
  i: Local; // first token row of the tile
  j: Local; // first weight row (output column) of the tile
}

/**
 * The panel driver shared by both formats (exported as `name`). `tileArgs` pushes a tile's arguments for
 * the corner (i, j). params: out, x, w, scales, rows, inDim, outDim, j0, j1, panel  (pointers in bytes)
 */
function driver(name: string, tiles: TileSet, shape: TileShape, tileArgs: (p: DriverLocals) => Code): FunctionDef {
  const { rows: R, cols: C, singleRowCols: C1 } = shape;
  const fn = new FunctionBuilder(name, true);
  const out = fn.param('out', I32);
  const x = fn.param('x', I32);
  const w = fn.param('w', I32);
  const scales = fn.param('scales', I32);
  const rows = fn.param('rows', I32);
  const inDim = fn.param('inDim', I32);
  const outDim = fn.param('outDim', I32);
  const j0 = fn.param('j0', I32); // this thread's columns: [j0, j1)
  const j1 = fn.param('j1', I32);
  const panel = fn.param('panel', I32); // weight rows per cache panel
  const p: DriverLocals = { out, x, w, scales, rows, inDim, outDim, i: fn.local('i', I32), j: fn.local('j', I32) };
  const jp = fn.local('panelStart', I32);
  const jEnd = fn.local('panelEnd', I32);
  const lt = (a: Local, b: Code): Code => [...get(a), ...b, ...op.i32LtU];
  /** a + step <= b: room for one more tile of `step` */
  const fits = (a: Local, step: number, b: Local): Code => [...get(a), ...op.i32Const(step), ...op.i32Add, ...get(b), ...op.i32LeU];
  // Columns of the panel: whole tiles of `width`, then the leftover columns one at a time.
  const columns = (wide: FunctionRef, narrow: FunctionRef, width: number): Code => [
    ...get(jp), ...set(p.j),
    ...whileLoop(fits(p.j, width, jEnd), [...tileArgs(p), ...op.call(wide), ...increment(p.j, op.i32Const(width))]),
    ...whileLoop(lt(p.j, get(jEnd)), [...tileArgs(p), ...op.call(narrow), ...increment(p.j, op.i32Const(1))]),
  ];
  const panelBody: Code = [
    // panelEnd = min(panelStart + panel, j1)
    ...get(jp), ...get(panel), ...op.i32Add, ...get(j1), ...get(jp), ...get(panel), ...op.i32Add, ...get(j1), ...op.i32LtU, ...op.select, ...set(jEnd),
    ...op.i32Const(0), ...set(p.i),
    ...whileLoop(fits(p.i, R, rows), [...columns(tiles.rc, tiles.r1, C), ...increment(p.i, op.i32Const(R))]),
    ...whileLoop(lt(p.i, get(rows)), [...columns(tiles.oneC, tiles.one1, C1), ...increment(p.i, op.i32Const(1))]),
    ...increment(jp, get(panel)),
  ];
  return fn.build([...get(j0), ...set(jp), ...whileLoop(lt(jp, get(j1)), panelBody)]);
}

/** f32 tile arguments: x + i*inDim*4, w + j*inDim*4, out + (i*outDim + j)*4, rowBytes, outRowBytes, kVecBytes, kBytes */
const f32TileArgs = (p: DriverLocals): Code => [
  ...get(p.x), ...rowByteOffset(p.i, p.inDim, 2), ...op.i32Add,
  ...get(p.w), ...rowByteOffset(p.j, p.inDim, 2), ...op.i32Add,
  ...get(p.out), ...rowByteOffset(p.i, p.outDim, 2), ...op.i32Add, ...bytesOf(p.j), ...op.i32Add,
  ...bytesOf(p.inDim), // rowBytes
  ...bytesOf(p.outDim), // outRowBytes
  ...get(p.inDim), ...op.i32Const(-4), ...op.i32And, ...TIMES_4, // kVecBytes
  ...bytesOf(p.inDim), // kBytes
];

/** pushes inDim / 32: Q8_0 blocks per weight row */
const blocksPerRow = (p: DriverLocals): Code => [...get(p.inDim), ...op.i32Const(5), ...op.i32ShrU];

/** q8 tile arguments: x + i*inDim*4, q + j*inDim, scales + j*(inDim/32)*4, out + (i*outDim + j)*4, row sizes, blocks */
const q8TileArgs = (p: DriverLocals): Code => [
  ...get(p.x), ...rowByteOffset(p.i, p.inDim, 2), ...op.i32Add,
  ...get(p.w), ...rowByteOffset(p.j, p.inDim, 0), ...op.i32Add,
  ...get(p.scales), ...get(p.j), ...blocksPerRow(p), ...op.i32Mul, ...TIMES_4, ...op.i32Add,
  ...get(p.out), ...rowByteOffset(p.i, p.outDim, 2), ...op.i32Add, ...bytesOf(p.j), ...op.i32Add,
  ...bytesOf(p.inDim), // rowBytes
  ...get(p.inDim), // qRowBytes
  ...blocksPerRow(p), ...TIMES_4, // sRowBytes
  ...bytesOf(p.outDim), // outRowBytes
  ...blocksPerRow(p), // numBlocks
];

/** Adds the four f32 tiles of `shape` to the module and returns the driver `matmul_f32` that calls them. */
export function f32Matmul(module: ModuleBuilder, shape: TileShape, relaxed: boolean): FunctionDef {
  const { rows: R, cols: C, singleRowCols: C1 } = shape;
  const tiles: TileSet = {
    rc: module.add(f32Tile(R, C, relaxed)), r1: module.add(f32Tile(R, 1, relaxed)), oneC: module.add(f32Tile(1, C1, relaxed)), one1: module.add(f32Tile(1, 1, relaxed)),
  };
  return driver('matmul_f32', tiles, shape, f32TileArgs);
}

/** Adds the four q8_0 tiles of `shape` to the module and returns the driver `matmul_q8` that calls them. */
export function q8Matmul(module: ModuleBuilder, shape: TileShape, relaxed: boolean): FunctionDef {
  const { rows: R, cols: C, singleRowCols: C1 } = shape;
  const tiles: TileSet = {
    rc: module.add(q8Tile(R, C, relaxed)), r1: module.add(q8Tile(R, 1, relaxed)), oneC: module.add(q8Tile(1, C1, relaxed)), one1: module.add(q8Tile(1, 1, relaxed)),
  };
  return driver('matmul_q8', tiles, shape, q8TileArgs);
}
