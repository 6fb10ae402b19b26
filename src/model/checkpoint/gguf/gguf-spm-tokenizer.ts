/**
 * The SentencePiece half of gguf-to-tokenizer.ts: llama.cpp's `tokenizer.ggml.model = "llama"` (Llama 2,
 * Mistral, TinyLlama, Zephyr...) stores pieces with SCORES instead of merge rules. SentencePiece BPE merges,
 * at each step, the adjacent pair whose concatenation is the highest-scoring piece; Hugging Face's BPE model
 * applies ranked merge rules. The two agree when every piece that splits into two known pieces contributes
 * those splits as rules, ranked by the piece's score: transformers' `SentencePieceExtractor` builds
 * tokenizer.json that way, and so do we. Around the BPE model: `▁` for spaces (a Prepend + Replace
 * normalizer), words split before each `▁`, byte fallback (`<0x0A>` pieces), and the decoder undoing all of it.
 */

type Json = Record<string, unknown>;

/**
 * Merge rules from pieces and scores (higher score = merged earlier). Only `mergeable` pieces take part
 * (normal pieces: never control, byte or unused ones). Ties: the left piece's id, then the right's.
 */
export function mergesFromScores(
  tokens: string[],
  scores: number[],
  mergeable: (id: number) => boolean,
): [string, string][] {
  const ids = new Map<string, number>();
  tokens.forEach((t, id) => {
    if (mergeable(id)) ids.set(t, id);
  });
  const rules: { left: number; right: number; score: number; pair: [string, string] }[] = [];
  for (const [piece, id] of ids) {
    const chars = [...piece];
    for (let i = 1; i < chars.length; i++) {
      const l = chars.slice(0, i).join('');
      const r = chars.slice(i).join('');
      const left = ids.get(l);
      const right = ids.get(r);
      if (left !== undefined && right !== undefined)
        rules.push({ left, right, score: scores[id] ?? -id, pair: [l, r] });
    }
  }
  rules.sort((a, b) => b.score - a.score || a.left - b.left || a.right - b.right);
  return rules.map((r) => r.pair);
}

/** The tokenizer.json pieces around SentencePiece's BPE model; `addSpacePrefix` = llama.cpp's add_space_prefix. */
export function spmPipeline(addSpacePrefix: boolean): Json {
  const replaceSpaces = { type: 'Replace', pattern: { String: ' ' }, content: '▁' };
  return {
    normalizer: addSpacePrefix
      ? { type: 'Sequence', normalizers: [{ type: 'Prepend', prepend: '▁' }, replaceSpaces] }
      : replaceSpaces,
    pre_tokenizer: { type: 'Split', pattern: { String: '▁' }, behavior: 'MergedWithNext', invert: false },
    decoder: {
      type: 'Sequence',
      decoders: [
        { type: 'Replace', pattern: { String: '▁' }, content: ' ' },
        { type: 'ByteFallback' },
        { type: 'Fuse' },
        ...(addSpacePrefix ? [{ type: 'Strip', content: ' ', start: 1, stop: 0 }] : []),
      ],
    },
  };
}
