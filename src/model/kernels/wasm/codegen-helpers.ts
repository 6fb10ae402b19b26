/**
 * Instruction sequences both kernel generators use, written once. Each helper leaves exactly what its
 * comment says on the stack (or nothing, for the ones that end in a local.set).
 */
// biome-ignore-all format: instruction sequences read like assembly, one logical step per line
import { type Code, type Local, op } from './assembler.ts';

export const get = op.localGet;
export const set = op.localSet;

/** local += step (i32) */
export const increment = (l: Local, step: Code): Code => [...get(l), ...step, ...op.i32Add, ...set(l)];

/** pushes a < b (unsigned i32) */
export const lessThan = (a: Local, b: Local): Code => [...get(a), ...get(b), ...op.i32LtU];

/** pushes (count on the stack) * 4: a count of f32 (or i32) values → its size in bytes */
export const TIMES_4: Code = [...op.i32Const(2), ...op.i32Shl];

/** pushes local * 4 */
export const bytesOf = (count: Local): Code => [...get(count), ...TIMES_4];

/** pushes (row * rowLength) << log2ElementBytes: the byte offset of a row of a row-major matrix */
export const rowByteOffset = (row: Local, rowLength: Local, log2ElementBytes: number): Code => [
  ...get(row), ...get(rowLength), ...op.i32Mul, ...op.i32Const(log2ElementBytes), ...op.i32Shl,
];

/** pushes the v128 at address base + offset (+ imm bytes) */
export const loadV128 = (base: Local, offset: Local, imm = 0): Code => [...get(base), ...get(offset), ...op.i32Add, ...op.v128Load(imm)];

/** pushes the f32 sum of the 4 lanes of v: (v0 + v1) + (v2 + v3) */
export const horizontalSum = (v: Local): Code => [
  ...get(v), ...op.f32x4ExtractLane(0), ...get(v), ...op.f32x4ExtractLane(1), ...op.f32Add,
  ...get(v), ...op.f32x4ExtractLane(2), ...get(v), ...op.f32x4ExtractLane(3), ...op.f32Add, ...op.f32Add,
];
