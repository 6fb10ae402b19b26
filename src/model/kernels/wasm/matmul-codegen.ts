/**
 * The WebAssembly SIMD matmul kernels, generated as code: one driver per weight format that walks cache-sized
 * panels of weight rows, calling a fully unrolled R×C register tile (R token rows × C weight rows).
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
 * Sums are f32 (4 partial sums per lane, reduced at the end); the TypeScript kernel in ../kernels.ts sums
 * in f64 and is the oracle the tests compare against. q8_0 weights are int8 with one f32 scale per 32
 * weights (llama.cpp's Q8_0 layout, split into two arrays): the tile widens 4 int8 to f32, scales them and
 * multiplies as above, so it reads ~1.1 bytes per weight instead of 4.
 */
// biome-ignore-all format: instruction sequences read like assembly, one logical step per line
import { Q8_BLOCK } from '../quantize.ts';
import { attentionScores, attentionValues } from './attention-codegen.ts';
import { type Code, F32, type FunctionDef, I32, op, V128, type ValType, whileLoop } from './assembler.ts';

export { Q8_BLOCK };

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

/** Hands out local indices after the parameters. */
class Locals {
  readonly types: ValType[] = [];
  constructor(private readonly numParams: number) {}
  add(t: ValType): number {
    this.types.push(t);
    return this.numParams + this.types.length - 1;
  }
  many(n: number, t: ValType): number[] {
    return Array.from({ length: n }, () => this.add(t));
  }
}

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);
const get = op.localGet;
const set = op.localSet;
/** local += step (i32) */
const bump = (l: number, step: Code): Code => [...get(l), ...step, ...op.i32Add, ...set(l)];
/** locals[i] = base + i*stride, for i < n */
const strided = (locals: number[], base: number, stride: number): Code =>
  locals.flatMap((l, i) => (i === 0 ? [...get(base), ...set(l)] : [...get(locals[i - 1]!), ...get(stride), ...op.i32Add, ...set(l)]));
const hsum = (v: number): Code => [
  ...get(v), ...op.f32x4ExtractLane(0), ...get(v), ...op.f32x4ExtractLane(1), ...op.f32Add,
  ...get(v), ...op.f32x4ExtractLane(2), ...get(v), ...op.f32x4ExtractLane(3), ...op.f32Add, ...op.f32Add,
];
/** acc += a*b on f32x4 (a and b already on the stack) */
const madd = (acc: number, relaxed: boolean): Code =>
  relaxed ? [...get(acc), ...op.f32x4RelaxedMadd, ...set(acc)] : [...op.f32x4Mul, ...get(acc), ...op.f32x4Add, ...set(acc)];

/** Stores the R×C sums s[r*C+c] at outp + r*outRowBytes + c*4. */
function storeTile(R: number, C: number, outp: number, outRowBytes: number, s: number[], L: Locals): Code {
  const o = L.add(I32);
  const code: Code = [...get(outp), ...set(o)];
  for (const r of range(R)) {
    for (const c of range(C)) code.push(...get(o), ...get(s[r * C + c]!), ...op.f32Store(c * 4));
    if (r < R - 1) code.push(...bump(o, get(outRowBytes)));
  }
  return code;
}

/**
 * f32 tile. params: xp, wp, outp, rowBytes (inDim*4), outRowBytes, kVecBytes (inDim&~3)*4, kBytes (inDim*4)
 */
function f32Tile(R: number, C: number, relaxed: boolean): FunctionDef {
  const [xp, wp, outp, rowBytes, outRowBytes, kVec, kBytes] = range(7);
  const L = new Locals(7);
  const k = L.add(I32);
  const xr = L.many(R, I32);
  const wc = L.many(C, I32);
  const acc = L.many(R * C, V128);
  const wv = L.many(C, V128);
  const xv = L.add(V128);
  const s = L.many(R * C, F32);
  // Each weight vector and each x vector is loaded once per step and feeds C (resp. R) multiply-adds.
  const simdStep: Code = [
    ...wc.flatMap((w, c) => [...get(w), ...get(k), ...op.i32Add, ...op.v128Load(), ...set(wv[c]!)]),
    ...xr.flatMap((x, r) => [
      ...get(x), ...get(k), ...op.i32Add, ...op.v128Load(), ...set(xv),
      ...wc.flatMap((_, c) => [...get(xv), ...get(wv[c]!), ...madd(acc[r * C + c]!, relaxed)]),
    ]),
    ...bump(k, op.i32Const(16)),
  ];
  const scalarStep: Code = [
    ...xr.flatMap((x, r) =>
      wc.flatMap((w, c) => {
        const sum = s[r * C + c]!;
        return [...get(x), ...get(k), ...op.i32Add, ...op.f32Load(), ...get(w), ...get(k), ...op.i32Add, ...op.f32Load(),
          ...op.f32Mul, ...get(sum), ...op.f32Add, ...set(sum)];
      }),
    ),
    ...bump(k, op.i32Const(4)),
  ];
  const body: Code = [
    ...strided(xr, xp, rowBytes),
    ...strided(wc, wp, rowBytes),
    ...whileLoop([...get(k), ...get(kVec), ...op.i32LtU], simdStep),
    ...acc.flatMap((a, i) => [...hsum(a), ...set(s[i]!)]),
    ...whileLoop([...get(k), ...get(kBytes), ...op.i32LtU], scalarStep),
    ...storeTile(R, C, outp, outRowBytes, s, L),
  ];
  return { name: null, params: range(7).map(() => I32), results: [], locals: L.types, body };
}

/**
 * q8_0 tile. params: xp, qp (int8 rows), sp (f32 scale rows), outp, rowBytes (inDim*4), qRowBytes (inDim),
 * sRowBytes (inDim/32*4), outRowBytes, numBlocks (inDim/32)
 */
function q8Tile(R: number, C: number, relaxed: boolean): FunctionDef {
  const [xp, qp, sp, outp, rowBytes, qRowBytes, sRowBytes, outRowBytes, numBlocks] = range(9);
  const L = new Locals(9);
  const b = L.add(I32);
  const xr = L.many(R, I32);
  const qc = L.many(C, I32);
  const sc = L.many(C, I32);
  const acc = L.many(R * C, V128);
  const wv = L.many(C, V128);
  const sv = L.many(C, V128);
  const xv = L.add(V128);
  const s = L.many(R * C, F32);
  const widen = [op.i32x4ExtendLowI16x8S, op.i32x4ExtendHighI16x8S];
  // Each column's block scale is splatted once per block; each x vector is loaded once per 4 weights.
  const blockStep: Code = sc.flatMap((p, c) => [...get(p), ...op.v128Load32Splat(), ...set(sv[c]!)]);
  // 32 weights per block = 4 loads of 8 int8, each widened into two f32x4 halves.
  for (const g of range(4)) {
    for (const half of [0, 1]) {
      const kOff = g * 8 + half * 4; // weight index within the block
      for (const c of range(C)) {
        blockStep.push(...get(qc[c]!), ...op.v128Load8x8S(g * 8), ...widen[half]!, ...op.f32x4ConvertI32x4S,
          ...get(sv[c]!), ...op.f32x4Mul, ...set(wv[c]!));
      }
      for (const r of range(R)) {
        blockStep.push(...get(xr[r]!), ...op.v128Load(kOff * 4), ...set(xv));
        for (const c of range(C)) blockStep.push(...get(xv), ...get(wv[c]!), ...madd(acc[r * C + c]!, relaxed));
      }
    }
  }
  blockStep.push(
    ...xr.flatMap((x) => bump(x, op.i32Const(Q8_BLOCK * 4))),
    ...qc.flatMap((q) => bump(q, op.i32Const(Q8_BLOCK))),
    ...sc.flatMap((p) => bump(p, op.i32Const(4))),
    ...bump(b, op.i32Const(1)),
  );
  const body: Code = [
    ...strided(xr, xp, rowBytes),
    ...strided(qc, qp, qRowBytes),
    ...strided(sc, sp, sRowBytes),
    ...whileLoop([...get(b), ...get(numBlocks), ...op.i32LtU], blockStep),
    ...acc.flatMap((a, i) => [...hsum(a), ...set(s[i]!)]),
    ...storeTile(R, C, outp, outRowBytes, s, L),
  ];
  return { name: null, params: range(9).map(() => I32), results: [], locals: L.types, body };
}

/**
 * The panel driver shared by both formats. `tileArgs(i, j)` pushes a tile's arguments given locals i, j.
 * params: out, x, w, scales, rows, inDim, outDim, j0, j1, panel  (pointers in bytes)
 */
function driver(
  name: string,
  tiles: { rc: number; r1: number; oneC: number; one1: number },
  shape: TileShape,
  tileArgs: (p: DriverLocals) => Code,
): FunctionDef {
  const { rows: R, cols: C, singleRowCols: C1 } = shape;
  const L = new Locals(10);
  const p: DriverLocals = { out: 0, x: 1, w: 2, scales: 3, rows: 4, inDim: 5, outDim: 6, i: L.add(I32), j: L.add(I32) };
  const [j0, j1, panel] = [7, 8, 9];
  const jp = L.add(I32);
  const jEnd = L.add(I32);
  const lt = (a: number, b: Code): Code => [...get(a), ...b, ...op.i32LtU];
  const le = (a: number, step: number, b: number): Code => [...get(a), ...op.i32Const(step), ...op.i32Add, ...get(b), ...op.i32LeU];
  const columns = (wide: number, narrow: number, width: number): Code => [
    ...get(jp), ...set(p.j),
    ...whileLoop(le(p.j, width, jEnd), [...tileArgs(p), ...op.call(wide), ...bump(p.j, op.i32Const(width))]),
    ...whileLoop(lt(p.j, get(jEnd)), [...tileArgs(p), ...op.call(narrow), ...bump(p.j, op.i32Const(1))]),
  ];
  const panelBody: Code = [
    // jEnd = min(jp + panel, j1)
    ...get(jp), ...get(panel), ...op.i32Add, ...get(j1), ...get(jp), ...get(panel), ...op.i32Add, ...get(j1), ...op.i32LtU, ...op.select, ...set(jEnd),
    ...op.i32Const(0), ...set(p.i),
    ...whileLoop(le(p.i, R, p.rows), [...columns(tiles.rc, tiles.r1, C), ...bump(p.i, op.i32Const(R))]),
    ...whileLoop(lt(p.i, get(p.rows)), [...columns(tiles.oneC, tiles.one1, C1), ...bump(p.i, op.i32Const(1))]),
    ...bump(jp, get(panel)),
  ];
  const body: Code = [...get(j0), ...set(jp), ...whileLoop(lt(jp, get(j1)), panelBody)];
  return { name, params: range(10).map(() => I32), results: [], locals: L.types, body };
}

interface DriverLocals {
  out: number;
  x: number;
  w: number;
  scales: number;
  rows: number;
  inDim: number;
  outDim: number;
  i: number;
  j: number;
}

const mulAdd = (a: number, b: number, scaleShift: number): Code => [
  ...get(a), ...get(b), ...op.i32Mul, ...op.i32Const(scaleShift), ...op.i32Shl,
];

/** All kernel functions of the module, in index order; exported: matmul_f32, matmul_q8, attn_scores, attn_values. */
export function kernelFunctions(relaxed: boolean, tiles: KernelTiles = { f32: F32_TILE, q8: Q8_TILE }): FunctionDef[] {
  const { rows: fR, cols: fC, singleRowCols: fC1 } = tiles.f32;
  const { rows: qR, cols: qC, singleRowCols: qC1 } = tiles.q8;
  // indices 0..3: f32 tiles, 4..7: q8 tiles, 8, 9: drivers
  const fns: FunctionDef[] = [
    f32Tile(fR, fC, relaxed), f32Tile(fR, 1, relaxed), f32Tile(1, fC1, relaxed), f32Tile(1, 1, relaxed),
    q8Tile(qR, qC, relaxed), q8Tile(qR, 1, relaxed), q8Tile(1, qC1, relaxed), q8Tile(1, 1, relaxed),
  ];
  const f32Args = (p: DriverLocals): Code => [
    ...get(p.x), ...mulAdd(p.i, p.inDim, 2), ...op.i32Add, // x + i*inDim*4
    ...get(p.w), ...mulAdd(p.j, p.inDim, 2), ...op.i32Add, // w + j*inDim*4
    ...get(p.out), ...mulAdd(p.i, p.outDim, 2), ...op.i32Add, ...get(p.j), ...op.i32Const(2), ...op.i32Shl, ...op.i32Add,
    ...get(p.inDim), ...op.i32Const(2), ...op.i32Shl, // rowBytes
    ...get(p.outDim), ...op.i32Const(2), ...op.i32Shl, // outRowBytes
    ...get(p.inDim), ...op.i32Const(-4), ...op.i32And, ...op.i32Const(2), ...op.i32Shl, // kVecBytes
    ...get(p.inDim), ...op.i32Const(2), ...op.i32Shl, // kBytes
  ];
  const q8Args = (p: DriverLocals): Code => [
    ...get(p.x), ...mulAdd(p.i, p.inDim, 2), ...op.i32Add, // x + i*inDim*4
    ...get(p.w), ...mulAdd(p.j, p.inDim, 0), ...op.i32Add, // q + j*inDim
    ...get(p.scales), ...get(p.j), ...get(p.inDim), ...op.i32Const(5), ...op.i32ShrU, ...op.i32Mul, ...op.i32Const(2), ...op.i32Shl, ...op.i32Add,
    ...get(p.out), ...mulAdd(p.i, p.outDim, 2), ...op.i32Add, ...get(p.j), ...op.i32Const(2), ...op.i32Shl, ...op.i32Add,
    ...get(p.inDim), ...op.i32Const(2), ...op.i32Shl, // rowBytes
    ...get(p.inDim), // qRowBytes
    ...get(p.inDim), ...op.i32Const(5), ...op.i32ShrU, ...op.i32Const(2), ...op.i32Shl, // sRowBytes
    ...get(p.outDim), ...op.i32Const(2), ...op.i32Shl, // outRowBytes
    ...get(p.inDim), ...op.i32Const(5), ...op.i32ShrU, // numBlocks
  ];
  fns.push(driver('matmul_f32', { rc: 0, r1: 1, oneC: 2, one1: 3 }, tiles.f32, f32Args));
  fns.push(driver('matmul_q8', { rc: 4, r1: 5, oneC: 6, one1: 7 }, tiles.q8, q8Args));
  fns.push(attentionScores(), attentionValues());
  return fns;
}
