/**
 * Regions for tests, labs and the benchmark: real KV-shaped tensors (one Float32Array per layer for K and
 * for V, the layout src/model allocates) with a pattern that makes every block of every layer distinct,
 * so a test can tell exactly which bytes went where.
 */
import { blockBytesPerTensor, type KvLayout } from './layout.ts';
import type { KvRegion } from './region.ts';

/** A small layout for fast tests: 3 layers, 4-token blocks, 2 KV heads of 8 dims (256 B per block per tensor). */
export const TINY_LAYOUT: KvLayout = { numLayers: 3, blockSize: 4, numKvHeads: 2, headDim: 8, dtype: 'f32' };

/** SmolLM2-135M: 30 layers, 3 KV heads, head dim 64, 16-token blocks, f32 (720 KiB per block). */
export const SMOLLM2_135M_LAYOUT: KvLayout = {
  numLayers: 30,
  blockSize: 16,
  numKvHeads: 3,
  headDim: 64,
  dtype: 'f32',
};

/** Zero-filled tensors: [block][position][kv head][head dim] per layer, K and V. */
export function allocateRegion(name: string, layout: KvLayout, numBlocks: number): KvRegion {
  const floats = (numBlocks * blockBytesPerTensor(layout)) / 4;
  const layers = Array.from({ length: layout.numLayers }, () => ({
    k: new Float32Array(floats),
    v: new Float32Array(floats),
  }));
  return { name, layout, numBlocks, layers };
}

/** The value a patterned region holds at (seed, layer, K/V, block, index in block). Exact in f32. */
export function patternValue(seed: number, layer: number, kv: 0 | 1, block: number, i: number): number {
  return seed * 1_000_000 + layer * 100_000 + kv * 50_000 + block * 64 + (i % 64);
}

export function fillPattern(region: KvRegion, seed: number): KvRegion {
  const perBlock = blockBytesPerTensor(region.layout) / 4;
  region.layers.forEach(({ k, v }, layer) => {
    for (const [kv, tensor] of [[0, k] as const, [1, v] as const]) {
      const floats = tensor as Float32Array;
      for (let b = 0; b < region.numBlocks; b++)
        for (let i = 0; i < perBlock; i++) floats[b * perBlock + i] = patternValue(seed, layer, kv, b, i);
    }
  });
  return region;
}

/** One block of one layer's K (kv 0) or V (kv 1), as a Float32Array view. */
export function blockOf(region: KvRegion, layer: number, kv: 0 | 1, block: number): Float32Array {
  const perBlock = blockBytesPerTensor(region.layout) / 4;
  const pair = region.layers[layer] as { k: Float32Array; v: Float32Array };
  return (kv === 0 ? pair.k : pair.v).subarray(block * perBlock, (block + 1) * perBlock);
}
