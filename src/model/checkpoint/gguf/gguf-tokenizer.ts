/**
 * A Hugging Face `tokenizer.json` → llama.cpp's `tokenizer.ggml.*` metadata: byte-level BPE as model "gpt2"
 * (here), SentencePiece BPE as model "llama" (gguf-spm-tokenizer.ts).
 *
 * Like exporting a routing table to another vendor's format: same entries (tokens, merge rules, special
 * ids), their field names. llama.cpp refuses a model without a vocabulary, so even when we feed it token
 * ids directly the GGUF must carry one, one entry per row of the embedding.
 */
import { readFileSync } from 'node:fs';
import { ModelLoadError } from '../../../util/errors.ts';
import { arr, bool, type GgufValue, str, TOKEN_TYPE, u32 } from './gguf-format.ts';
import { isSentencePieceBpe, spmTokenizerEntries } from './gguf-spm-tokenizer.ts';

export { TOKEN_TYPE };

export interface SpecialTokenIds {
  bos: number | null;
  eos: number | null;
  pad: number | null;
}

export interface TokenizerJson {
  model?: { type?: string; vocab?: Record<string, number>; merges?: (string | [string, string])[] };
  pre_tokenizer?: { type?: string; pretokenizers?: { type?: string }[] } | null;
  post_processor?: { type?: string; single?: { SpecialToken?: unknown }[] } | null;
  added_tokens?: { id: number; content: string; special?: boolean }[];
}

/**
 * Metadata entries for `tokenizer.json` at `path`, padded with `[PADn]` (type unused) up to `vocabSize`
 * rows. `pre` names llama.cpp's pre-tokenizer regex set ("gpt-2" = the original GPT-2 split).
 */
export function ggufTokenizerMetadata(
  path: string,
  vocabSize: number,
  special: SpecialTokenIds,
  pre = 'gpt-2',
): Record<string, GgufValue> {
  let json: TokenizerJson;
  try {
    json = JSON.parse(readFileSync(path, 'utf8')) as TokenizerJson;
  } catch (cause) {
    throw new ModelLoadError(`cannot read ${path}: the GGUF export needs the checkpoint's tokenizer.json`, {
      cause,
    });
  }
  const model = json.model ?? {};
  if (isSentencePieceBpe(json)) return spmTokenizerEntries(json, vocabSize, special);
  if (model.type !== 'BPE' || !isByteLevel(json.pre_tokenizer)) {
    throw new ModelLoadError(
      `${path}: only byte-level BPE (GPT-2 style, pre_tokenizer ByteLevel) and SentencePiece BPE (byte_fallback, ` +
        `"▁" for spaces) tokenizers can be exported to GGUF; this one is ${model.type ?? 'unknown'} with ` +
        `pre_tokenizer ${json.pre_tokenizer?.type ?? 'none'}`,
    );
  }
  const tokens: string[] = [];
  const types: number[] = [];
  for (const [text, id] of Object.entries(model.vocab ?? {}))
    place(tokens, types, id, text, TOKEN_TYPE.normal);
  for (const t of json.added_tokens ?? []) {
    place(tokens, types, t.id, t.content, t.special ? TOKEN_TYPE.control : TOKEN_TYPE.userDefined);
  }
  if (tokens.length > vocabSize) {
    throw new ModelLoadError(
      `${path}: ${tokens.length} tokens do not fit the model's vocab_size ${vocabSize}`,
    );
  }
  for (let id = 0; id < vocabSize; id++) {
    if (tokens[id] === undefined) {
      tokens[id] = `[PAD${id}]`;
      types[id] = TOKEN_TYPE.unused;
    }
  }
  const merges = (model.merges ?? []).map((m) => (Array.isArray(m) ? m.join(' ') : m));
  const entries: Record<string, GgufValue> = {
    'tokenizer.ggml.model': str('gpt2'),
    'tokenizer.ggml.pre': str(pre),
    'tokenizer.ggml.tokens': arr('string', tokens),
    'tokenizer.ggml.token_type': arr('int32', types),
    'tokenizer.ggml.merges': arr('string', merges),
  };
  if (special.bos !== null) entries['tokenizer.ggml.bos_token_id'] = u32(special.bos);
  if (special.eos !== null) entries['tokenizer.ggml.eos_token_id'] = u32(special.eos);
  if (special.pad !== null) entries['tokenizer.ggml.padding_token_id'] = u32(special.pad);
  // transformers prepends BOS through a TemplateProcessing post-processor; llama.cpp through this flag.
  const post = json.post_processor;
  const addsBos = post?.type === 'TemplateProcessing' && post.single?.[0]?.SpecialToken !== undefined;
  entries['tokenizer.ggml.add_bos_token'] = bool(addsBos && special.bos !== null);
  return entries;
}

function place(tokens: string[], types: number[], id: number, text: string, type: number): void {
  tokens[id] = text;
  types[id] = type;
}

function isByteLevel(pre: TokenizerJson['pre_tokenizer']): boolean {
  if (!pre) return false;
  if (pre.type === 'ByteLevel') return true;
  return pre.type === 'Sequence' && (pre.pretokenizers ?? []).some((p) => p.type === 'ByteLevel');
}
