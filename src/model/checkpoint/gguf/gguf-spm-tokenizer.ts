/**
 * SentencePiece vocabularies both ways (gguf-tokenizer.ts exports, gguf-to-tokenizer.ts rebuilds): llama.cpp's `tokenizer.ggml.model = "llama"` (Llama 2,
 * Mistral, TinyLlama, Zephyr...) stores pieces with SCORES instead of merge rules. SentencePiece BPE merges,
 * at each step, the adjacent pair whose concatenation is the highest-scoring piece; Hugging Face's BPE model
 * applies ranked merge rules. The two agree when every piece that splits into two known pieces contributes
 * those splits as rules, ranked by the piece's score: transformers' `SentencePieceExtractor` builds
 * tokenizer.json that way, and so do we. Around the BPE model: `▁` for spaces (a Prepend + Replace
 * normalizer), words split before each `▁`, byte fallback (`<0x0A>` pieces), and the decoder undoing all of it.
 */
import { ModelLoadError } from '../../../util/errors.ts';
import { arr, bool, type GgufValue, str, TOKEN_TYPE, u32 } from './gguf-format.ts';

type Json = Record<string, unknown>;

/** The parts of a Hugging Face tokenizer.json the SentencePiece export reads. */
interface SpmTokenizerJson {
  normalizer?: unknown;
  pre_tokenizer?: { type?: string; prepend_scheme?: string; add_prefix_space?: boolean } | null;
  post_processor?: { type?: string; single?: { SpecialToken?: unknown }[] } | null;
  added_tokens?: { id: number; content: string; special?: boolean }[];
  model?: {
    type?: string;
    byte_fallback?: boolean;
    unk_token?: string | null;
    vocab?: Record<string, number>;
    merges?: (string | [string, string])[];
  };
}

const BYTE_PIECE = /^<0x[0-9A-F]{2}>$/;

/** A Llama/Mistral-style tokenizer.json: BPE with byte fallback and `▁` standing for spaces. */
export function isSentencePieceBpe(json: SpmTokenizerJson): boolean {
  const spaces = JSON.stringify(json.normalizer ?? null) + JSON.stringify(json.pre_tokenizer ?? null);
  return json.model?.type === 'BPE' && json.model.byte_fallback === true && spaces.includes('▁');
}

/** Whether the tokenizer puts a `▁` before the text (a Prepend normalizer, or Metaspace's prepend scheme). */
function addsSpacePrefix(json: SpmTokenizerJson): boolean {
  if (JSON.stringify(json.normalizer ?? null).includes('"Prepend"')) return true;
  const pre = json.pre_tokenizer;
  if (pre?.type !== 'Metaspace') return false;
  return pre.prepend_scheme ? pre.prepend_scheme !== 'never' : pre.add_prefix_space !== false;
}

/**
 * `tokenizer.ggml.*` for a SentencePiece BPE tokenizer.json (model "llama"): pieces by id, padded with
 * `[PADn]` to `vocabSize`; types (byte pieces, the unknown piece, added tokens); and scores from the merge
 * ranks, since tokenizer.json keeps ranked merges where SentencePiece keeps scores: a merged piece scores
 * minus the rank of the first merge that makes it, single characters 0, pieces no merge makes below all.
 */
export function spmTokenizerEntries(
  json: SpmTokenizerJson,
  vocabSize: number,
  special: { bos: number | null; eos: number | null; pad: number | null },
): Record<string, GgufValue> {
  const model = json.model ?? {};
  const tokens: string[] = [];
  const types: number[] = [];
  for (const [text, id] of Object.entries(model.vocab ?? {})) {
    tokens[id] = text;
    types[id] =
      text === model.unk_token
        ? TOKEN_TYPE.unknown
        : BYTE_PIECE.test(text)
          ? TOKEN_TYPE.byte
          : TOKEN_TYPE.normal;
  }
  for (const t of json.added_tokens ?? []) {
    tokens[t.id] = t.content;
    if (types[t.id] !== TOKEN_TYPE.unknown)
      types[t.id] = t.special ? TOKEN_TYPE.control : TOKEN_TYPE.userDefined;
  }
  if (tokens.length > vocabSize) {
    throw new ModelLoadError(
      `${tokens.length} tokenizer pieces do not fit the model's vocab_size ${vocabSize}`,
    );
  }
  for (let id = 0; id < vocabSize; id++) {
    if (tokens[id] === undefined) {
      tokens[id] = `[PAD${id}]`;
      types[id] = TOKEN_TYPE.unused;
    }
  }
  const merges = model.merges ?? [];
  const rank = new Map<string, number>();
  merges.forEach((m, i) => {
    const piece = Array.isArray(m) ? m.join('') : m.replace(' ', '');
    if (!rank.has(piece)) rank.set(piece, i);
  });
  const scores = tokens.map((t, id) => {
    if (types[id] !== TOKEN_TYPE.normal || [...t].length === 1) return 0;
    return -(rank.get(t) ?? merges.length + id);
  });
  const post = json.post_processor;
  const addsBos = post?.type === 'TemplateProcessing' && post.single?.[0]?.SpecialToken !== undefined;
  const entries: Record<string, GgufValue> = {
    'tokenizer.ggml.model': str('llama'),
    'tokenizer.ggml.tokens': arr('string', tokens),
    'tokenizer.ggml.scores': arr('float32', scores),
    'tokenizer.ggml.token_type': arr('int32', types),
    'tokenizer.ggml.add_bos_token': bool(addsBos && special.bos !== null),
    'tokenizer.ggml.add_eos_token': bool(false),
    'tokenizer.ggml.add_space_prefix': bool(addsSpacePrefix(json)),
  };
  const unk = model.unk_token ? model.vocab?.[model.unk_token] : undefined;
  if (unk !== undefined) entries['tokenizer.ggml.unknown_token_id'] = u32(unk);
  if (special.bos !== null) entries['tokenizer.ggml.bos_token_id'] = u32(special.bos);
  if (special.eos !== null) entries['tokenizer.ggml.eos_token_id'] = u32(special.eos);
  if (special.pad !== null) entries['tokenizer.ggml.padding_token_id'] = u32(special.pad);
  return entries;
}

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
