/**
 * Lab 4.1's reference solution (read it after trying the starter): how long a prompt's KV hand-off takes.
 *
 *   bytes per token  = 2 (K and V) × layers × KV heads × head dim × bytes per value
 *   bytes moved      = whole blocks: ceil(tokens / blockSize) × blockSize × bytes per token
 *   transfer time    = latency + bytes × 8 / link bits per second    (networks are sold in bits)
 *
 *   npm run lab -- 4.1 --check --reference
 */
export interface KvShape {
  numLayers: number;
  numKvHeads: number;
  headDim: number;
  bytesPerValue: number;
  blockSize: number;
}

export interface Link {
  gigabitsPerSecond: number;
  latencyUs: number;
}

export function kvBytesPerToken(shape: KvShape): number {
  return 2 * shape.numLayers * shape.numKvHeads * shape.headDim * shape.bytesPerValue;
}

export function kvBytesForPrompt(shape: KvShape, promptTokens: number): number {
  // The cache is paged: a partly filled last block still moves whole.
  const blocks = Math.ceil(promptTokens / shape.blockSize);
  return blocks * shape.blockSize * kvBytesPerToken(shape);
}

export function predictTransferMs(shape: KvShape, promptTokens: number, link: Link): number {
  const bytesPerSecond = (link.gigabitsPerSecond * 1e9) / 8;
  return link.latencyUs / 1000 + (kvBytesForPrompt(shape, promptTokens) / bytesPerSecond) * 1000;
}
