/**
 * A tiny WebAssembly assembler: enough of the binary format to emit our few kernels from TypeScript at
 * startup, with no compiler, no wabt and no committed .wasm blob to keep in sync with its source.
 *
 * Systems analogy: a packet builder (like scapy). The binary format is a sequence of length-prefixed
 * sections; each instruction is an opcode byte (SIMD ones behind the 0xFD prefix) plus LEB128 immediates.
 *
 *   module   = "\0asm" 01 00 00 00  section*
 *   section  = id:u8  size:leb  payload
 *   we emit  : type(1)  import(2, the shared memory "env.memory")  function(3)  export(7)  code(10)
 *
 * Instructions are plain number arrays so kernel generators can splice them with the spread operator.
 * Reference: https://webassembly.github.io/spec/core/binary/ (and the SIMD proposal's opcode table).
 */

export type Code = number[];
export const I32 = 0x7f;
export const F32 = 0x7d;
export const V128 = 0x7b;
export type ValType = typeof I32 | typeof F32 | typeof V128;

export function uleb(n: number): Code {
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

export function sleb(n: number): Code {
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
  return [...uleb(bytes.length), ...bytes];
}

function vec(items: Code[]): Code {
  return [...uleb(items.length), ...items.flat()];
}

/** Instructions, named like the text format (`local.get` → op.localGet). Memory offsets are in bytes. */
const simd = (opcode: number, ...imm: number[]): Code => [0xfd, ...uleb(opcode), ...imm];
export const op = {
  localGet: (i: number): Code => [0x20, ...uleb(i)],
  localSet: (i: number): Code => [0x21, ...uleb(i)],
  localTee: (i: number): Code => [0x22, ...uleb(i)],
  i32Const: (v: number): Code => [0x41, ...sleb(v)],
  f32Const: (v: number): Code => [0x43, ...new Uint8Array(Float32Array.of(v).buffer)],
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
  f32Add: [0x92],
  f32Mul: [0x94],
  f32Load: (offset = 0): Code => [0x2a, 2, ...uleb(offset)],
  f32Store: (offset = 0): Code => [0x38, 2, ...uleb(offset)],
  i32Load: (offset = 0): Code => [0x28, 2, ...uleb(offset)],
  i32Load8S: (offset = 0): Code => [0x2c, 0, ...uleb(offset)],
  f32ConvertI32S: [0xb2],
  call: (f: number): Code => [0x10, ...uleb(f)],
  block: [0x02, 0x40],
  loop: [0x03, 0x40],
  br: (depth: number): Code => [0x0c, ...uleb(depth)],
  brIf: (depth: number): Code => [0x0d, ...uleb(depth)],
  end: [0x0b],
  // SIMD (alignment hint 0: our rows are only 4-byte aligned, which wasm allows at full speed on x86).
  v128Load: (offset = 0): Code => simd(0x00, 0, ...uleb(offset)),
  v128Load8x8S: (offset = 0): Code => simd(0x01, 0, ...uleb(offset)),
  v128Store: (offset = 0): Code => simd(0x0b, 0, ...uleb(offset)),
  v128Load32Splat: (offset = 0): Code => simd(0x09, 0, ...uleb(offset)),
  v128Zero: simd(0x0c, ...new Array<number>(16).fill(0)),
  f32x4Splat: simd(0x13),
  f32x4ExtractLane: (lane: number): Code => simd(0x1f, lane),
  f32x4Add: simd(0xe4),
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
  name: string | null; // exported under this name, or internal
  params: ValType[];
  results: ValType[];
  locals: ValType[]; // extra locals after the params
  body: Code;
}

/**
 * A module importing one memory as "env.memory" (shared when `shared`), with the given functions in order:
 * function i has index i (there are no imported functions), so kernels can `call` each other by position.
 */
export function assembleModule(
  functions: FunctionDef[],
  memory: { minPages: number; maxPages: number; shared: boolean },
): Uint8Array {
  const section = (id: number, payload: Code): Code => [id, ...uleb(payload.length), ...payload];
  const types = functions.map((f) => [
    0x60,
    ...vec(f.params.map((t) => [t])),
    ...vec(f.results.map((t) => [t])),
  ]);
  const limits = [memory.shared ? 0x03 : 0x01, ...uleb(memory.minPages), ...uleb(memory.maxPages)];
  const imports = vec([[...utf8('env'), ...utf8('memory'), 0x02, ...limits]]);
  const funcs = vec(functions.map((_, i) => uleb(i)));
  const exports = vec(
    functions.flatMap((f, i) => (f.name === null ? [] : [[...utf8(f.name), 0x00, ...uleb(i)]])),
  );
  const bodies = functions.map((f) => {
    const locals = vec(f.locals.map((t) => [1, t]));
    const body = [...locals, ...f.body, ...op.end];
    return [...uleb(body.length), ...body];
  });
  return Uint8Array.from([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...section(1, vec(types)),
    ...section(2, imports),
    ...section(3, funcs),
    ...section(7, exports),
    ...section(10, vec(bodies)),
  ]);
}
