/**
 * Lab 1.3's exercise: how many bytes of KV cache does a model need, from its config.json alone? The same
 * sum a capacity planner does before buying memory: per token, then for a sequence in a paged cache.
 *
 *   cp labs/level-1/03-kv-memory-growth/starter.ts my-kv.ts
 *   npm run lab -- 1.3 --check ./my-kv.ts            # PASS / FAIL per model shape, with hints
 *
 * As given, the per-token function is the textbook formula for the original Transformer; the check runs it
 * on the bundled model and on checkpoints of other shapes, compares with the figure the model code itself
 * reports (`dhw model inspect`, the KV allocator) and says where it goes wrong. The file imports nothing, so
 * a copy works anywhere.
 */

/** A Hugging Face config.json, parsed: `num_hidden_layers`, `num_attention_heads`, `hidden_size`, ... */
export type HfConfig = Record<string, unknown>;

/** A number field of the config, or undefined when the checkpoint leaves it out. */
function field(config: HfConfig, name: string): number | undefined {
  const value = config[name];
  return typeof value === 'number' ? value : undefined;
}

/**
 * Bytes of cache one token occupies: its key AND value vectors, in every layer, at `bytesPerValue` bytes per
 * number (4 for fp32, as our engine stores them; 2 for bf16/fp16, as GPU engines do).
 */
export function kvBytesPerToken(config: HfConfig, bytesPerValue: number): number {
  const layers = field(config, 'num_hidden_layers') ?? Number.NaN;
  const heads = field(config, 'num_attention_heads') ?? Number.NaN;
  const headDim = field(config, 'head_dim') ?? Number.NaN;
  // TODO 1: modern checkpoints use grouped-query attention: several query heads share one key/value head,
  //         and only the K/V heads are cached (num_key_value_heads; absent means one per query head).
  // TODO 2: some config.json files have no head_dim: then it is hidden_size / num_attention_heads.
  return 2 * layers * heads * headDim * bytesPerValue;
}

/**
 * Bytes a paged KV cache holds for one sequence of `tokens` tokens, in blocks of `blockSize` tokens.
 */
export function kvBytesForTokens(
  config: HfConfig,
  tokens: number,
  blockSize: number,
  bytesPerValue: number,
): number {
  // TODO 3: the block manager hands out whole blocks: a 17-token sequence in 16-token blocks holds two.
  void blockSize;
  return tokens * kvBytesPerToken(config, bytesPerValue);
}
