/**
 * A tiny WebAssembly assembler: enough of the binary format to emit our few kernels from TypeScript at
 * startup, with no compiler and no committed .wasm blob to keep in sync with its source.
 *
 * Systems analogy: a packet builder (like scapy). The binary format is a sequence of length-prefixed
 * sections; each instruction is an opcode byte (SIMD ones behind the 0xFD prefix) plus LEB128 immediates.
 *
 *   module   = "\0asm" 01 00 00 00  section*
 *   section  = id:u8  size:leb  payload
 *   we emit  : type(1)  import(2, the shared memory "env.memory")  function(3)  export(7)  code(10)
 *              [+ custom "name" section (0) with function and local names, only for the .wat listing]
 *
 * Generators never write a local's or a function's index by hand: `FunctionBuilder.param/local` hand out
 * named `Local` handles in declaration order, and `ModuleBuilder.add` returns a `FunctionRef` to `call`.
 * Instructions are plain number arrays so generators can splice them with the spread operator.
 * Reference: https://webassembly.github.io/spec/core/binary/ (and the SIMD proposal's opcode table).
 */

export type Code = number[];
export const I32 = 0x7f;
export const F32 = 0x7d;
export const V128 = 0x7b;
export const I64 = 0x7e;
export const F64 = 0x7c;
export type ValType = typeof I32 | typeof F32 | typeof V128 | typeof I64 | typeof F64;

/** Unsigned LEB128: 7 bits per byte, low bits first, high bit set on every byte but the last (u32 range). */
export function encodeULeb128(n: number): Code {
  const out: Code = [];
  let v = n >>> 0;
  do {
    let byte = v & 0x7f;
    v >>>= 7;
    if (v !== 0) byte |= 0x80;
    out.push(byte);
  } while (v !== 0);
  return out;
}

/** Signed LEB128 (two's complement, i32 range): stops once the rest is all sign bits, as bit 6 of the last byte. */
export function encodeSLeb128(n: number): Code {
  const out: Code = [];
  let v = n | 0;
  for (;;) {
    const byte = v & 0x7f;
    v >>= 7;
    const done = (v === 0 && (byte & 0x40) === 0) || (v === -1 && (byte & 0x40) !== 0);
    out.push(done ? byte : byte | 0x80);
    if (done) return out;
  }
}

function utf8(s: string): Code {
  const bytes = [...new TextEncoder().encode(s)];
  return [...encodeULeb128(bytes.length), ...bytes];
}

function vec(items: Code[]): Code {
  return [...encodeULeb128(items.length), ...items.flat()];
}

/** A parameter or local of one function: its index is handed out by FunctionBuilder, never written by hand. */
export interface Local {
  readonly index: number;
  readonly name: string;
  readonly type: ValType;
}

/** A function of the module, for `op.call`: its index is handed out by ModuleBuilder.add. */
export interface FunctionRef {
  readonly index: number;
  readonly name: string;
}

/** Instructions, named like the text format (`local.get` → op.localGet). Memory offsets are in bytes. */
const simd = (opcode: number, ...imm: number[]): Code => [0xfd, ...encodeULeb128(opcode), ...imm];
export const op = {
  localGet: (l: Local): Code => [0x20, ...encodeULeb128(l.index)],
  localSet: (l: Local): Code => [0x21, ...encodeULeb128(l.index)],
  localTee: (l: Local): Code => [0x22, ...encodeULeb128(l.index)],
  i32Const: (v: number): Code => [0x41, ...encodeSLeb128(v)],
  f32Const: (v: number): Code => [0x43, ...new Uint8Array(Float32Array.of(v).buffer)],
  /** The exact bits of the JS number v (a double, as a C compiler reads the same literal). */
  f64Const: (v: number): Code => [0x44, ...new Uint8Array(Float64Array.of(v).buffer)],
  i32Add: [0x6a],
  i32Sub: [0x6b],
  i32Mul: [0x6c],
  i32Shl: [0x74],
  i32ShrU: [0x76],
  i32And: [0x71],
  select: [0x1b],
  i32LtU: [0x49],
  i32LeU: [0x4d],
  i32GtU: [0x4b],
  i32GeU: [0x4f],
  i32Eqz: [0x45],
  i32Eq: [0x46],
  i32GeS: [0x4e],
  i32Or: [0x72],
  i32WrapI64: [0xa7],
  i32TruncF64S: [0xaa],
  i64ExtendI32U: [0xad],
  i64Const: (v: number): Code => [0x42, ...encodeSLeb128(v)],
  i64Shl: [0x86],
  i64ShrU: [0x88],
  i64ReinterpretF64: [0xbd],
  f64ReinterpretI64: [0xbf],
  f32Eq: [0x5b],
  f32Gt: [0x5e],
  f32Add: [0x92],
  f32Sub: [0x93],
  f32Mul: [0x94],
  f64Eq: [0x61],
  f64Ne: [0x62],
  f64Lt: [0x63],
  f64Gt: [0x64],
  f64Add: [0xa0],
  f64Sub: [0xa1],
  f64Mul: [0xa2],
  f64Div: [0xa3],
  f64Neg: [0x9a],
  f64Sqrt: [0x9f],
  f64ConvertI32S: [0xb7],
  f64PromoteF32: [0xbb],
  f32DemoteF64: [0xb6],
  f32Load: (offset = 0): Code => [0x2a, 2, ...encodeULeb128(offset)],
  f32Store: (offset = 0): Code => [0x38, 2, ...encodeULeb128(offset)],
  f64Load: (offset = 0): Code => [0x2b, 3, ...encodeULeb128(offset)],
  f64Store: (offset = 0): Code => [0x39, 3, ...encodeULeb128(offset)],
  i32Load: (offset = 0): Code => [0x28, 2, ...encodeULeb128(offset)],
  i32Load8S: (offset = 0): Code => [0x2c, 0, ...encodeULeb128(offset)],
  f32ConvertI32S: [0xb2],
  call: (f: FunctionRef): Code => [0x10, ...encodeULeb128(f.index)],
  return: [0x0f],
  /** memory.copy (bulk memory): pops dst, src, byte count; overlapping ranges are copied like memmove. */
  memoryCopy: [0xfc, ...encodeULeb128(10), 0x00, 0x00],
  /** `if` with no result: pops an i32, runs up to `else`/`end` when it is non-zero. */
  if: [0x04, 0x40],
  else: [0x05],
  block: [0x02, 0x40],
  /** A block whose value (its last result, or a `br` out of it) is one f64. */
  blockF64: [0x02, 0x7c],
  loop: [0x03, 0x40],
  br: (depth: number): Code => [0x0c, ...encodeULeb128(depth)],
  brIf: (depth: number): Code => [0x0d, ...encodeULeb128(depth)],
  end: [0x0b],
  // SIMD (alignment hint 0: our rows are only 4-byte aligned, which wasm allows at full speed on x86).
  v128Load: (offset = 0): Code => simd(0x00, 0, ...encodeULeb128(offset)),
  v128Load8x8S: (offset = 0): Code => simd(0x01, 0, ...encodeULeb128(offset)),
  v128Store: (offset = 0): Code => simd(0x0b, 0, ...encodeULeb128(offset)),
  v128Load32Splat: (offset = 0): Code => simd(0x09, 0, ...encodeULeb128(offset)),
  v128Zero: simd(0x0c, ...new Array<number>(16).fill(0)),
  f32x4Splat: simd(0x13),
  f32x4ExtractLane: (lane: number): Code => simd(0x1f, lane),
  v128Load64Zero: (offset = 0): Code => simd(0x5d, 0, ...encodeULeb128(offset)),
  v128Store64Lane: (lane: number, offset = 0): Code => simd(0x5b, 0, ...encodeULeb128(offset), lane),
  v128And: simd(0x4e),
  v128Bitselect: simd(0x52),
  i32x4Splat: simd(0x11),
  i32x4ExtractLane: (lane: number): Code => simd(0x1b, lane),
  i32x4ReplaceLane: (lane: number): Code => simd(0x1c, lane),
  i32x4Add: simd(0xae),
  f32x4Gt: simd(0x44),
  i64x2Splat: simd(0x12),
  i64x2AllTrue: simd(0xc3),
  i64x2ExtendLowI32x4S: simd(0xc7),
  i64x2Shl: simd(0xcb),
  i64x2Add: simd(0xce),
  i32x4TruncSatF64x2SZero: simd(0xfc),
  f64x2Splat: simd(0x14),
  f64x2Ne: simd(0x48),
  f64x2Lt: simd(0x49),
  f64x2Ge: simd(0x4c),
  f64x2Abs: simd(0xec),
  f64x2Neg: simd(0xed),
  f64x2Add: simd(0xf0),
  f64x2Sub: simd(0xf1),
  f64x2Mul: simd(0xf2),
  f64x2Div: simd(0xf3),
  f64x2Trunc: simd(0x7a),
  f64x2PromoteLowF32x4: simd(0x5f),
  f32x4DemoteF64x2Zero: simd(0x5e),
  f32x4Add: simd(0xe4),
  f32x4Sub: simd(0xe5),
  f32x4Mul: simd(0xe6),
  i32x4ExtendLowI16x8S: simd(0xa7),
  i32x4ExtendHighI16x8S: simd(0xa8),
  f32x4ConvertI32x4S: simd(0xfa),
  /** Relaxed SIMD fused multiply-add a*b+c (needs --experimental-wasm-relaxed-simd on Node 20). */
  f32x4RelaxedMadd: simd(0x105),
};

/** `while (cond) { body }` as block/loop: cond is evaluated before each pass. */
export function whileLoop(cond: Code, body: Code): Code {
  return [
    ...op.block,
    ...op.loop,
    ...cond,
    ...op.i32Eqz,
    ...op.brIf(1),
    ...body,
    ...op.br(0),
    ...op.end,
    ...op.end,
  ];
}

export interface FunctionDef {
  name: string;
  exported: boolean;
  params: ValType[];
  results: ValType[];
  locals: ValType[]; // extra locals after the params
  /** Names of the params, then of the locals, in index order (for the name section). */
  localNames: string[];
  body: Code;
}

/**
 * Declares one function's params and locals by name and hands out their indices in order (params first,
 * as the binary format requires), like a register allocator that never reuses a register.
 */
export class FunctionBuilder {
  private readonly params: Local[] = [];
  private readonly locals: Local[] = [];

  constructor(
    readonly name: string,
    readonly exported: boolean,
  ) {}

  param(name: string, type: ValType): Local {
    if (this.locals.length > 0) throw new Error(`${this.name}: param "${name}" declared after a local`);
    return this.declare(this.params, name, type);
  }

  local(name: string, type: ValType): Local {
    return this.declare(this.locals, name, type);
  }

  /** n locals named name0, name1, ... (an unrolled tile's accumulators, row pointers, ...). */
  localArray(name: string, n: number, type: ValType): Local[] {
    return Array.from({ length: n }, (_, i) => this.local(`${name}${i}`, type));
  }

  /** The function's definition; `results` are the types it returns (none for the kernels, which write memory). */
  build(body: Code, results: ValType[] = []): FunctionDef {
    return {
      name: this.name,
      exported: this.exported,
      params: this.params.map((l) => l.type),
      results,
      locals: this.locals.map((l) => l.type),
      localNames: [...this.params, ...this.locals].map((l) => l.name),
      body,
    };
  }

  private declare(list: Local[], name: string, type: ValType): Local {
    const all = [...this.params, ...this.locals];
    if (all.some((l) => l.name === name)) throw new Error(`${this.name}: local "${name}" declared twice`);
    const local = { index: all.length, name, type };
    list.push(local);
    return local;
  }
}

/** The module's functions in index order; `add` returns the reference other functions `call`. */
export class ModuleBuilder {
  readonly functions: FunctionDef[] = [];

  add(f: FunctionDef): FunctionRef {
    this.functions.push(f);
    return { index: this.functions.length - 1, name: f.name };
  }
}

export interface MemoryLimits {
  minPages: number;
  maxPages: number;
  shared: boolean;
}

/**
 * A module importing one memory as "env.memory" (shared when `shared`), with the given functions in order
 * (there are no imported functions, so function i has index i). `names` appends the custom "name" section
 * (function and local names) that disassemblers print; the module the kernels run is built without it.
 */
export function assembleModule(
  functions: FunctionDef[],
  memory: MemoryLimits,
  options: { names?: boolean } = {},
): Uint8Array {
  const section = (id: number, payload: Code): Code => [id, ...encodeULeb128(payload.length), ...payload];
  const types = functions.map((f) => [
    0x60,
    ...vec(f.params.map((t) => [t])),
    ...vec(f.results.map((t) => [t])),
  ]);
  const limits = [
    memory.shared ? 0x03 : 0x01,
    ...encodeULeb128(memory.minPages),
    ...encodeULeb128(memory.maxPages),
  ];
  const imports = vec([[...utf8('env'), ...utf8('memory'), 0x02, ...limits]]);
  const funcs = vec(functions.map((_, i) => encodeULeb128(i)));
  const exports = vec(
    functions.flatMap((f, i) => (f.exported ? [[...utf8(f.name), 0x00, ...encodeULeb128(i)]] : [])),
  );
  const bodies = functions.map((f) => {
    const locals = vec(f.locals.map((t) => [1, t]));
    const body = [...locals, ...f.body, ...op.end];
    return [...encodeULeb128(body.length), ...body];
  });
  return Uint8Array.from([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...section(1, vec(types)),
    ...section(2, imports),
    ...section(3, funcs),
    ...section(7, exports),
    ...section(10, vec(bodies)),
    ...(options.names ? section(0, nameSection(functions)) : []),
  ]);
}

/** Custom section "name": subsection 1 = function names, subsection 2 = local names per function. */
function nameSection(functions: FunctionDef[]): Code {
  const subsection = (id: number, payload: Code): Code => [id, ...encodeULeb128(payload.length), ...payload];
  const functionNames = vec(functions.map((f, i) => [...encodeULeb128(i), ...utf8(f.name)]));
  const localNames = vec(
    functions.map((f, i) => [
      ...encodeULeb128(i),
      ...vec(f.localNames.map((name, l) => [...encodeULeb128(l), ...utf8(name)])),
    ]),
  );
  return [...utf8('name'), ...subsection(1, functionNames), ...subsection(2, localNames)];
}
