/**
 * The packed q8_0 layout (q8x4-pack.ts): what it stands for (unpacked weights within half a step of the
 * originals, f16 scales), where each byte goes (the interleave the kernel's lanes rely on), and its size.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { f16ToF32, f32ToF16Bits } from '../checkpoint/dtypes.ts';
import { packQ8x4, Q8X4_BLOCK_BYTES, q8x4Bytes, unpackQ8x4 } from './q8x4-pack.ts';

function values(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.sin(i * 12.9898 + seed) * (i % 7 === 0 ? 3 : 0.05);
  return out;
}

describe('packQ8x4', () => {
  it('round-trips every weight to within half a step of its f16 block scale', () => {
    const [outDim, inDim] = [7, 96]; // 7 rows: the second group has a zero-padded fourth row
    const w = values(outDim * inDim, 3);
    w.fill(0, inDim, inDim + 32); // row 1, block 0: all zero
    const packed = new Uint8Array(q8x4Bytes(outDim, inDim));
    packQ8x4(w, outDim, inDim, packed);
    const t = unpackQ8x4(packed, outDim, inDim);
    for (let i = 0; i < w.length; i++) {
      const scale = t.scales[Math.floor(i / 32)]!;
      assert.ok(Math.abs(t.q[i]! * scale - w[i]!) <= scale / 2 + 1e-7, `weight ${i}`);
      assert.ok(Math.abs(t.q[i]!) <= 127);
    }
    assert.equal(t.scales[3], 0, 'an all-zero block has scale 0');
    for (const s of t.scales)
      assert.equal(f16ToF32(Uint16Array.of(f32ToF16Bits(s)))[0], s, 'scales are f16 values');
  });

  it('interleaves 4 rows two weights at a time, each block followed by its 4 f16 scales', () => {
    const [outDim, inDim] = [4, 32];
    const w = new Float32Array(outDim * inDim);
    for (let j = 0; j < outDim; j++)
      for (let k = 0; k < inDim; k++) w[j * inDim + k] = (j + 1) * (k + 1) * (k % 2 ? 1 : -1);
    const packed = new Uint8Array(q8x4Bytes(outDim, inDim));
    packQ8x4(w, outDim, inDim, packed);
    assert.equal(packed.length, 2 * Q8X4_BLOCK_BYTES, 'a pair of groups: the second (rows 4..7) all zeros');
    assert.ok(packed.subarray(Q8X4_BLOCK_BYTES).every((v) => v === 0));
    const bytes = new Int8Array(packed.buffer);
    // byte 8p + 2c + e is weight 2p + e of row c; each row's max |w| is its weight 31, quantized to ±127
    assert.equal(bytes[15 * 8 + 2 * 3 + 1], 127, 'row 3, weight 31');
    assert.equal(bytes[0], -4, 'row 0, weight 0: -1 / (32/127) rounds to -4');
    assert.equal(bytes[2 * 2], -4, 'row 2, weight 0 (same ratio)');
    const scales = f16ToF32(new Uint16Array(packed.buffer, 128, 4));
    for (let c = 0; c < 4; c++)
      assert.ok(Math.abs(scales[c]! - (32 * (c + 1)) / 127) < 1e-3 * scales[c]!, `scale of row ${c}`);
  });

  it('alternates the blocks of a pair of 4-row groups: one stream, one activation splat per 8 rows', () => {
    const [outDim, inDim] = [12, 64]; // groups 0, 1 (a pair) and 2 (a pair with a zero group)
    const w = new Float32Array(outDim * inDim);
    for (let j = 0; j < outDim; j++) for (let k = 0; k < inDim; k++) w[j * inDim + k] = j * 100 + k + 1;
    const packed = new Uint8Array(q8x4Bytes(outDim, inDim));
    packQ8x4(w, outDim, inDim, packed);
    assert.equal(packed.length, 2 * 2 * 2 * Q8X4_BLOCK_BYTES);
    const scale = (at: number) => f16ToF32(new Uint16Array(packed.buffer.slice(at, at + 2)))[0]!;
    // block b of group g at ((g >> 1) * 2 + b) * 272 + (g & 1) * 136; its row-c scale at +128 + 2c
    const near = (a: number, b: number) => Math.abs(a - b) <= 1e-3 * b;
    assert.ok(near(scale(128), 32 / 127), 'group 0 (row 0), block 0');
    assert.ok(near(scale(136 + 128), 432 / 127), 'group 1 (row 4), block 0');
    assert.ok(near(scale(272 + 128), 64 / 127), 'group 0 (row 0), block 1');
    assert.ok(near(scale(272 + 136 + 128 + 6), 764 / 127), 'group 1 (row 7), block 1');
    assert.ok(near(scale(544 + 128), 832 / 127), 'group 2 (row 8), block 0');
    assert.ok(
      packed.subarray(544 + 136, 544 + 272).every((v) => v === 0),
      'group 3 is padding',
    );
    assert.deepEqual(
      Array.from(unpackQ8x4(packed, outDim, inDim).q.subarray(4 * inDim, 4 * inDim + 2)),
      [0, 0].map((_, k) => Math.round((401 + k) / (432 / 127))),
    );
  });

  it('by 4 (the relaxed dot layout): 4 consecutive weights of a row per 4-byte lane, the rest as by 2', () => {
    const [outDim, inDim] = [12, 64]; // a whole pair and a half one, two blocks
    const w = values(outDim * inDim, 5);
    const by2 = new Uint8Array(q8x4Bytes(outDim, inDim));
    const by4 = new Uint8Array(q8x4Bytes(outDim, inDim));
    packQ8x4(w, outDim, inDim, by2);
    packQ8x4(w, outDim, inDim, by4, 4);
    const t = unpackQ8x4(by2, outDim, inDim);
    assert.deepEqual(unpackQ8x4(by4, outDim, inDim, 4), t, 'the same numbers');
    const bytes = new Int8Array(by4.buffer);
    // every byte: block b of group g at ((g >> 1) * 2 + b) * 272 + (g & 1) * 136; weight k of row c at 16(k/4) + 4c + k%4
    for (let j = 0; j < 16; j++) {
      const [g, c] = [j >> 2, j & 3];
      for (let b = 0; b < 2; b++) {
        const base = ((g >> 1) * 2 + b) * 272 + (g & 1) * 136;
        for (let k = 0; k < 32; k++) {
          const expected = j < outDim ? t.q[j * inDim + b * 32 + k]! : 0;
          assert.equal(
            bytes[base + 16 * (k >> 2) + 4 * c + (k & 3)],
            expected,
            `row ${j}, block ${b}, weight ${k}`,
          );
        }
        // the scales: the same f16 bits at the same place
        assert.equal(
          bytes[base + 128 + 2 * c],
          new Int8Array(by2.buffer)[base + 128 + 2 * c],
          `scale of row ${j}`,
        );
        assert.equal(
          bytes[base + 129 + 2 * c],
          new Int8Array(by2.buffer)[base + 129 + 2 * c],
          `scale of row ${j}`,
        );
      }
    }
  });

  it('takes 34 bytes per 32 weights, rows padded to a multiple of 8, and refuses rows of partial blocks', () => {
    assert.equal(q8x4Bytes(8, 64), 8 * 64 * (34 / 32));
    assert.equal(q8x4Bytes(5, 64), q8x4Bytes(8, 64));
    assert.equal(q8x4Bytes(9, 64), q8x4Bytes(16, 64));
    assert.throws(() => packQ8x4(new Float32Array(40), 1, 40, new Uint8Array(64)), /whole blocks of 32/);
  });
});
