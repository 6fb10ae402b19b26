/**
 * Paged attention on the WebAssembly SIMD kernels (attention-codegen.ts): the same contract and loop order as
 * the TypeScript reference `pagedAttention` in ../reference/attention.ts, usable when the KV cache, the queries and
 * the output all live in the kernel arena (`LlamaModel.allocateKvCache` puts the cache there).
 *
 * Systems analogy: a zero-copy fast path that only engages when the buffers are already in the DMA-able
 * region; anything else takes the ordinary path (the caller falls back when `run` returns false).
 *
 * Per sequence: translate its block table into a gather list of row offsets once per forward pass (shared
 * by all its rows, KV heads and layers); per token row and KV head: scores, softmax per query head, weighted V sum (all wasm).
 */
import { type ForwardBatch, type KvCacheTensors, slotOf } from '../../forward-batch.ts';
import type { SharedArena } from '../arena.ts';
import type { KernelExports } from '../kernel-abi.ts';

export class WasmAttention {
  private offsets: Int32Array; // (capacity) float offset of each cached token's K/V row in a layer buffer
  private scores: Float32Array; // (group, seen) attention weights of one row and KV head
  private listStart = new Int32Array(16); // where each sequence's gather list starts in `offsets`
  private listsBatch: ForwardBatch | null = null; // the batch the gather lists were built for
  private listsLayer = -1; // the layer that used them last (a pass goes up; a new pass starts lower)
  private listsKvDim = 0;

  constructor(
    private readonly wasm: KernelExports,
    private readonly arena: SharedArena,
  ) {
    this.offsets = arena.allocI32(1024);
    this.scores = arena.allocF32(4096);
  }

  /** Whether the kernels can read and write these buffers in place (headDim in whole steps of 8 floats). */
  canRun(out: Float32Array, q: Float32Array, kv: KvCacheTensors, layer: number): boolean {
    const a = this.arena;
    return (
      kv.headDim % 8 === 0 && a.owns(out) && a.owns(q) && a.owns(kv.key[layer]!) && a.owns(kv.value[layer]!)
    );
  }

  /** out (numTokens, numHeads, headDim) = causal attention of q over the cache; see ../reference/attention.ts. */
  run(
    out: Float32Array,
    q: Float32Array,
    kv: KvCacheTensors,
    layer: number,
    batch: ForwardBatch,
    numHeads: number,
  ): void {
    const { headDim, numKvHeads, blockSize } = kv;
    const group = numHeads / numKvHeads;
    const scale = Math.fround(1 / Math.sqrt(headDim));
    const headBytes = headDim * 4;
    const keyBase = kv.key[layer]!.byteOffset;
    const valueBase = kv.value[layer]!.byteOffset;
    const kvDim = numKvHeads * headDim;
    // Every layer of a pass reads the same slots: the gather lists are built on its first layer (a new
    // batch, or the same batch object again from layer 0 of the next pass) and reused by the others.
    const fresh = batch !== this.listsBatch || layer <= this.listsLayer || kvDim !== this.listsKvDim;
    this.listsLayer = layer;
    if (fresh) this.buildGatherLists(batch, blockSize, kvDim);
    for (let s = 0; s < batch.seqs.length; s++) {
      const seq = batch.seqs[s]!;
      const offsets = this.offsets.subarray(this.listStart[s]!, this.listStart[s]! + seq.contextLen);
      const scores = this.scoresFor(group * seq.contextLen);
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
          const qOff = q.byteOffset + (row * numHeads + g * group) * headBytes; // first query head of the group
          const outOff = out.byteOffset + (row * numHeads + g * group) * headBytes;
          // biome-ignore format: argument list mirrors the kernel signature
          this.wasm.attn_scores(scores.byteOffset, qOff, keyBase + g * headBytes, offsets.byteOffset, seen, group, headDim, scale);
          this.wasm.softmax_f32(scores.byteOffset, group, seen);
          // biome-ignore format: argument list mirrors the kernel signature
          this.wasm.attn_values(outOff, scores.byteOffset, valueBase + g * headBytes, offsets.byteOffset, seen, group, headDim);
        }
      }
    }
  }

  /**
   * Float offset of each position's K/V row in a layer's buffer, for every sequence of the batch, one list
   * after the other in `offsets` (sequence s's from listStart[s]).
   */
  private buildGatherLists(batch: ForwardBatch, blockSize: number, kvDim: number): void {
    let total = 0;
    if (this.listStart.length < batch.seqs.length) this.listStart = new Int32Array(2 * batch.seqs.length);
    for (let s = 0; s < batch.seqs.length; s++) {
      const { blockTable, contextLen } = batch.seqs[s]!;
      if (blockTable.length * blockSize < contextLen) {
        throw new RangeError(
          `block table of ${blockTable.length} blocks cannot hold ${contextLen} tokens (block size ${blockSize})`,
        );
      }
      this.listStart[s] = total;
      total += contextLen;
    }
    if (this.offsets.length < total) this.offsets = this.arena.allocI32(2 ** Math.ceil(Math.log2(total)));
    const offsets = this.offsets;
    for (let s = 0; s < batch.seqs.length; s++) {
      const { blockTable, contextLen } = batch.seqs[s]!;
      const start = this.listStart[s]!;
      for (let t = 0; t < contextLen; t++) offsets[start + t] = slotOf(blockTable, t, blockSize) * kvDim;
    }
    this.listsBatch = batch;
    this.listsKvDim = kvDim;
  }

  private scoresFor(length: number): Float32Array {
    if (this.scores.length < length) this.scores = this.arena.allocF32(2 ** Math.ceil(Math.log2(length)));
    return this.scores;
  }
}
