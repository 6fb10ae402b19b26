import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  assembleModule,
  encodeSLeb128,
  encodeULeb128,
  FunctionBuilder,
  I32,
  ModuleBuilder,
  op,
  V128,
} from './assembler.ts';

/** Independent decoders (the spec's definition, in BigInt so no 32-bit shortcut hides a bug). */
function decodeULeb128(bytes: number[]): { value: number; length: number } {
  let value = 0n;
  let shift = 0n;
  for (let i = 0; i < bytes.length; i++) {
    value |= BigInt(bytes[i]! & 0x7f) << shift;
    shift += 7n;
    if ((bytes[i]! & 0x80) === 0) return { value: Number(value), length: i + 1 };
  }
  throw new Error('unterminated LEB128');
}

function decodeSLeb128(bytes: number[]): { value: number; length: number } {
  let value = 0n;
  let shift = 0n;
  for (let i = 0; i < bytes.length; i++) {
    value |= BigInt(bytes[i]! & 0x7f) << shift;
    shift += 7n;
    if ((bytes[i]! & 0x80) === 0) {
      if (bytes[i]! & 0x40) value -= 1n << shift; // sign bit of the last group set: negative
      return { value: Number(value), length: i + 1 };
    }
  }
  throw new Error('unterminated LEB128');
}

const U32_EDGES = [0, 1, 63, 64, 127, 128, 255, 256, 16383, 16384, 624485, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1];
const I32_EDGES = [0, 1, -1, 63, 64, -64, -65, 127, 128, -128, -129, 8191, 8192, -8192, -8193, -123456];
const I32_EXTREMES = [2 ** 31 - 1, -(2 ** 31)];

describe('LEB128 encoders', () => {
  it('unsigned: round-trips edge values, in the fewest bytes (ceil(bits / 7))', () => {
    for (const n of U32_EDGES) {
      const bytes = encodeULeb128(n);
      assert.deepEqual(decodeULeb128(bytes), { value: n, length: bytes.length }, `u32 ${n}`);
      const bits = n === 0 ? 1 : Math.floor(Math.log2(n)) + 1;
      assert.equal(bytes.length, Math.ceil(bits / 7), `u32 ${n} length`);
    }
  });

  it('unsigned: known encodings (the spec and Wikipedia examples)', () => {
    assert.deepEqual(encodeULeb128(0), [0x00]);
    assert.deepEqual(encodeULeb128(127), [0x7f]);
    assert.deepEqual(encodeULeb128(128), [0x80, 0x01]);
    assert.deepEqual(encodeULeb128(624485), [0xe5, 0x8e, 0x26]);
    assert.deepEqual(encodeULeb128(2 ** 32 - 1), [0xff, 0xff, 0xff, 0xff, 0x0f]);
  });

  it('signed: round-trips edge values, including the i32 extremes', () => {
    for (const n of [...I32_EDGES, ...I32_EXTREMES]) {
      const bytes = encodeSLeb128(n);
      assert.deepEqual(decodeSLeb128(bytes), { value: n, length: bytes.length }, `i32 ${n}`);
      assert.ok(bytes.length <= 5, `i32 ${n} takes at most 5 bytes`);
    }
  });

  it('signed: known encodings (63 fits one byte, 64 needs two: bit 6 is the sign)', () => {
    assert.deepEqual(encodeSLeb128(0), [0x00]);
    assert.deepEqual(encodeSLeb128(-1), [0x7f]);
    assert.deepEqual(encodeSLeb128(63), [0x3f]);
    assert.deepEqual(encodeSLeb128(64), [0xc0, 0x00]);
    assert.deepEqual(encodeSLeb128(-64), [0x40]);
    assert.deepEqual(encodeSLeb128(-65), [0xbf, 0x7f]);
    assert.deepEqual(encodeSLeb128(-123456), [0xc0, 0xbb, 0x78]);
    assert.deepEqual(encodeSLeb128(2 ** 31 - 1), [0xff, 0xff, 0xff, 0xff, 0x07]);
    assert.deepEqual(encodeSLeb128(-(2 ** 31)), [0x80, 0x80, 0x80, 0x80, 0x78]);
  });

  it('the runtime accepts every i32 encoding as an i32.const immediate', () => {
    const module = new ModuleBuilder();
    for (const n of [...I32_EDGES, ...I32_EXTREMES]) {
      const DROP = 0x1a;
      module.add(new FunctionBuilder(`const_${n}`, false).build([...op.i32Const(n), DROP]));
    }
    const bytes = assembleModule(module.functions, { minPages: 1, maxPages: 1, shared: false });
    assert.ok(WebAssembly.validate(bytes), 'module of i32.const immediates is valid');
  });
});

describe('FunctionBuilder', () => {
  it('hands out params first, then locals, in declaration order', () => {
    const fn = new FunctionBuilder('f', false);
    const a = fn.param('a', I32);
    const b = fn.param('b', I32);
    const t = fn.local('t', I32);
    const v = fn.localArray('v', 2, V128);
    assert.deepEqual([a.index, b.index, t.index, v[0]!.index, v[1]!.index], [0, 1, 2, 3, 4]);
    const def = fn.build([]);
    assert.deepEqual(def.params, [I32, I32]);
    assert.deepEqual(def.locals, [I32, V128, V128]);
    assert.deepEqual(def.localNames, ['a', 'b', 't', 'v0', 'v1']);
  });

  it('refuses a param after a local, and a name declared twice', () => {
    const fn = new FunctionBuilder('f', false);
    fn.param('a', I32);
    assert.throws(() => fn.param('a', I32), /declared twice/);
    fn.local('t', I32);
    assert.throws(() => fn.param('late', I32), /after a local/);
  });
});
