/**
 * Code generators for the integer q8_0 × q8_0 kernels (llama.cpp's q8_0 vec_dot): activations quantized
 * per block of 32 like the weights, then exact integer block dot products with i32x4.dot_i16x8_s, and one
 * f32 multiply by the two block scales per block and four output columns.
 *
 * Systems analogy: fixed-point DSP arithmetic with a per-block exponent, reading weights laid out in the
 * order the multiply consumes them (struct-of-arrays → array-of-structs for a streaming reader). The weights
 * are packed by ../q8x4-pack.ts: four weight rows interleaved two weights at a time, each block's four f16
 * scales right after its 128 weight bytes (llama.cpp's 34 bytes per 32 weights, one sequential stream), the
 * blocks of two such groups (a pair, 8 rows) alternating.
 *
 *   quantize_q8_act(xq, x, rows, inDim)
 *     xq = (rows·inDim) i16 values in [-127, 127], then (rows·inDim/32) f32 block scales right after them
 *   matmul_q8_int(out, xq, w, 0, rows, inDim, outDim, j0, j1, panel)   (matmul_q8's ABI; j0, panel multiples of 8)
 *     group g (weight rows 4g..4g+3), block b (weights 32b..32b+31), 136 bytes at ((g/2)·blocks + b)·272 + (g%2)·136:
 *       [p = 0..15: w[4g][32b+2p], w[4g][32b+2p+1], w[4g+1][32b+2p], ..., w[4g+3][32b+2p+1]] [4 × f16 scale]
 *     for each token row i, group g, block b:
 *       isum[c] = Σ_p dot_i16x8(load8x8_s(w_gb + 8p), splat32(xq[i, 32b+2p .. 32b+2p+1]))   (lane c: row 4g+c)
 *       acc[c] += f32(isum[c]) · (ws[g, b, c] · xs[i, b])
 *
 * One dot instruction yields a partial sum for each of four output rows in its four lanes: no horizontal sum
 * per column, and the f32 step runs once per four columns. The tiles (2 token rows, then the lone row of
 * decode) read both groups of a pair per activation splat: one splat load per 16 weight bytes instead of per
 * 8, which was what held the decode tile back (docs/engine-speed.md Q11–Q12: ~20% faster, the same sums). Activations are stored widened to i16 (8-bit
 * values, 16-bit storage), so a pair of them is one i32 splat; products fit easily (|xq·wq| ≤ 127², 16 of
 * them per lane per block). f16 scales become f32 in two instructions: their bits shifted left by 13 are an
 * f32 2^112 times too small (scales are never negative; subnormal halves convert exactly too).
 *
 * The tile, the driver and the f32 step are shared with the relaxed module's kernels: a `Q8DotScheme` supplies
 * the pass over a block's weights and the quantizer's store (`widenDotScheme` here; q8-dot-codegen.ts's relaxed
 * integer dot on the "q8x4 by 4" layout, with the same integer sums, for the relaxed module).
 */
// biome-ignore-all format: instruction sequences read like assembly, one logical step per line
import { Q8X4_BLOCK_BYTES, Q8X4_PAIR, Q8X4_ROWS } from '../q8x4-pack.ts';
import { Q8_BLOCK } from '../quantize.ts';
import {
  type Code, encodeULeb128, F32, FunctionBuilder, type FunctionDef, type FunctionRef, I32, type Local, type ModuleBuilder, op, V128, whileLoop,
} from './assembler.ts';
import { get, increment, set } from './codegen-helpers.ts';

const simd = (opcode: number, ...imm: number[]): Code => [0xfd, ...encodeULeb128(opcode), ...imm];
/** The integer, rounding and conversion SIMD instructions only these kernels use (opcodes: the SIMD proposal's table). */
const iop = {
  i16x8NarrowI32x4S: simd(0x85),
  i32x4DotI16x8S: simd(0xba),
  i32x4Add: simd(0xae),
  i32x4Shl: simd(0xab),
  i32x4TruncSatF32x4S: simd(0xf8),
  f32x4Nearest: simd(0x6a),
  f32x4Abs: simd(0xe0),
  f32x4Max: simd(0xe9),
  v128Load16x4U: (offset: number): Code => simd(0x04, 1, ...encodeULeb128(offset)),
  f32Max: [0x97],
  f32Div: [0x95],
  f32Eq: [0x5b],
};
/** 2^112 as f32: the factor that turns f16 bits shifted into f32 position into the f16's value */
const F16_TO_F32_FACTOR = 2 ** 112;
/** Weight bytes of one group's block (its f16 scales follow them). */
const BLOCK_WEIGHT_BYTES = Q8X4_ROWS * Q8_BLOCK;

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

/** locals[i] = base + i*stride (a tile's row pointers) */
const strided = (locals: Local[], base: Local, stride: Local): Code =>
  locals.flatMap((l, i) => (i === 0 ? [...get(base), ...set(l)] : [...get(locals[i - 1]!), ...get(stride), ...op.i32Add, ...set(l)]));

/** Declares the locals a quantizer's store needs and returns the store of one block (`quantized(v)`: i32x4 of q). */
export type ActivationStore = (fn: FunctionBuilder, xq: Local, vecs: Local[], quantized: (v: Local) => Code) => Code;

/** i16 values: 4 × (two i32x4 narrowed to one i16x8), 64 bytes per block of 32 (the widening tile's splat pairs). */
const storeI16: ActivationStore = (_fn, xq, vecs, quantized) =>
  range(4).flatMap((p) => [
    ...get(xq), ...quantized(vecs[2 * p]!), ...quantized(vecs[2 * p + 1]!), ...iop.i16x8NarrowI32x4S, ...op.v128Store(p * 16),
  ]);

/**
 * quantize_q8_act(xq, x, rows, inDim): per block of 32 floats, scale = max|x|/127, inv = 1/scale (0 for an
 * all-zero block), q = nearest(x·inv), stored by `store` (64 bytes per block; i16 values by default). Same
 * f32 steps as reference/matmul-q8.ts. The scales follow all rows' values: at xq + rows·inDim·2.
 */
export function quantizeActivationsQ8(store: ActivationStore = storeI16): FunctionDef {
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
    ...store(fn, xq, vecs, quantized),
    ...increment(x, op.i32Const(Q8_BLOCK * 4)),
    ...increment(xq, op.i32Const(Q8_BLOCK * 2)),
    ...increment(sp, op.i32Const(4)),
  ];
  return fn.build([
    // scales follow the values: sp = xq + rows*inDim*2; end = x + rows*inDim*4
    ...get(rows), ...get(inDim), ...op.i32Mul, ...set(end),
    ...get(xq), ...get(end), ...op.i32Const(1), ...op.i32Shl, ...op.i32Add, ...set(sp),
    ...get(x), ...get(end), ...op.i32Const(2), ...op.i32Shl, ...op.i32Add, ...set(end),
    ...whileLoop([...get(x), ...get(end), ...op.i32LtU], block),
  ]);
}

/**
 * Token rows per tile, in the order the driver runs them: 2 over pairs of token rows (prefill, batches), then
 * the last odd row (decode), both over a pair of groups (8 columns). A 4-row tile over one group (every other
 * block) ran 4–15% slower at 4–8 rows, and 2 × 8 ran level with or slightly faster than the old 4 × 4 on
 * contiguous blocks at 4–32 rows (docs/engine-speed.md Q12); 4 × 8 would need 16 accumulators (spills).
 */
const TILE_ROWS = [2, 1];
/** Pairs per pass of the widening tile's inner loop (4 passes per block). */
const PASS_PAIRS = 4;
/** Bytes from one block of a 4-row group to its next: the pair's other group's block lies between. */
const PAIR_BLOCK_BYTES = Q8X4_PAIR * Q8X4_BLOCK_BYTES;

/** What a tile's pass reads and accumulates into: the pointers it advances, the sums it adds to. */
export interface TileRegisters {
  /** token rows and groups of the tile */
  R: number;
  H: number;
  /** each group's weight pointer (the pass reads at offsets from them; the tile advances them) */
  wg: Local[];
  /** each token row's activation pointer */
  xRows: Local[];
  /** [r*H + h]: the 4 columns' integer block sums, zeroed per block */
  isum: Local[];
}

/** One pass of a tile's inner loop and how far it moves the group and row pointers. */
export interface TilePass {
  /** runs once before the block loop (loop-invariant constants the pass reads) */
  setup: Code;
  code: Code;
  weightBytes: number;
  activationBytes: number;
}

/**
 * The integer products a tile runs: what its passes do with a block's 128 weight bytes, and the quantizer
 * that writes the activations they read. `declare` runs where the tile declares its per-pass vector locals
 * (their order is part of the emitted bytes) and returns the pass builder.
 */
export interface Q8DotScheme {
  /** tile function names: `${tileName}_${R}x8` */
  tileName: string;
  declare(fn: FunctionBuilder, R: number, H: number): (t: TileRegisters) => TilePass;
  /** activation bytes a row pointer skips after a block's passes */
  blockActivationSkip: number;
  quantizer(): FunctionDef;
}

/**
 * The widening dot (no relaxed SIMD; layout q8x4): per 8 weight bytes of a group, `v128.load8x8_s` +
 * `i32x4.dot_i16x8_s` with a splat of two i16 activations + `i32x4.add`.
 */
export const widenDotScheme: Q8DotScheme = {
  tileName: 'q8_int_tile',
  blockActivationSkip: 0,
  quantizer: () => quantizeActivationsQ8(),
  declare(fn, R, H) {
    const wv = fn.localArray('w', H, V128);
    const xv = fn.local('xPair', V128);
    // The 16 pair products of a block run as a loop of 4 passes of 4 pairs: fully unrolled, V8 schedules every
    // load of the block first and spills the widened weights to the stack (measured: half the speed).
    return ({ wg, xRows, isum }) => {
      const code: Code = [];
      for (const u of range(PASS_PAIRS)) {
        for (const h of range(H)) code.push(...get(wg[h]!), ...op.v128Load8x8S(u * 8), ...set(wv[h]!));
        for (const r of range(R)) {
          code.push(...get(xRows[r]!), ...op.v128Load32Splat(u * 4), ...set(xv));
          for (const h of range(H)) {
            const s = isum[r * H + h]!;
            code.push(...get(wv[h]!), ...get(xv), ...iop.i32x4DotI16x8S, ...get(s), ...iop.i32x4Add, ...set(s));
          }
        }
      }
      return { setup: [], code, weightBytes: PASS_PAIRS * 8, activationBytes: PASS_PAIRS * 4 };
    };
  },
};

/**
 * The tile: out[i..i+R, j..j+8) for the corner pointers the driver passes, over all blocks of a pair of groups
 * of 4 weight rows, whose blocks alternate (`cols` < 8 only where the matrix ends inside the pair). Each
 * activation splat serves 8 columns: one splat load per 16 weight bytes instead of per 8, which was what
 * held the decode tile back (docs/engine-speed.md Q11–Q12), and the weights are still one sequential stream.
 *
 * One stream per tile matters: two streams 2.4 KB apart ran at a third of the speed from DRAM (Q2); the
 * prefetcher follows one.
 */
function q8IntTile(R: number, scheme: Q8DotScheme): FunctionDef {
  const H = Q8X4_PAIR;
  const fn = new FunctionBuilder(`${scheme.tileName}_${R}x${4 * H}`, false);
  const xp = fn.param('xp', I32); // quantized activations of token row i
  const xsp = fn.param('xsp', I32); // activation block scales of row i
  const wp = fn.param('wp', I32); // the first block of the tile's group (of the pair's first group when H = 2)
  const outp = fn.param('outp', I32); // out[i, j]
  const xRowBytes = fn.param('xRowBytes', I32); // inDim*2
  const xsRowBytes = fn.param('xsRowBytes', I32); // numBlocks*4
  const outRowBytes = fn.param('outRowBytes', I32); // outDim*4
  const numBlocks = fn.param('numBlocks', I32);
  const cols = fn.param('cols', I32); // valid columns (4H unless the matrix ends inside the tile)
  const wEnd = fn.local('wEnd', I32); // wp after the last block (the loop ends on it: no block counter)
  const passEnd = fn.local('passEnd', I32); // wp after a block's last pass
  const xRows = fn.localArray('xRow', R, I32);
  const xsRows = fn.localArray('xsRow', R, I32);
  // each group of the pair has its own pointer: V8 turns every distinct load offset into a loop-invariant base
  // register (memory start + offset); one pointer per group keeps the offsets to 0..24 (and the splats' 0..12),
  // where one pointer with the second group at +136 had 4 more bases than registers and reloaded them per pass
  const wg = [wp, ...range(H - 1).map((h) => fn.local(`wpGroup${h + 1}`, I32))];
  // one integer chain per row and group: a pair of groups gives even a lone row two chains in flight
  const isum = fn.localArray('isum', R * H, V128); // [r*H + h]: 4 columns' block sums
  const acc = fn.localArray('acc', R * H, V128); // [r*H + h]: out[i+r, j+4h .. j+4h+3]
  const passOf = scheme.declare(fn, R, H);
  const wScales = fn.local('wScales', V128);
  const xScale = fn.localArray('xScale', R, V128);
  const factor = fn.local('f16Factor', V128);

  const { setup, code: pass, weightBytes, activationBytes } = passOf({ R, H, wg, xRows, isum });
  // the loop ends on the first group's pointer (no pass counter to keep in a register)
  pass.push(
    ...xRows.flatMap((x) => increment(x, op.i32Const(activationBytes))),
    ...wg.flatMap((w) => increment(w, op.i32Const(weightBytes))),
  );
  const blockBody: Code = [
    ...isum.flatMap((s) => [...op.v128Zero, ...set(s)]),
    ...get(wp), ...op.i32Const(BLOCK_WEIGHT_BYTES), ...op.i32Add, ...set(passEnd),
    ...whileLoop([...get(wp), ...get(passEnd), ...op.i32LtU], pass),
    // the row's activation block scale, splat once for both groups
    ...range(R).flatMap((r) => [...get(xsRows[r]!), ...op.f32Load(), ...op.f32x4Splat, ...set(xScale[r]!)]),
  ];
  for (const h of range(H)) {
    // f32 step: the group's 4 weight scales (f16 → f32, right after its 128 weight bytes) times the row's
    // activation scale, times the 4 columns' sums
    blockBody.push(
      ...get(wg[h]!), ...iop.v128Load16x4U(0), ...op.i32Const(13), ...iop.i32x4Shl, ...get(factor), ...op.f32x4Mul, ...set(wScales),
    );
    for (const r of range(R)) {
      const a = acc[r * H + h]!;
      blockBody.push(
        ...get(isum[r * H + h]!), ...op.f32x4ConvertI32x4S,
        ...get(wScales), ...get(xScale[r]!), ...op.f32x4Mul, ...op.f32x4Mul,
        ...get(a), ...op.f32x4Add, ...set(a),
      );
    }
  }
  blockBody.push(
    ...xsRows.flatMap((x) => increment(x, op.i32Const(4))),
    ...wg.flatMap((w) => increment(w, op.i32Const(PAIR_BLOCK_BYTES - BLOCK_WEIGHT_BYTES))),
  );
  if (scheme.blockActivationSkip > 0) blockBody.push(...xRows.flatMap((x) => increment(x, op.i32Const(scheme.blockActivationSkip))));

  const outRow = fn.local('outRow', I32);
  const store: Code = [...get(outp), ...set(outRow)];
  for (const r of range(R)) {
    // column c only when c < cols: block { br_if (cols <= c) ... } per column
    for (const c of range(4 * H)) {
      store.push(
        ...op.block, ...get(cols), ...op.i32Const(c), ...op.i32LeU, ...op.brIf(0),
        ...get(outRow), ...get(acc[r * H + (c >> 2)]!), ...op.f32x4ExtractLane(c & 3), ...op.f32Store(c * 4), ...op.end,
      );
    }
    if (r < R - 1) store.push(...increment(outRow, get(outRowBytes)));
  }
  return fn.build([
    ...op.f32Const(F16_TO_F32_FACTOR), ...op.f32x4Splat, ...set(factor),
    ...wg.slice(1).flatMap((w, h) => [...get(wp), ...op.i32Const((h + 1) * Q8X4_BLOCK_BYTES), ...op.i32Add, ...set(w)]),
    ...strided(xRows, xp, xRowBytes),
    ...strided(xsRows, xsp, xsRowBytes),
    ...get(wp), ...get(numBlocks), ...op.i32Const(PAIR_BLOCK_BYTES), ...op.i32Mul, ...op.i32Add, ...set(wEnd),
    ...setup,
    ...whileLoop([...get(wp), ...get(wEnd), ...op.i32LtU], blockBody),
    ...store,
  ]);
}

/** A tile function, the token rows and the weight columns one call covers. */
interface TileRef {
  fn: FunctionRef;
  rows: number;
  columns: number;
}

/**
 * matmul_q8_int(out, xq, w, scales, rows, inDim, outDim, j0, j1, panel): columns [j0, j1) (j0 and panel
 * multiples of 8) in panels of `panel` weight rows; inside a panel, 2-row tiles over one pair of groups (8
 * columns) at a time, then the last token row over each pair. `scales`
 * is unused (the scales are inside the packed blocks): the argument keeps the other matmul kernels' ABI.
 */
function q8IntDriver(tiles: TileRef[]): FunctionDef {
  const fn = new FunctionBuilder('matmul_q8_int', true);
  const out = fn.param('out', I32);
  const xq = fn.param('xq', I32);
  const w = fn.param('w', I32);
  fn.param('scales', I32);
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
  const xScales = fn.local('xScales', I32); // xq + rows*inDim*2
  const lt = (a: Local, b: Local): Code => [...get(a), ...get(b), ...op.i32LtU];
  const fits = (a: Local, step: number, b: Local): Code => [...get(a), ...op.i32Const(step), ...op.i32Add, ...get(b), ...op.i32LeU];
  const tileArgs = (columns: number): Code => [
    ...get(xq), ...get(i), ...get(inDim), ...op.i32Mul, ...op.i32Const(1), ...op.i32Shl, ...op.i32Add, // xp
    ...get(xScales), ...get(i), ...get(blocks), ...op.i32Mul, ...op.i32Const(2), ...op.i32Shl, ...op.i32Add, // xsp
    // wp = w + (j/8)·blocks·272 + ((j/4) mod 2)·136: the group's first block inside its pair
    ...get(w), ...get(j), ...op.i32Const(3), ...op.i32ShrU, ...get(blocks), ...op.i32Mul, ...op.i32Const(PAIR_BLOCK_BYTES), ...op.i32Mul, ...op.i32Add,
    ...get(j), ...op.i32Const(2), ...op.i32ShrU, ...op.i32Const(1), ...op.i32And, ...op.i32Const(Q8X4_BLOCK_BYTES), ...op.i32Mul, ...op.i32Add,
    ...get(out), ...get(i), ...get(outDim), ...op.i32Mul, ...get(j), ...op.i32Add, ...op.i32Const(2), ...op.i32Shl, ...op.i32Add, // outp
    ...get(inDim), ...op.i32Const(1), ...op.i32Shl, // xRowBytes
    ...get(blocks), ...op.i32Const(2), ...op.i32Shl, // xsRowBytes
    ...get(outDim), ...op.i32Const(2), ...op.i32Shl, // outRowBytes
    ...get(blocks),
    // cols = min(columns, outDim - j)
    ...op.i32Const(columns), ...get(outDim), ...get(j), ...op.i32Sub, ...get(outDim), ...get(j), ...op.i32Sub, ...op.i32Const(columns), ...op.i32GtU, ...op.select,
  ];
  /** token rows [i, i + step) over every group (or pair of groups) of the panel, while `step` more rows remain */
  const rowTiles = (tile: TileRef, step: number): Code =>
    whileLoop(fits(i, step, rows), [
      ...get(jp), ...set(j),
      ...whileLoop(lt(j, jEnd), [...tileArgs(tile.columns), ...op.call(tile.fn), ...increment(j, op.i32Const(tile.columns))]),
      ...increment(i, op.i32Const(step)),
    ]);
  const panelBody: Code = [
    // panelEnd = min(panelStart + panel, j1)
    ...get(jp), ...get(panel), ...op.i32Add, ...get(j1), ...get(jp), ...get(panel), ...op.i32Add, ...get(j1), ...op.i32LtU, ...op.select, ...set(jEnd),
    ...op.i32Const(0), ...set(i),
    ...tiles.flatMap((tile) => rowTiles(tile, tile.rows)),
    ...increment(jp, get(panel)),
  ];
  return fn.build([
    ...get(inDim), ...op.i32Const(5), ...op.i32ShrU, ...set(blocks),
    ...get(xq), ...get(rows), ...get(inDim), ...op.i32Mul, ...op.i32Const(1), ...op.i32Shl, ...op.i32Add, ...set(xScales),
    ...get(j0), ...set(jp),
    ...whileLoop(lt(jp, j1), panelBody),
  ]);
}

/**
 * Adds the integer q8 tiles to the module and returns its two exported kernels, matmul_q8_int (the driver,
 * which calls the tiles) and quantize_q8_act, for the caller to add after them.
 */
export function q8IntKernels(module: ModuleBuilder, scheme: Q8DotScheme = widenDotScheme): FunctionDef[] {
  const tiles = TILE_ROWS.map((R) => ({ fn: module.add(q8IntTile(R, scheme)), rows: R, columns: 4 * Q8X4_PAIR }));
  return [q8IntDriver(tiles), scheme.quantizer()];
}
