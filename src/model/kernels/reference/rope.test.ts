import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { dot } from './matmul.ts';
import { applyRope, ropeInverseFrequencies, ropeTables } from './rope.ts';

describe('ropeInverseFrequencies', () => {
  it('default: 1 / theta^(2i/d) in float32', () => {
    const inv = ropeInverseFrequencies({ theta: 10000, scaling: { type: 'default' } }, 8);
    const expected = [0, 2, 4, 6].map((e) => Math.fround(1 / 10000 ** (e / 8)));
    for (let i = 0; i < 4; i++) assert.ok(Math.abs(inv[i]! - expected[i]!) <= 1e-7 * expected[i]!);
  });

  it('linear divides every frequency by the factor', () => {
    const base = ropeInverseFrequencies({ theta: 10000, scaling: { type: 'default' } }, 16);
    const linear = ropeInverseFrequencies({ theta: 10000, scaling: { type: 'linear', factor: 4 } }, 16);
    for (let i = 0; i < 8; i++) assert.equal(linear[i], Math.fround(base[i]! / 4));
  });

  it('llama3 keeps high frequencies, divides low ones, blends the middle', () => {
    const rope = { theta: 500000, scaling: { type: 'default' as const } };
    const base = ropeInverseFrequencies(rope, 64);
    const scaling = {
      type: 'llama3' as const,
      factor: 8,
      lowFreqFactor: 1,
      highFreqFactor: 4,
      originalMaxPositionEmbeddings: 64,
    };
    const scaled = ropeInverseFrequencies({ ...rope, scaling }, 64);
    let kept = 0;
    let divided = 0;
    let blended = 0;
    for (let i = 0; i < 32; i++) {
      const wavelen = (2 * Math.PI) / base[i]!;
      if (wavelen < 16) {
        assert.equal(scaled[i], base[i]);
        kept++;
      } else if (wavelen > 64) {
        assert.equal(scaled[i], Math.fround(base[i]! / 8));
        divided++;
      } else {
        assert.ok(scaled[i]! < base[i]! && scaled[i]! > base[i]! / 8);
        blended++;
      }
    }
    assert.ok(
      kept > 0 && divided > 0 && blended > 0,
      `${kept}/${divided}/${blended}: all three regimes covered`,
    );
  });
});

describe('applyRope', () => {
  const headDim = 16;
  const inv = ropeInverseFrequencies({ theta: 10000, scaling: { type: 'default' } }, headDim);
  const rotated = (vec: Float32Array, pos: number) => {
    const out = Float32Array.from(vec);
    const { cos, sin } = ropeTables(inv, Int32Array.of(pos));
    applyRope(out, 1, 1, headDim, cos, sin);
    return out;
  };
  const q = Float32Array.from({ length: headDim }, (_, i) => Math.sin(i + 1));
  const k = Float32Array.from({ length: headDim }, (_, i) => Math.cos(3 * i));

  it('is the identity at position 0 and pairs i with i + headDim/2', () => {
    assert.deepEqual(rotated(q, 0), q);
    const unit = new Float32Array(headDim);
    unit[0] = 1;
    const r = rotated(unit, 1); // inv[0] = 1: rotate by 1 radian within the pair (0, 8)
    assert.ok(Math.abs(r[0]! - Math.cos(1)) < 1e-6 && Math.abs(r[8]! - Math.sin(1)) < 1e-6);
    assert.equal(r[1], 0);
  });

  it('makes q·k depend only on the distance between positions', () => {
    const a = dot(rotated(q, 5), 0, rotated(k, 2), 0, headDim);
    const b = dot(rotated(q, 103), 0, rotated(k, 100), 0, headDim);
    assert.ok(Math.abs(a - b) < 1e-4, `${a} vs ${b}`);
    assert.ok(Math.abs(a - dot(rotated(q, 4), 0, rotated(k, 2), 0, headDim)) > 1e-3, 'distance matters');
  });
});
