/**
 * A lower bound on a prompt's token count from its byte length, known before tokenizing: every token of a
 * vocabulary covers at most `maxTokenBytes` bytes of text (its longest entry; byte-level and metaspace forms
 * only make entries longer than the text they cover), so a text of N bytes is at least N / maxTokenBytes
 * tokens. When that bound already exceeds the context window the request is refused at once, without
 * spending seconds of CPU tokenizing megabytes that could never be served. Like a proxy rejecting by
 * Content-Length before reading the body.
 *
 * Tokenizers whose normalizer or pre-tokenizer may DELETE text (BERT's whitespace split, a charsmap, a
 * regex replace) get no bound: a megabyte of spaces may be zero tokens there. Unicode normalization and
 * lowercasing may shrink text by up to 3x (e.g. Hangul jamo → syllables), which the bound allows for.
 */
import type { Tokenizer } from '../tokens/index.ts';
import { InvalidRequestError } from '../util/errors.ts';

type Component = { type?: string; [key: string]: unknown } | null | undefined;

/** The most a Unicode normalization or case fold can shrink UTF-8 text (3 jamo of 3 bytes → 1 syllable). */
const UNICODE_SHRINK = 3;

/** Per tokenizer: bytes per token at most (shrink included), or undefined when no bound holds. */
const bounds = new WeakMap<Tokenizer, { bytesPerToken: number | undefined }>();

export function maxBytesPerToken(tokenizer: Tokenizer): number | undefined {
  let bound = bounds.get(tokenizer);
  if (bound === undefined) {
    const json = tokenizer.files.tokenizerJson;
    const shrink =
      normalizerShrink(json.normalizer as Component) * preTokenizerShrink(json.pre_tokenizer as Component);
    bound = { bytesPerToken: Number.isFinite(shrink) ? longestTokenBytes(tokenizer) * shrink : undefined };
    bounds.set(tokenizer, bound);
  }
  return bound.bytesPerToken;
}

/**
 * Throws the context-length 400 when a prompt of `textBytes` bytes is provably too long for
 * `contextLength` tokens; does nothing when it may fit (the tokenizer decides) or no bound holds.
 */
export function checkPromptBytes(
  tokenizer: Tokenizer,
  textBytes: number,
  contextLength: number,
  param: string,
): void {
  const bytesPerToken = maxBytesPerToken(tokenizer);
  if (bytesPerToken === undefined) return;
  const atLeast = Math.floor(textBytes / bytesPerToken);
  if (atLeast < contextLength) return;
  throw new InvalidRequestError(
    `This model's maximum context length is ${contextLength} tokens, but the prompt is ${textBytes} bytes, ` +
      `which is at least ${atLeast} tokens (no token of this model covers more than ${bytesPerToken} bytes). ` +
      'Please shorten the prompt.',
    param,
    'context_length_exceeded',
  );
}

function longestTokenBytes(tokenizer: Tokenizer): number {
  let longest = 1;
  for (let id = 0; id < tokenizer.vocabSize; id++) {
    const token = tokenizer.idToToken(id);
    if (token !== undefined) longest = Math.max(longest, Buffer.byteLength(token));
  }
  return longest;
}

function normalizerShrink(config: Component): number {
  if (!config) return 1;
  switch (config.type) {
    case 'Sequence':
      return ((config.normalizers as Component[]) ?? []).reduce((f, c) => f * normalizerShrink(c), 1);
    case 'Prepend':
      return 1;
    case 'Replace': {
      const pattern = (config.pattern as { String?: string } | undefined)?.String;
      const content = typeof config.content === 'string' ? config.content : '';
      return pattern !== undefined && Buffer.byteLength(content) >= Buffer.byteLength(pattern)
        ? 1
        : Number.POSITIVE_INFINITY;
    }
    case 'NFC':
    case 'NFD':
    case 'NFKC':
    case 'NFKD':
    case 'Lowercase':
      return UNICODE_SHRINK;
    default:
      return Number.POSITIVE_INFINITY;
  }
}

function preTokenizerShrink(config: Component): number {
  if (!config) return 1;
  switch (config.type) {
    case 'Sequence':
      return ((config.pretokenizers as Component[]) ?? []).reduce((f, c) => f * preTokenizerShrink(c), 1);
    case 'ByteLevel':
    case 'Metaspace':
    case 'Digits':
    case 'Punctuation':
    case 'UnicodeScripts':
      return 1;
    case 'Split':
      return config.behavior === 'Removed' ? Number.POSITIVE_INFINITY : 1;
    default:
      return Number.POSITIVE_INFINITY;
  }
}
