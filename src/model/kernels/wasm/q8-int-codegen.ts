/**
 * Code generators for the integer q8_0 × q8_0 kernels (llama.cpp's q8_0 vec_dot): activations quantized
 * per block of 32 like the weights, then exact integer block dot products with i32x4.dot_i16x8_s, and one
 * f32 multiply by the two block scales per block.
 *
 * Systems analogy: fixed-point DSP arithmetic with a per-block exponent. The f32 q8 kernel
 * (matmul-codegen.ts) widens every weight to f32 and multiplies 4 at a time; this one multiplies 8 int16
 * pairs and adds them pairwise in one instruction, and touches f32 once per 32 weights.
 *
 *   quantize_q8_act(xq, x, rows, inDim)
 *     xq = (rows·inDim) i16 values in [-127, 127], then (rows·inDim/32) f32 block scales right after them
 *   matmul_q8_int(out, xq, q, scales, rows, inDim, outDim, j0, j1, panel)   (matmul_q8's ABI, x → xq)
 *     for each panel of weight rows: for each tile of R token rows × C weight rows: for each block b:
 *       isum = Σ dot_i16x8(xq[i, b], widen(q[j, b]))   (4 × 8 products, i32, exact)
 *       acc[i, j] += f32(isum) · xs[i, b] · ws[j, b]  (4 lanes, summed at the end)
 *
 * Activations are stored widened to i16 (8-bit values, 16-bit storage): a row is reused by every weight row,
 * so widening it once saves an extend per weight vector; the weights, streamed from memory, stay int8.
 * Products fit easily: |xq·wq| ≤ 127² and a lane sums 8 of them per block.
 */
// biome-ignore-all format: instruction sequences read like assembly, one logical step per line
import { Q8_BLOCK } from '../quantize.ts';
import {
  type Code, encodeULeb128, F32, FunctionBuilder, type FunctionDef, type FunctionRef, I32, type Local, type ModuleBuilder, op, V128, whileLoop,
} from './assembler.ts';
import { get, horizontalSum, increment, set } from './codegen-helpers.ts';
import type { TileShape } from './matmul-codegen.ts';

/** R×C tile for groups of token rows, 1×singleRowCols for a lone row (decode). */
export const Q8_INT_TILE: TileShape = { rows: 2, cols: 1, singleRowCols: 2 };

const simd = (opcode: number, ...imm: number[]): Code => [0xfd, ...encodeULeb128(opcode), ...imm];
/** The integer and rounding SIMD instructions only these kernels use (opcodes: the SIMD proposal's table). */
const iop = {
  i16x8NarrowI32x4S: simd(0x85),
  i32x4DotI16x8S: simd(0xba),
  i32x4Add: simd(0xae),
  i32x4TruncSatF32x4S: simd(0xf8),
  f32x4Nearest: simd(0x6a),
  f32x4Abs: simd(0xe0),
  f32x4Max: simd(0xe9),
  f32Max: [0x97],
  f32Div: [0x95],
  f32Eq: [0x5b],
};

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

/** locals[i] = base + i*stride (a tile's row pointers) */
const strided = (locals: Local[], base: Local, stride: Local): Code =>
  locals.flatMap((l, i) => (i === 0 ? [...get(base), ...set(l)] : [...get(locals[i - 1]!), ...get(stride), ...op.i32Add, ...set(l)]));

/**
 * quantize_q8_act(xq, x, rows, inDim): per block of 32 floats, scale = max|x|/127, inv = 1/scale (0 for an
 * all-zero block), q = nearest(x·inv) narrowed to i16. Same f32 steps as reference/matmul-q8.ts.
 */
export function quantizeActivationsQ8(): FunctionDef {
  const fn = new FunctionBuilder('quantize_q8_act', true);
  const xq = fn.param('xq', I32);
  const x = fn.param('x', I32);
  const rows = fn.param('rows', I32);
  const inDim = fn.param('inDim', I32);
  const sp = fn.local('scalePtr', I32); // where the next block's scale goes
  const end = fn.local('end', I32); // x + rows*inDim*4
  const vecs = fn.localArray('v', 8, V128);
  const maxVec = fn.local('maxVec', V128);
  const maxAbs = fn.local('maxAbs', F32);
  const scale = fn.local('scale', F32);
  const invVec = fn.local('invVec', V128);
  const lane = (l: number): Code => [...get(maxVec), ...op.f32x4ExtractLane(l)];
  /** i32x4 of nearest(v·inv) */
  const quantized = (v: Local): Code => [...get(v), ...get(invVec), ...op.f32x4Mul, ...iop.f32x4Nearest, ...iop.i32x4TruncSatF32x4S];
  const block: Code = [
    ...vecs.flatMap((v, i) => [...get(x), ...op.v128Load(i * 16), ...set(v)]),
    // max |x| over the 8 vectors, as a tree, then over the 4 lanes
    ...get(vecs[0]!), ...iop.f32x4Abs, ...set(maxVec),
    ...vecs.slice(1).flatMap((v) => [...get(maxVec), ...get(v), ...iop.f32x4Abs, ...iop.f32x4Max, ...set(maxVec)]),
    ...lane(0), ...lane(1), ...iop.f32Max, ...lane(2), ...lane(3), ...iop.f32Max, ...iop.f32Max, ...set(maxAbs),
    ...get(maxAbs), ...op.f32Const(127), ...iop.f32Div, ...set(scale),
    ...get(sp), ...get(scale), ...op.f32Store(),
    // inv = scale == 0 ? 0 : 1/scale
    ...op.f32Const(0), ...op.f32Const(1), ...get(scale), ...iop.f32Div, ...get(scale), ...op.f32Const(0), ...iop.f32Eq, ...op.select,
    ...op.f32x4Splat, ...set(invVec),
    ...range(4).flatMap((p) => [
      ...get(xq), ...quantized(vecs[2 * p]!), ...quantized(vecs[2 * p + 1]!), ...iop.i16x8NarrowI32x4S, ...op.v128Store(p * 16),
    ]),
    ...increment(x, op.i32Const(Q8_BLOCK * 4)),
    ...increment(xq, op.i32Const(Q8_BLOCK * 2)),
    ...increment(sp, op.i32Const(4)),
  ];
  return fn.build([
    // scales follow the i16 values: sp = xq + rows*inDim*2; end = x + rows*inDim*4
    ...get(rows), ...get(inDim), ...op.i32Mul, ...set(end),
    ...get(xq), ...get(end), ...op.i32Const(1), ...op.i32Shl, ...op.i32Add, ...set(sp),
    ...get(x), ...get(end), ...op.i32Const(2), ...op.i32Shl, ...op.i32Add, ...set(end),
    ...whileLoop([...get(x), ...get(end), ...op.i32LtU], block),
  ]);
}

/** The tile: out[i..i+R, j..j+C] for the corner pointers the driver passes, over all blocks. */
function q8IntTile(R: number, C: number): FunctionDef {
  const fn = new FunctionBuilder(`q8_int_tile_${R}x${C}`, false);
  const xp = fn.param('xp', I32); // i16 activations of row i
  const xsp = fn.param('xsp', I32); // activation scales of row i
  const qp = fn.param('qp', I32); // int8 weight row j
  const sp = fn.param('sp', I32); // f32 scale row j
  const outp = fn.param('outp', I32); // out[i, j]
  const xRowBytes = fn.param('xRowBytes', I32); // inDim*2
  const qRowBytes = fn.param('qRowBytes', I32); // inDim
  const sRowBytes = fn.param('sRowBytes', I32); // inDim/32*4 (weight and activation scale rows alike)
  const outRowBytes = fn.param('outRowBytes', I32); // outDim*4
  const numBlocks = fn.param('numBlocks', I32); // inDim/32
  const b = fn.local('block', I32);
  const xRows = fn.localArray('xRow', R, I32);
  const xsRows = fn.localArray('xsRow', R, I32);
  const qRows = fn.localArray('qRow', C, I32);
  const sRows = fn.localArray('sRow', C, I32);
  const acc = fn.localArray('acc', R * C, V128); // acc[r*C + c]: 4 lane sums of out[i+r, j+c]
  const wVecs = fn.localArray('w', 4, V128); // the 32 weights of one column's block, widened to i16
  const wScale = fn.local('wScale', F32);
  const sums = fn.localArray('sum', R * C, F32);
  const xVecs = fn.localArray('x', 4, V128); // a lone row's block, loaded once for all C columns
  const xScales = fn.localArray('xScale', R, F32);
  const hoistX = R === 1;
  /** pushes x vector v of token row r, block k of this step (from a register when hoisted) */
  const xVec = (r: number, k: number, v: number): Code => (hoistX ? get(xVecs[v]!) : [...get(xRows[r]!), ...op.v128Load(k * 64 + v * 16)]);
  /** `blocks` consecutive blocks (unrolled, addressed by immediate offsets), then the pointers move past them */
  const step = (blocks: number): Code => {
    const code: Code = [];
    for (const k of range(blocks)) {
      // Block scales of the activation rows: one load per row per block.
      code.push(...xsRows.flatMap((p, r) => [...get(p), ...op.f32Load(k * 4), ...set(xScales[r]!)]));
      if (hoistX) code.push(...range(4).flatMap((v) => [...get(xRows[0]!), ...op.v128Load(k * 64 + v * 16), ...set(xVecs[v]!)]));
      for (const c of range(C)) {
        // widen column c's block once (v128.load8x8_s: 8 int8 → i16x8 in one load); every row of the tile reuses it
        for (const v of range(4)) code.push(...get(qRows[c]!), ...op.v128Load8x8S(k * 32 + v * 8), ...set(wVecs[v]!));
        code.push(...get(sRows[c]!), ...op.f32Load(k * 4), ...set(wScale));
        for (const r of range(R)) {
          const a = acc[r * C + c]!;
          code.push(
            ...range(4).flatMap((v) => [...xVec(r, k, v), ...get(wVecs[v]!), ...iop.i32x4DotI16x8S, ...(v > 0 ? iop.i32x4Add : [])]),
            ...op.f32x4ConvertI32x4S,
            ...get(xScales[r]!), ...get(wScale), ...op.f32Mul, ...op.f32x4Splat, ...op.f32x4Mul,
            ...get(a), ...op.f32x4Add, ...set(a),
          );
        }
      }
    }
    code.push(
      ...xRows.flatMap((x) => increment(x, op.i32Const(blocks * Q8_BLOCK * 2))),
      ...xsRows.flatMap((p) => increment(p, op.i32Const(blocks * 4))),
      ...qRows.flatMap((q) => increment(q, op.i32Const(blocks * Q8_BLOCK))),
      ...sRows.flatMap((p) => increment(p, op.i32Const(blocks * 4))),
      ...increment(b, op.i32Const(blocks)),
    );
    return code;
  };
  const outRow = fn.local('outRow', I32);
  const store: Code = [...get(outp), ...set(outRow)];
  for (const r of range(R)) {
    for (const c of range(C)) store.push(...get(outRow), ...get(sums[r * C + c]!), ...op.f32Store(c * 4));
    if (r < R - 1) store.push(...increment(outRow, get(outRowBytes)));
  }
  return fn.build([
    ...strided(xRows, xp, xRowBytes),
    ...strided(xsRows, xsp, sRowBytes),
    ...strided(qRows, qp, qRowBytes),
    ...strided(sRows, sp, sRowBytes),
    // one block per pass: unrolling 2 or 4 blocks measured no faster (docs/engine-speed.md)
    ...whileLoop([...get(b), ...get(numBlocks), ...op.i32LtU], step(1)),
    ...acc.flatMap((a, i) => [...horizontalSum(a), ...set(sums[i]!)]),
    ...store,
  ]);
}

interface Tiles {
  rc: FunctionRef;
  r1: FunctionRef;
  oneC: FunctionRef;
  one1: FunctionRef;
}

/**
 * matmul_q8_int(out, xq, q, scales, rows, inDim, outDim, j0, j1, panel): columns [j0, j1) in panels of
 * `panel` weight rows; inside a panel, R×C tiles over R token rows, then R×1 at the right edge, then the
 * leftover token rows with 1×C1 and 1×1 tiles.
 */
function q8IntDriver(tiles: Tiles, shape: TileShape): FunctionDef {
  const { rows: R, cols: C, singleRowCols: C1 } = shape;
  const fn = new FunctionBuilder('matmul_q8_int', true);
  const out = fn.param('out', I32);
  const xq = fn.param('xq', I32);
  const q = fn.param('q', I32);
  const scales = fn.param('scales', I32);
  const rows = fn.param('rows', I32);
  const inDim = fn.param('inDim', I32);
  const outDim = fn.param('outDim', I32);
  const j0 = fn.param('j0', I32);
  const j1 = fn.param('j1', I32);
  const panel = fn.param('panel', I32);
  const i = fn.local('i', I32);
  const j = fn.local('j', I32);
  const jp = fn.local('panelStart', I32);
  const jEnd = fn.local('panelEnd', I32);
  const blocks = fn.local('blocks', I32);
  const sRowBytes = fn.local('sRowBytes', I32);
  const xScales = fn.local('xScales', I32); // xq + rows*inDim*2
  const lt = (a: Local, b: Local): Code => [...get(a), ...get(b), ...op.i32LtU];
  const fits = (a: Local, step: number, b: Local): Code => [...get(a), ...op.i32Const(step), ...op.i32Add, ...get(b), ...op.i32LeU];
  const mulAdd = (base: Local, index: Local, stride: Local, shift: number): Code => [
    ...get(base), ...get(index), ...get(stride), ...op.i32Mul, ...op.i32Const(shift), ...op.i32Shl, ...op.i32Add,
  ];
  const tileArgs: Code = [
    ...mulAdd(xq, i, inDim, 1), // xp
    ...mulAdd(xScales, i, blocks, 2), // xsp
    ...mulAdd(q, j, inDim, 0), // qp
    ...mulAdd(scales, j, blocks, 2), // sp
    ...get(out), ...get(i), ...get(outDim), ...op.i32Mul, ...get(j), ...op.i32Add, ...op.i32Const(2), ...op.i32Shl, ...op.i32Add, // outp
    ...get(inDim), ...op.i32Const(1), ...op.i32Shl, // xRowBytes
    ...get(inDim), // qRowBytes
    ...get(sRowBytes),
    ...get(outDim), ...op.i32Const(2), ...op.i32Shl, // outRowBytes
    ...get(blocks),
  ];
  const columns = (wide: FunctionRef, narrow: FunctionRef, width: number): Code => [
    ...get(jp), ...set(j),
    ...whileLoop(fits(j, width, jEnd), [...tileArgs, ...op.call(wide), ...increment(j, op.i32Const(width))]),
    ...whileLoop(lt(j, jEnd), [...tileArgs, ...op.call(narrow), ...increment(j, op.i32Const(1))]),
  ];
  const panelBody: Code = [
    // panelEnd = min(panelStart + panel, j1)
    ...get(jp), ...get(panel), ...op.i32Add, ...get(j1), ...get(jp), ...get(panel), ...op.i32Add, ...get(j1), ...op.i32LtU, ...op.select, ...set(jEnd),
    ...op.i32Const(0), ...set(i),
    ...whileLoop(fits(i, R, rows), [...columns(tiles.rc, tiles.r1, C), ...increment(i, op.i32Const(R))]),
    ...whileLoop(lt(i, rows), [...columns(tiles.oneC, tiles.one1, C1), ...increment(i, op.i32Const(1))]),
    ...increment(jp, get(panel)),
  ];
  return fn.build([
    ...get(inDim), ...op.i32Const(5), ...op.i32ShrU, ...set(blocks),
    ...get(blocks), ...op.i32Const(2), ...op.i32Shl, ...set(sRowBytes),
    ...get(xq), ...get(rows), ...get(inDim), ...op.i32Mul, ...op.i32Const(1), ...op.i32Shl, ...op.i32Add, ...set(xScales),
    ...get(j0), ...set(jp),
    ...whileLoop(lt(jp, j1), panelBody),
  ]);
}

/**
 * Adds the integer q8 tiles to the module and returns its two exported kernels, matmul_q8_int (the driver,
 * which calls the tiles) and quantize_q8_act, for the caller to add after them.
 */
export function q8IntKernels(module: ModuleBuilder, shape: TileShape = Q8_INT_TILE): FunctionDef[] {
  const { rows: R, cols: C, singleRowCols: C1 } = shape;
  const tiles: Tiles = {
    rc: module.add(q8IntTile(R, C)), r1: module.add(q8IntTile(R, 1)), oneC: module.add(q8IntTile(1, C1)), one1: module.add(q8IntTile(1, 1)),
  };
  return [q8IntDriver(tiles, shape), quantizeActivationsQ8()];
}
