import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { ModelLoadError } from '../../../util/errors.ts';
import { f32ToF16Bits } from '../dtypes.ts';
import { arr, type GgufArray, type GgufValue, str, u32 } from './gguf-format.ts';
import { GgufFile, readGgufHeader } from './gguf-reader.ts';
import { encodeGgufHeader, writeGguf } from './gguf-writer.ts';
import { decodeTensor, encodeTensor } from './tensor-codec.ts';

const tmp = mkdtempSync(join(tmpdir(), 'gguf-file-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

function ramp(n: number, scale = 1): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37) * scale);
}

describe('GGUF writer and reader', () => {
  it('round-trips every metadata value type, nested arrays and a custom alignment', async () => {
    const nested: GgufArray = {
      type: 'array',
      itemType: 'array',
      value: [
        { type: 'array', itemType: 'uint8', value: [1, 2] },
        { type: 'array', itemType: 'string', value: ['x'] },
      ],
    };
    const metadata = new Map<string, GgufValue>([
      ['general.alignment', u32(64)],
      ['u8', { type: 'uint8', value: 255 }],
      ['i8', { type: 'int8', value: -128 }],
      ['u16', { type: 'uint16', value: 65535 }],
      ['i16', { type: 'int16', value: -32768 }],
      ['u32', u32(4294967295)],
      ['i32', { type: 'int32', value: -2147483648 }],
      ['f32', { type: 'float32', value: 0.5 }],
      ['f64', { type: 'float64', value: Math.PI }],
      ['u64', { type: 'uint64', value: 2n ** 64n - 1n }],
      ['i64', { type: 'int64', value: -(2n ** 63n) }],
      ['b', { type: 'bool', value: true }],
      ['s', str('héllo ✓')],
      ['tokens', arr('string', ['a', '', 'Ġb'])],
      ['ints', arr('int32', [-1, 0, 7])],
      ['nested', nested],
    ]);
    const file = join(tmp, 'meta.gguf');
    await writeGguf(file, {
      metadata,
      tensors: [
        { name: 'a', shape: [3], type: 'F32', data: new Float32Array([1, 2, 3]) },
        { name: 'b', shape: [2, 2], type: 'F32', data: () => new Float32Array([4, 5, 6, 7]) },
      ],
    });
    const header = readGgufHeader(file);
    assert.equal(header.version, 3);
    assert.deepEqual(header.metadata, metadata);
    assert.equal(header.alignment, 64);
    assert.equal(header.dataStart % 64, 0);
    assert.equal(
      header.tensors.get('b')!.position,
      header.dataStart + 64,
      'the second tensor starts aligned',
    );
    const gguf = GgufFile.open(file);
    assert.deepEqual([...gguf.read('a')], [1, 2, 3]);
    assert.deepEqual([...gguf.read('b')], [4, 5, 6, 7]);
    gguf.close();
  });

  it('writes the exact bytes of the GGUF v3 spec for a one-tensor file', () => {
    const { header } = encodeGgufHeader(new Map([['k', u32(7)]]), [
      { name: 't', shape: [2, 3], type: 'F16' },
    ]);
    const expected = Buffer.concat([
      Buffer.from('GGUF', 'ascii'),
      le32(3),
      le64(1), // tensors
      le64(1), // metadata entries
      le64(1),
      Buffer.from('k'),
      le32(4),
      le32(7), // "k" = uint32 7
      le64(1),
      Buffer.from('t'),
      le32(2),
      le64(3),
      le64(2), // name, n_dims, ne innermost first
      le32(1),
      le64(0), // F16, offset 0
    ]);
    const padded = Buffer.concat([
      expected,
      Buffer.alloc(Math.ceil(expected.length / 32) * 32 - expected.length),
    ]);
    assert.deepEqual(Buffer.from(header), padded);
  });

  it('reads a hand-built file: header, a Q8_0 tensor and its dequantized values', () => {
    const scale = 0.5;
    const block = Buffer.alloc(34);
    block.writeUInt16LE(f32ToF16Bits(scale), 0);
    for (let j = 0; j < 32; j++) block.writeInt8(j - 16, 2 + j);
    const head = Buffer.concat([
      Buffer.from('GGUF'),
      le32(3),
      le64(1),
      le64(1),
      le64(20),
      Buffer.from('general.architecture'),
      le32(8),
      le64(5),
      Buffer.from('llama'),
      le64(1),
      Buffer.from('q'),
      le32(1),
      le64(32),
      le32(8),
      le64(0),
    ]);
    const file = join(tmp, 'hand.gguf');
    writeFileSync(
      file,
      Buffer.concat([head, Buffer.alloc(Math.ceil(head.length / 32) * 32 - head.length), block]),
    );
    const gguf = GgufFile.open(file);
    assert.deepEqual(gguf.metadata.get('general.architecture'), str('llama'));
    assert.deepEqual(gguf.tensors.get('q')!.shape, [32]);
    assert.deepEqual(
      [...gguf.read('q')],
      Array.from({ length: 32 }, (_, j) => (j - 16) * scale),
    );
    gguf.close();
  });

  it('refuses a file that is not GGUF, and a truncated one, with ModelLoadError', async () => {
    const notGguf = join(tmp, 'not.gguf');
    writeFileSync(notGguf, Buffer.alloc(64));
    assert.throws(
      () => GgufFile.open(notGguf),
      (e: unknown) => e instanceof ModelLoadError && /GGUF/.test(e.message),
    );
    const full = join(tmp, 'full.gguf');
    await writeGguf(full, {
      metadata: {},
      tensors: [{ name: 'w', shape: [64], type: 'F32', data: ramp(64) }],
    });
    const cut = join(tmp, 'cut.gguf');
    const bytes = Buffer.from(await import('node:fs').then((fs) => fs.readFileSync(full)));
    writeFileSync(cut, bytes.subarray(0, bytes.length - 100));
    assert.throws(
      () => GgufFile.open(cut),
      (e: unknown) => e instanceof ModelLoadError && /truncated/.test(e.message),
    );
  });
});

describe('tensor codecs', () => {
  it('F32 is exact, F16 and BF16 round to their precision', () => {
    const x = ramp(96, 3);
    assert.deepEqual(decodeTensor('F32', encodeTensor('F32', x, 96), 96), x);
    const f16 = decodeTensor('F16', encodeTensor('F16', x, 96), 96);
    const bf16 = decodeTensor('BF16', encodeTensor('BF16', x, 96), 96);
    for (let i = 0; i < x.length; i++) {
      assert.ok(Math.abs(f16[i]! - x[i]!) <= Math.abs(x[i]!) * 2 ** -11 + 1e-7, `f16 ${i}`);
      assert.ok(Math.abs(bf16[i]! - x[i]!) <= Math.abs(x[i]!) * 2 ** -8, `bf16 ${i}`);
    }
  });

  it('Q8_0 follows llama.cpp: d = max|x|/127 as f16, q = round half away from zero', () => {
    const x = Float32Array.from({ length: 32 }, (_, j) => (j - 16) / 16); // max |x| = 1 → d = 1/127
    x[1] = -1.5 / 127; // exactly between -1 and -2 steps: rounds away from zero to -2
    const bytes = encodeTensor('Q8_0', x, 32);
    assert.equal(bytes.length, 34);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    assert.equal(view.getUint16(0, true), f32ToF16Bits(1 / 127));
    assert.equal(view.getInt8(2), -127); // -1.0
    assert.equal(view.getInt8(3), -2);
    assert.equal(view.getInt8(2 + 16), 0);
    const back = decodeTensor('Q8_0', bytes, 32);
    for (let j = 0; j < 32; j++) assert.ok(Math.abs(back[j]! - x[j]!) <= 0.5 / 127 + 1e-3, `value ${j}`);
  });

  it('Q8_0 of an all-zero block stores a zero scale and zeros', () => {
    const back = decodeTensor('Q8_0', encodeTensor('Q8_0', new Float32Array(64), 64), 64);
    assert.ok(back.every((v) => v === 0));
  });

  it('Q8_0 refuses rows that do not tile into 32-value blocks', () => {
    assert.throws(() => encodeTensor('Q8_0', new Float32Array(48), 48), /multiple of 32/);
  });
});

function le32(x: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(x);
  return b;
}

function le64(x: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(x));
  return b;
}
