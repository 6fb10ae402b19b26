/**
 * Paged, grouped-query, causal attention over the KV cache, for a flattened batch of sequences.
 *
 * Systems analogy: the KV cache is paged memory. A sequence's tokens live in fixed-size blocks scattered
 * over one big pool; its block table is the page table that turns a logical position into a physical
 * slot, exactly like virtual → physical address translation:
 *
 *   position t  →  block = blockTable[t / blockSize], offset = t % blockSize
 *                →  slot  = block * blockSize + offset
 *   key[layer] :  (numBlocks, blockSize, numKvHeads, headDim)  →  K of slot s, head g at (s*numKvHeads + g)*headDim
 *
 * Grouped-query attention: numHeads query heads share numKvHeads K/V heads (query head h reads KV head
 * h / (numHeads/numKvHeads)), which is why the cache is smaller than the queries.
 */
import { type ForwardBatch, type KvCacheTensors, slotOf } from '../../forward-batch.ts';
import { softmax } from './row-ops.ts';

/**
 * Stores the new tokens' K and V in their cache slots (slotMapping). Negative slots are padding: skipped.
 *   k, v: (numTokens, numKvHeads*headDim)
 */
export function writeKvSlots(
  kv: KvCacheTensors,
  layer: number,
  k: Float32Array,
  v: Float32Array,
  slotMapping: Int32Array,
): void {
  const kvDim = kv.numKvHeads * kv.headDim;
  const keyCache = kv.key[layer]!;
  const valueCache = kv.value[layer]!;
  checkKvSlots(kv, slotMapping);
  for (let row = 0; row < slotMapping.length; row++) {
    const slot = slotMapping[row]!;
    if (slot < 0) continue;
    keyCache.set(k.subarray(row * kvDim, (row + 1) * kvDim), slot * kvDim);
    valueCache.set(v.subarray(row * kvDim, (row + 1) * kvDim), slot * kvDim);
  }
}

/** Throws (before anything is written) when a slot lies past the end of the KV cache. */
export function checkKvSlots(kv: KvCacheTensors, slotMapping: Int32Array): void {
  const numSlots = kv.numBlocks * kv.blockSize;
  for (let row = 0; row < slotMapping.length; row++) {
    const slot = slotMapping[row]!;
    if (slot >= numSlots) {
      throw new RangeError(
        `slot ${slot} of row ${row} is outside the KV cache (${kv.numBlocks} blocks of ${kv.blockSize})`,
      );
    }
  }
}

/**
 * out = softmax(q·Kᵀ / sqrt(headDim)) · V for every new token of every sequence, where a token at
 * position p sees the sequence's positions 0..p (causal), read from the cache through its block table.
 * The query heads sharing a KV head are handled together, so each cached K/V row is read once per group.
 *
 *   q, out: (numTokens, numHeads, headDim)
 */
export function pagedAttention(
  out: Float32Array,
  q: Float32Array,
  kv: KvCacheTensors,
  layer: number,
  batch: ForwardBatch,
  numHeads: number,
): void {
  const { headDim, numKvHeads, blockSize } = kv;
  const group = numHeads / numKvHeads;
  const scale = 1 / Math.sqrt(headDim);
  const keyCache = kv.key[layer]!;
  const valueCache = kv.value[layer]!;
  const acc = new Float64Array(group * headDim); // (group, headDim) the group's outputs

  for (const seq of batch.seqs) {
    const slotBase = slotOffsets(seq.blockTable, seq.contextLen, blockSize, numKvHeads * headDim); // (contextLen)
    const scores = new Float64Array(group * seq.contextLen); // (group, contextLen) attention weights
    for (let i = 0; i < seq.queryLen; i++) {
      const row = seq.queryStart + i;
      const pos = batch.positions[row]!;
      if (pos >= seq.contextLen) {
        throw new RangeError(
          `row ${row}: position ${pos} is not below the sequence's contextLen ${seq.contextLen}`,
        );
      }
      const seen = pos + 1; // causal: positions 0..pos
      for (let g = 0; g < numKvHeads; g++) {
        const headOff = g * headDim;
        const qBase = (row * numHeads + g * group) * headDim; // first query head of the group
        // Scores of every query head of the group against every visible key.
        for (let t = 0; t < seen; t++) {
          const kOff = slotBase[t]! + headOff;
          for (let h = 0; h < group; h++) {
            scores[h * seq.contextLen + t] = dot4(q, qBase + h * headDim, keyCache, kOff, headDim) * scale;
          }
        }
        for (let h = 0; h < group; h++) softmax(scores, h * seq.contextLen, seen);
        // Weighted sums of the values.
        acc.fill(0);
        for (let t = 0; t < seen; t++) {
          const vOff = slotBase[t]! + headOff;
          for (let h = 0; h < group; h++) {
            const p = scores[h * seq.contextLen + t]!;
            const a = h * headDim;
            for (let d = 0; d < headDim; d++) acc[a + d]! += p * valueCache[vOff + d]!;
          }
        }
        for (let k = 0; k < group * headDim; k++) out[qBase + k] = acc[k]!;
      }
    }
  }
}

/**
 * Σ a[aOff+k]·b[bOff+k] with four independent running sums: JavaScript adds in program order, so a single
 * sum waits on each add's latency; four chains keep the FPU busy (the order change is far below f32 noise).
 */
function dot4(a: Float32Array, aOff: number, b: Float32Array, bOff: number, n: number): number {
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  let k = 0;
  for (; k + 4 <= n; k += 4) {
    s0 += a[aOff + k]! * b[bOff + k]!;
    s1 += a[aOff + k + 1]! * b[bOff + k + 1]!;
    s2 += a[aOff + k + 2]! * b[bOff + k + 2]!;
    s3 += a[aOff + k + 3]! * b[bOff + k + 3]!;
  }
  for (; k < n; k++) s0 += a[aOff + k]! * b[bOff + k]!;
  return s0 + s1 + (s2 + s3);
}

/** Float offset of each position's K/V row in a layer's cache buffer: Int32Array (contextLen). */
function slotOffsets(
  blockTable: Int32Array,
  contextLen: number,
  blockSize: number,
  kvDim: number,
): Int32Array {
  if (blockTable.length * blockSize < contextLen) {
    throw new RangeError(
      `block table of ${blockTable.length} blocks cannot hold ${contextLen} tokens (block size ${blockSize})`,
    );
  }
  const offsets = new Int32Array(contextLen);
  for (let t = 0; t < contextLen; t++) {
    offsets[t] = slotOf(blockTable, t, blockSize) * kvDim;
  }
  return offsets;
}
