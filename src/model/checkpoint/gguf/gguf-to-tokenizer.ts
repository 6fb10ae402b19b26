/**
 * llama.cpp's `tokenizer.ggml.*` metadata → a Hugging Face `tokenizer.json` + `tokenizer_config.json`, the
 * inverse of gguf-tokenizer.ts. A GGUF file carries its whole tokenizer (vocabulary, merge rules, special
 * ids, chat template); rebuilding the two JSON files lets the same tokenizer code (@huggingface/tokenizers
 * behind src/tokens) serve a `.gguf` exactly as it serves a checkpoint folder.
 *
 * Like restoring a config from a vendor's export: same entries, our field names. Byte-level BPE
 * (`tokenizer.ggml.model = "gpt2"`: merges, a named pre-tokenizer) and SentencePiece ("llama": scores instead
 * of merges, gguf-spm-tokenizer.ts) are rebuilt; anything else is refused with a message.
 */
import { ModelLoadError } from '../../../util/errors.ts';
import type { GgufMetadata } from './gguf-format.ts';
import { mergesFromScores, spmPipeline } from './gguf-spm-tokenizer.ts';
import { TOKEN_TYPE } from './gguf-tokenizer.ts';

type Json = Record<string, unknown>;

export interface RebuiltTokenizer {
  tokenizerJson: Json;
  tokenizerConfig: Json;
}

/**
 * llama.cpp's pre-tokenizer names (`tokenizer.ggml.pre`) → the tokenizer.json `pre_tokenizer` that splits
 * the same way. "gpt-2" is GPT-2's own regex (ByteLevel with use_regex); "llama-bpe" is Llama 3's.
 */
const PRE_TOKENIZERS: Record<string, Json> = {
  'gpt-2': { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
  'llama-bpe': {
    type: 'Sequence',
    pretokenizers: [
      {
        type: 'Split',
        pattern: {
          Regex:
            "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
        },
        behavior: 'Isolated',
        invert: false,
      },
      { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false },
    ],
  },
};

const BYTE_LEVEL = { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true };

/** The tokenizer files a GGUF's metadata describes; `file` only names the source in errors. */
export function tokenizerFromGguf(metadata: GgufMetadata, file: string): RebuiltTokenizer {
  const model = metadata.get('tokenizer.ggml.model')?.value;
  if (model !== 'gpt2' && model !== 'llama') {
    throw new ModelLoadError(
      `${file}: tokenizer.ggml.model is ${JSON.stringify(model)}; dhw rebuilds byte-level BPE ("gpt2") and ` +
        'SentencePiece ("llama") tokenizers from GGUF. Serve the Hugging Face checkpoint folder instead',
    );
  }
  const tokens = stringArray(metadata, 'tokenizer.ggml.tokens', file);
  const types = numberArray(metadata, 'tokenizer.ggml.token_type') ?? tokens.map(() => TOKEN_TYPE.normal);
  const typeOf = (id: number): number => types[id] ?? TOKEN_TYPE.normal;
  const { vocab, addedTokens } = vocabulary(tokens, typeOf);
  const tokenAt = (key: string): string | null => {
    const id = metadata.get(key)?.value;
    return typeof id === 'number' && tokens[id] !== undefined ? tokens[id]! : null;
  };
  const flag = (key: string, fallback: boolean): boolean => {
    const v = metadata.get(key)?.value;
    return typeof v === 'boolean' ? v : fallback;
  };
  const spm = model === 'llama';
  const bos = tokenAt('tokenizer.ggml.bos_token_id');
  // llama.cpp's defaults: SentencePiece vocabularies prepend BOS unless told otherwise, GPT-2 ones do not.
  const addBos = flag('tokenizer.ggml.add_bos_token', spm) && bos !== null;
  const unk = tokenAt('tokenizer.ggml.unknown_token_id');
  const pipeline = spm
    ? spmPipeline(flag('tokenizer.ggml.add_space_prefix', true))
    : byteLevelPipeline(metadata, file);
  const merges = spm
    ? mergesFromScores(
        tokens,
        numberArray(metadata, 'tokenizer.ggml.scores') ?? [],
        (id) => typeOf(id) === TOKEN_TYPE.normal,
      )
    : stringArray(metadata, 'tokenizer.ggml.merges', file).map(splitMerge);
  const tokenizerJson: Json = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: addedTokens,
    normalizer: pipeline.normalizer,
    pre_tokenizer: pipeline.pre_tokenizer,
    post_processor: addBos ? prependBos(bos, vocab[bos]!) : spm ? null : BYTE_LEVEL,
    decoder: pipeline.decoder,
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: unk,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: spm,
      byte_fallback: spm,
      ignore_merges: false,
      vocab,
      merges,
    },
  };
  const template = metadata.get('tokenizer.chat_template')?.value;
  const tokenizerConfig: Json = {
    bos_token: bos,
    eos_token: tokenAt('tokenizer.ggml.eos_token_id'),
    pad_token: tokenAt('tokenizer.ggml.padding_token_id'),
    unk_token: unk,
    add_bos_token: addBos,
    clean_up_tokenization_spaces: false,
    ...(typeof template === 'string' ? { chat_template: template } : {}),
  };
  return { tokenizerJson, tokenizerConfig };
}

/** Every token but the exporter's padding rows; control/unknown tokens are special added tokens. */
function vocabulary(
  tokens: string[],
  typeOf: (id: number) => number,
): { vocab: Record<string, number>; addedTokens: Json[] } {
  const vocab: Record<string, number> = {};
  const addedTokens: Json[] = [];
  tokens.forEach((text, id) => {
    const type = typeOf(id);
    if (type === TOKEN_TYPE.unused) return;
    vocab[text] = id;
    if (type === TOKEN_TYPE.control || type === TOKEN_TYPE.unknown || type === TOKEN_TYPE.userDefined) {
      const special = type !== TOKEN_TYPE.userDefined;
      addedTokens.push({
        id,
        content: text,
        single_word: false,
        lstrip: false,
        rstrip: false,
        normalized: !special,
        special,
      });
    }
  });
  return { vocab, addedTokens };
}

/** GPT-2 style: no normalizer, the pre-tokenizer `tokenizer.ggml.pre` names, byte-level decoding. */
function byteLevelPipeline(metadata: GgufMetadata, file: string): Json {
  const preName = String(metadata.get('tokenizer.ggml.pre')?.value ?? 'gpt-2');
  const pre = PRE_TOKENIZERS[preName];
  if (!pre) {
    throw new ModelLoadError(
      `${file}: tokenizer.ggml.pre "${preName}" is not supported (supported: ` +
        `${Object.keys(PRE_TOKENIZERS).join(', ')}); serve the Hugging Face checkpoint folder instead`,
    );
  }
  return { normalizer: null, pre_tokenizer: pre, decoder: { ...BYTE_LEVEL, trim_offsets: true } };
}

/** llama.cpp's `add_bos_token` as the post-processor transformers uses for it. */
function prependBos(bos: string, id: number): Json {
  return {
    type: 'TemplateProcessing',
    single: [{ SpecialToken: { id: bos, type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
    pair: [
      { SpecialToken: { id: bos, type_id: 0 } },
      { Sequence: { id: 'A', type_id: 0 } },
      { SpecialToken: { id: bos, type_id: 1 } },
      { Sequence: { id: 'B', type_id: 1 } },
    ],
    special_tokens: { [bos]: { id: bos, ids: [id], tokens: [bos] } },
  };
}

/** "Ġ t" → ["Ġ", "t"]: byte-level tokens never hold a literal space, so the first space is the separator. */
function splitMerge(merge: string): [string, string] {
  const at = merge.indexOf(' ', 1);
  return at < 0 ? [merge, ''] : [merge.slice(0, at), merge.slice(at + 1)];
}

function stringArray(metadata: GgufMetadata, key: string, file: string): string[] {
  const value = metadata.get(key)?.value;
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) {
    throw new ModelLoadError(`${file}: metadata "${key}" is missing or not a list of strings`);
  }
  return value as string[];
}

function numberArray(metadata: GgufMetadata, key: string): number[] | undefined {
  const value = metadata.get(key)?.value;
  return Array.isArray(value) ? value.map(Number) : undefined;
}
