/**
 * How a Hugging Face Llama checkpoint maps onto llama.cpp's GGUF layout: tensor names, and the row
 * permutation of the query and key projections.
 *
 * Like a NAT table: the same weights under two addressing schemes, translated both ways.
 *
 * Names (HF without the `model.` prefix → GGUF):
 *   embed_tokens.weight                   → token_embd.weight
 *   layers.N.input_layernorm.weight       → blk.N.attn_norm.weight
 *   layers.N.self_attn.{q,k,v,o}_proj.*   → blk.N.attn_{q,k,v,output}.*
 *   layers.N.post_attention_layernorm.*   → blk.N.ffn_norm.weight
 *   layers.N.mlp.{gate,up,down}_proj.*    → blk.N.ffn_{gate,up,down}.weight
 *   norm.weight / lm_head.weight          → output_norm.weight / output.weight
 *
 * Why the permutation: Hugging Face rotates pairs (i, i + headDim/2) of each head ("rotate_half");
 * llama.cpp's LLAMA rope rotates adjacent pairs (2i, 2i + 1), as Meta's original checkpoints did. So
 * convert_hf_to_gguf.py reorders the rows of q_proj and k_proj within each head:
 *
 *   HF row   j·(headDim/2) + i   (half j ∈ {0,1}, i < headDim/2)   →   GGUF row   2i + j
 *
 * which is `w.reshape(heads, 2, headDim/2, cols).swapaxes(1, 2)`; k_proj uses the KV head count.
 */

const LAYER_NAMES: [hf: string, gguf: string][] = [
  ['input_layernorm', 'attn_norm'],
  ['self_attn.q_proj', 'attn_q'],
  ['self_attn.k_proj', 'attn_k'],
  ['self_attn.v_proj', 'attn_v'],
  ['self_attn.o_proj', 'attn_output'],
  ['post_attention_layernorm', 'ffn_norm'],
  ['mlp.gate_proj', 'ffn_gate'],
  ['mlp.up_proj', 'ffn_up'],
  ['mlp.down_proj', 'ffn_down'],
];

/** HF tensor name (with or without `model.`) → llama.cpp name; null for names llama.cpp has no slot for. */
export function hfToGgufName(hfName: string): string | null {
  const name = hfName.startsWith('model.') ? hfName.slice('model.'.length) : hfName;
  if (name === 'embed_tokens.weight') return 'token_embd.weight';
  if (name === 'norm.weight') return 'output_norm.weight';
  if (name === 'lm_head.weight') return 'output.weight';
  const m = /^layers\.(\d+)\.(.+)\.(weight|bias)$/.exec(name);
  if (!m) return null;
  const entry = LAYER_NAMES.find(([hf]) => hf === m[2]);
  return entry ? `blk.${m[1]}.${entry[1]}.${m[3]}` : null;
}

/** llama.cpp tensor name → HF name without `model.` (`lm_head.weight` for output). */
export function ggufToHfName(ggufName: string): string | null {
  if (ggufName === 'token_embd.weight') return 'embed_tokens.weight';
  if (ggufName === 'output_norm.weight') return 'norm.weight';
  if (ggufName === 'output.weight') return 'lm_head.weight';
  const m = /^blk\.(\d+)\.(\w+)\.(weight|bias)$/.exec(ggufName);
  if (!m) return null;
  const entry = LAYER_NAMES.find(([, gguf]) => gguf === m[2]);
  return entry ? `layers.${m[1]}.${entry[0]}.${m[3]}` : null;
}

/** Which rope permutation a tensor needs: q_proj by query heads, k_proj by KV heads, others none. */
export function ropePermutationHeads(hfName: string, numHeads: number, numKvHeads: number): number | null {
  if (/self_attn\.q_proj\.(weight|bias)$/.test(hfName)) return numHeads;
  if (/self_attn\.k_proj\.(weight|bias)$/.test(hfName)) return numKvHeads;
  return null;
}

/**
 * HF → GGUF row order within each head (rows: Float32Array (heads·headDim, cols); a bias has cols = 1).
 * Returns a new array.
 */
export function permuteForGguf(rows: Float32Array, heads: number, cols: number): Float32Array {
  return reorderRows(rows, heads, cols, 'to-gguf');
}

/** GGUF → HF row order: the inverse of `permuteForGguf`. */
export function unpermuteFromGguf(rows: Float32Array, heads: number, cols: number): Float32Array {
  return reorderRows(rows, heads, cols, 'to-hf');
}

function reorderRows(
  src: Float32Array,
  heads: number,
  cols: number,
  direction: 'to-gguf' | 'to-hf',
): Float32Array {
  const headDim = src.length / cols / heads;
  if (!Number.isInteger(headDim) || headDim % 2 !== 0) {
    throw new RangeError(`cannot split ${src.length / cols} rows into ${heads} heads of even size`);
  }
  const half = headDim / 2;
  const out = new Float32Array(src.length);
  for (let h = 0; h < heads; h++) {
    for (let j = 0; j < 2; j++) {
      for (let i = 0; i < half; i++) {
        const hfRow = h * headDim + j * half + i;
        const ggufRow = h * headDim + 2 * i + j;
        const [from, to] = direction === 'to-gguf' ? [hfRow, ggufRow] : [ggufRow, hfRow];
        out.set(src.subarray(from * cols, (from + 1) * cols), to * cols);
      }
    }
  }
  return out;
}
