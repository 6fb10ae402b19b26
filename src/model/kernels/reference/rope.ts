/**
 * Rotary position embeddings (RoPE): how a Llama tells positions apart. Each pair of dimensions of a
 * query/key head is rotated by an angle position × invFreq[i]; the dot product of a rotated query and key
 * then depends only on their distance, like comparing two clock hands instead of two timestamps.
 *
 * Layout is Hugging Face's "rotate_half": dimension i pairs with i + headDim/2 (NOT adjacent pairs
 * (2i, 2i+1) as in the original paper and llama2.c); HF checkpoints are permuted for this layout.
 *
 *   head vector: [ x0 x1 ... x(h-1) | x(h) ... x(2h-1) ]     h = headDim/2
 *   out[i]     = x[i]·cos(θi) − x[i+h]·sin(θi)
 *   out[i+h]   = x[i+h]·cos(θi) + x[i]·sin(θi)
 *
 * Frequencies are computed in float32 step by step (Math.fround) the way transformers does, so angles
 * match the reference bit for bit or within an ulp.
 */
import type { RopeConfig } from '../../checkpoint/config.ts';

const f = Math.fround;

/** invFreq[i] = 1 / theta^(2i/headDim), then scaled per `rope.scaling`. Returns Float32Array (headDim/2). */
export function ropeInverseFrequencies(rope: RopeConfig, headDim: number): Float32Array {
  const half = headDim / 2;
  const inv = new Float32Array(half);
  for (let i = 0; i < half; i++) inv[i] = f(1 / f(rope.theta ** f((2 * i) / headDim)));
  const s = rope.scaling;
  if (s.type === 'linear') {
    for (let i = 0; i < half; i++) inv[i] = f(inv[i]! / s.factor);
  } else if (s.type === 'llama3') {
    // Wavelengths longer than the original context are stretched by `factor`; shorter than
    // original/highFreqFactor are kept; those between are blended (transformers' _compute_llama3_parameters).
    const lowFreqWavelen = s.originalMaxPositionEmbeddings / s.lowFreqFactor;
    const highFreqWavelen = s.originalMaxPositionEmbeddings / s.highFreqFactor;
    for (let i = 0; i < half; i++) {
      const freq = inv[i]!;
      const wavelen = f(f(2 * Math.PI) / freq);
      if (wavelen > lowFreqWavelen) {
        inv[i] = f(freq / s.factor);
      } else if (wavelen >= highFreqWavelen) {
        const smooth = f(
          f(f(s.originalMaxPositionEmbeddings / wavelen) - s.lowFreqFactor) /
            (s.highFreqFactor - s.lowFreqFactor),
        );
        inv[i] = f(f(f(f(1 - smooth) * freq) / s.factor) + f(smooth * freq));
      }
    }
  }
  return inv;
}

/**
 * cos/sin of every (token, frequency) angle of a batch: cos, sin: Float32Array (numTokens, headDim/2).
 * Computed once per forward pass and shared by all layers.
 */
export function ropeTables(
  invFreq: Float32Array,
  positions: Int32Array,
): { cos: Float32Array; sin: Float32Array } {
  const half = invFreq.length;
  const cos = new Float32Array(positions.length * half);
  const sin = new Float32Array(positions.length * half);
  for (let t = 0; t < positions.length; t++) {
    for (let i = 0; i < half; i++) {
      const angle = f(positions[t]! * invFreq[i]!);
      cos[t * half + i] = Math.cos(angle);
      sin[t * half + i] = Math.sin(angle);
    }
  }
  return { cos, sin };
}

/**
 * Rotates every head of every row in place.
 *   x: (rows, numHeads, headDim)   cos, sin: (rows, headDim/2)
 */
export function applyRope(
  x: Float32Array,
  rows: number,
  numHeads: number,
  headDim: number,
  cos: Float32Array,
  sin: Float32Array,
): void {
  const half = headDim / 2;
  for (let r = 0; r < rows; r++) {
    for (let h = 0; h < numHeads; h++) {
      const base = (r * numHeads + h) * headDim;
      for (let i = 0; i < half; i++) {
        const c = cos[r * half + i]!;
        const s = sin[r * half + i]!;
        const a = x[base + i]!;
        const b = x[base + i + half]!;
        x[base + i] = f(a * c) - f(b * s);
        x[base + i + half] = f(b * c) + f(a * s);
      }
    }
  }
}
