import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { ModelLoadError } from '../../util/errors.ts';
import { defaultModelDir } from '../../util/paths.ts';
import { bf16ToF32, f16ToF32, f32ToBf16Bits, f32ToF16Bits } from './dtypes.ts';
import { readSafetensorsHeader, SafetensorsCheckpoint } from './safetensors.ts';
import { encodeSafetensors, writeSafetensors, writeShardedSafetensors } from './safetensors-writer.ts';

const tmp = mkdtempSync(join(tmpdir(), 'dhw-safetensors-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const values = Float32Array.from([1, -2, 0.5, 3.140625, -0.0078125, 0]); // exactly representable in bf16 and fp16

describe('dtype conversions', () => {
  it('converts fp16 bit patterns exactly', () => {
    const bits = Uint16Array.from([0x3c00, 0xc000, 0x7bff, 0x0001, 0x0400, 0x7c00, 0x2e66]);
    assert.deepEqual(
      [...f16ToF32(bits)],
      [1, -2, 65504, 2 ** -24, 2 ** -14, Infinity, Math.fround(0.0999755859375)],
    );
    assert.deepEqual(
      [...bits].map((b) => f32ToF16Bits(f16ToF32(Uint16Array.of(b))[0]!)),
      [...bits],
    );
    assert.equal(f32ToF16Bits(0.1), 0x2e66);
    assert.equal(f32ToF16Bits(1e6), 0x7c00);
  });

  it('rounds fp32 to bf16 to nearest even and widens exactly', () => {
    assert.equal(f32ToBf16Bits(1), 0x3f80);
    assert.equal(f32ToBf16Bits(1 + 2 ** -8), 0x3f80); // halfway, rounds to even
    assert.equal(f32ToBf16Bits(1 + 3 * 2 ** -8), 0x3f82); // halfway, rounds up to even
    assert.deepEqual([...bf16ToF32(Uint16Array.from([0x3f80, 0xc000, 0x4049]))], [1, -2, 3.140625]);
  });
});

describe('SafetensorsCheckpoint', () => {
  it('reads F32, BF16 and F16 tensors back as fp32', async () => {
    const file = join(tmp, 'dtypes', 'model.safetensors');
    mkdirSync(join(tmp, 'dtypes'));
    writeSafetensors(file, {
      a: { shape: [2, 3], data: values, dtype: 'F32' },
      b: { shape: [6], data: values, dtype: 'BF16' },
      c: { shape: [3, 2], data: values, dtype: 'F16' },
    });
    const ckpt = await SafetensorsCheckpoint.open(join(tmp, 'dtypes'));
    assert.deepEqual(ckpt.names().sort(), ['a', 'b', 'c']);
    assert.deepEqual(ckpt.info('c')!.shape, [3, 2]);
    for (const name of ['a', 'b', 'c']) assert.deepEqual([...(await ckpt.read(name))], [...values], name);
    await ckpt.close();
  });

  it('copes with tensor data at offsets that are not 4-byte aligned', async () => {
    const dir = join(tmp, 'unaligned');
    mkdirSync(dir);
    // Grow the metadata a byte at a time until the F32 tensor lands at an offset that is not a multiple of 4.
    const file = join(dir, 'model.safetensors');
    for (let pad = 0; pad < 4; pad++) {
      const bytes = encodeSafetensors(
        { odd: { shape: [1], data: Float32Array.of(7), dtype: 'BF16' }, f: { shape: [6], data: values } },
        { padHeader: false, metadata: { format: 'pt', pad: 'x'.repeat(pad) } },
      );
      writeFileSync(file, bytes);
      if ((await readSafetensorsHeader(file)).get('f')!.position % 4 !== 0) break;
    }
    assert.notEqual(
      (await readSafetensorsHeader(file)).get('f')!.position % 4,
      0,
      'test needs an unaligned tensor',
    );
    const ckpt = await SafetensorsCheckpoint.open(dir);
    assert.deepEqual([...(await ckpt.read('f'))], [...values]);
    assert.deepEqual([...(await ckpt.read('odd'))], [7]);
    await ckpt.close();
  });

  it('reads a sharded checkpoint through model.safetensors.index.json', async () => {
    const dir = join(tmp, 'sharded');
    mkdirSync(dir);
    writeShardedSafetensors(dir, {
      'model-00001-of-00002.safetensors': { x: { shape: [6], data: values } },
      'model-00002-of-00002.safetensors': { y: { shape: [2], data: Float32Array.of(4, 5), dtype: 'BF16' } },
    });
    const ckpt = await SafetensorsCheckpoint.open(dir);
    assert.equal(ckpt.files.length, 2);
    assert.deepEqual([...(await ckpt.read('y'))], [4, 5]);
    assert.deepEqual([...(await ckpt.read('x'))], [...values]);
    await ckpt.close();
  });

  it('parses the bundled model header', async () => {
    const header = await readSafetensorsHeader(join(defaultModelDir, 'model.safetensors'));
    const embed = header.get('model.embed_tokens.weight')!;
    assert.equal(embed.dtype, 'BF16');
    assert.deepEqual(embed.shape, [2048, 256]);
    assert.equal(embed.byteLength, 2048 * 256 * 2);
  });

  it('names the file and tensor of a truncated checkpoint', async () => {
    const dir = join(tmp, 'truncated');
    mkdirSync(dir);
    const bytes = encodeSafetensors({ w: { shape: [4, 4], data: new Float32Array(16) } });
    const file = join(dir, 'model.safetensors');
    writeFileSync(file, bytes.subarray(0, bytes.length - 8));
    await assert.rejects(
      SafetensorsCheckpoint.open(dir),
      (e: Error) => e instanceof ModelLoadError && e.message.includes(file) && e.message.includes('"w"'),
    );
  });

  it('rejects a file whose header length is nonsense, and a folder without weights', async () => {
    const dir = join(tmp, 'garbage');
    mkdirSync(dir);
    writeFileSync(join(dir, 'model.safetensors'), readFileSync(join(defaultModelDir, 'config.json')));
    await assert.rejects(SafetensorsCheckpoint.open(dir), /header length .* is it a safetensors file/);
    await assert.rejects(
      SafetensorsCheckpoint.open(tmp),
      /no model\.safetensors or model\.safetensors\.index\.json/,
    );
  });

  it('refuses dtypes it cannot upcast, naming the tensor', async () => {
    const dir = join(tmp, 'int');
    mkdirSync(dir);
    const header = JSON.stringify({ ids: { dtype: 'I64', shape: [1], data_offsets: [0, 8] } });
    const prefix = Buffer.alloc(8);
    prefix.writeBigUInt64LE(BigInt(header.length));
    writeFileSync(
      join(dir, 'model.safetensors'),
      Buffer.concat([prefix, Buffer.from(header), Buffer.alloc(8)]),
    );
    const ckpt = await SafetensorsCheckpoint.open(dir);
    await assert.rejects(ckpt.read('ids'), /tensor "ids" has dtype I64; supported: F32, BF16, F16/);
    await ckpt.close();
  });
});
