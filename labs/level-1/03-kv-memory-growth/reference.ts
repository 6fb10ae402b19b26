/**
 * Lab 1.3's reference solution (read it after trying the starter): KV cache bytes from config.json.
 *
 *   npm run lab -- 1.3 --check --reference
 *
 *   per token = 2 (K and V) × layers × KV heads × head dim × bytes per value
 *   per sequence in a paged cache = whole blocks × block size × per token
 */

/** A Hugging Face config.json, parsed: `num_hidden_layers`, `num_attention_heads`, `hidden_size`, ... */
export type HfConfig = Record<string, unknown>;

function field(config: HfConfig, name: string): number | undefined {
  const value = config[name];
  return typeof value === 'number' ? value : undefined;
}

function requiredField(config: HfConfig, name: string): number {
  const value = field(config, name);
  if (value === undefined) throw new Error(`config.json has no number "${name}"`);
  return value;
}

export function kvBytesPerToken(config: HfConfig, bytesPerValue: number): number {
  const layers = requiredField(config, 'num_hidden_layers');
  const queryHeads = requiredField(config, 'num_attention_heads');
  // Grouped-query attention caches one K/V head per group of query heads; a config without the field is
  // plain multi-head attention, one K/V head per query head.
  const kvHeads = field(config, 'num_key_value_heads') ?? queryHeads;
  const headDim = field(config, 'head_dim') ?? requiredField(config, 'hidden_size') / queryHeads;
  return 2 * layers * kvHeads * headDim * bytesPerValue;
}

export function kvBytesForTokens(
  config: HfConfig,
  tokens: number,
  blockSize: number,
  bytesPerValue: number,
): number {
  const blocks = Math.ceil(tokens / blockSize); // the last block is reserved whole, however full it is
  return blocks * blockSize * kvBytesPerToken(config, bytesPerValue);
}
