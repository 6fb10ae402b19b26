/**
 * What one forward pass takes: the model runner's "packet format".
 *
 * A batch is the new tokens of several sequences laid end to end (vLLM's flattened layout), so one matrix
 * multiply serves them all: a prefill of 100 tokens and three decodes of 1 token each are 103 rows.
 *
 *   tokenIds     [ a0 a1 a2 ... a99 | b7 | c12 | d3 ]      (numTokens)
 *   positions    [ 0  1  2  ... 99  | 7  | 12  | 3  ]      (numTokens) position of each token in its sequence
 *   slotMapping  [ where each token's K/V is written in the paged cache: blockId * blockSize + offset ]
 *   seqs         [ {queryStart 0, queryLen 100, contextLen 100, blockTable}, {queryStart 100, queryLen 1, ...}, ... ]
 *
 * Attention for a sequence reads K/V for positions 0..contextLen-1 through its block table; the new
 * tokens' K/V are written to their slots first, so a sequence attends to its own new tokens too (causally).
 */
export interface SequenceSlice {
  /** Row of this sequence's first new token in the flattened batch. */
  queryStart: number;
  /** Number of new tokens of this sequence in the batch (prompt chunk, or 1 when decoding). */
  queryLen: number;
  /** Tokens of context after this step: cached tokens + the new ones. */
  contextLen: number;
  /** Physical KV block ids holding this sequence's tokens, in order (logical block i → blockTable[i]). */
  blockTable: Int32Array;
}

/**
 * The cache slot of position `pos` of a sequence: its block table is the page table, so
 *   slot = blockTable[pos / blockSize] * blockSize + pos % blockSize
 * Every writer (batch-builder.ts) and reader (the attention kernels) of the paged cache uses this one formula.
 */
export function slotOf(blockTable: Int32Array, pos: number, blockSize: number): number {
  return blockTable[Math.floor(pos / blockSize)]! * blockSize + (pos % blockSize);
}

export interface ForwardBatch {
  tokenIds: Int32Array; // (numTokens)
  positions: Int32Array; // (numTokens)
  slotMapping: Int32Array; // (numTokens)
  seqs: SequenceSlice[];
  /** Rows whose logits are wanted: usually each sequence's last new token; every row for reference tests. */
  logitsRows: Int32Array;
}

/**
 * The KV cache's memory: for each layer, one key and one value buffer of fixed-size blocks.
 *
 *   key[layer]: Float32Array (numBlocks, blockSize, numKvHeads, headDim)
 *
 * Block bookkeeping (which block belongs to whom, hashes, reference counts) lives in kv/; this is only the
 * storage those block ids index, like the page frames behind a page table.
 */
export interface KvCacheTensors {
  numBlocks: number;
  blockSize: number;
  numLayers: number;
  numKvHeads: number;
  headDim: number;
  key: Float32Array[];
  value: Float32Array[];
}

export function allocateKvCacheTensors(shape: Omit<KvCacheTensors, 'key' | 'value'>): KvCacheTensors {
  const floatsPerLayer = shape.numBlocks * shape.blockSize * shape.numKvHeads * shape.headDim;
  const key: Float32Array[] = [];
  const value: Float32Array[] = [];
  for (let l = 0; l < shape.numLayers; l++) {
    key.push(new Float32Array(floatsPerLayer));
    value.push(new Float32Array(floatsPerLayer));
  }
  return { ...shape, key, value };
}

/** Bytes of KV state one token occupies across all layers (K and V, fp32 here). */
export function kvBytesPerToken(
  numLayers: number,
  numKvHeads: number,
  headDim: number,
  bytesPerValue = 4,
): number {
  return 2 * numLayers * numKvHeads * headDim * bytesPerValue;
}
