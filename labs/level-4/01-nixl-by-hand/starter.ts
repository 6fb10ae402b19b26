/**
 * Lab 4.1's exercise: predict how long a prompt's KV cache takes to move from a prefill worker to a decode
 * worker, before measuring it. Like sizing a database replica's initial sync: how many bytes, over which
 * link, at what latency. Disaggregation only pays when this hand-off is small next to the prefill it saves.
 *
 *   cp labs/level-4/01-nixl-by-hand/starter.ts my-transfer.ts
 *   npm run lab -- 4.1 --check ./my-transfer.ts     # published-figure cases, then this machine's links
 *
 * The file imports nothing, so a copy works anywhere.
 */

/** What decides a model's KV size: its attention shape and the engine's paging. */
export interface KvShape {
  numLayers: number;
  /** KV heads (fewer than query heads with grouped-query attention). */
  numKvHeads: number;
  headDim: number;
  /** 2 for bf16/fp16 (GPU engines), 4 for f32 (ours). */
  bytesPerValue: number;
  /** Tokens per KV block (page). */
  blockSize: number;
}

/** A link as it is sold: bandwidth in gigaBITS per second, and one-way latency in microseconds. */
export interface Link {
  gigabitsPerSecond: number;
  latencyUs: number;
}

/** Bytes of KV cache one token occupies, across every layer. */
export function kvBytesPerToken(shape: KvShape): number {
  // TODO 1: each layer stores a key AND a value vector per KV head for every token.
  return shape.numLayers * shape.numKvHeads * shape.headDim * shape.bytesPerValue;
}

/** Bytes that move when a prompt of `promptTokens` tokens is handed over. */
export function kvBytesForPrompt(shape: KvShape, promptTokens: number): number {
  // TODO 2: the cache is paged; what moves is whole blocks, the last one possibly part-filled.
  return promptTokens * kvBytesPerToken(shape);
}

/** Milliseconds to move that prompt's KV over `link`. */
export function predictTransferMs(shape: KvShape, promptTokens: number, link: Link): number {
  // TODO 3: bandwidth is in bits per second; and every transfer pays the link's latency once.
  const bytesPerSecond = link.gigabitsPerSecond * 1e9;
  return (kvBytesForPrompt(shape, promptTokens) / bytesPerSecond) * 1000;
}
