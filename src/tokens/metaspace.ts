/**
 * Our own `Metaspace` pre-tokenizer and decoder (SentencePiece's "▁ marks a word start"), matching Hugging Face's
 * Rust `tokenizers`. The library version ignores `split` (it never cuts at `▁`), ignores the legacy
 * `add_prefix_space: false`, and its decoder strips only one leading space where the reference drops every `▁`
 * of the first token. Systems analogy: line-ending normalisation at a protocol boundary (CRLF ⇄ LF), done in
 * exactly the peer's way so both ends agree byte for byte.
 *
 *   "Hey  friend" --replace ' '→▁, prepend ▁--> "▁Hey▁▁friend" --split MergedWithNext--> ▁Hey | ▁ | ▁friend
 */
import { Decoder, PreTokenizer } from '@huggingface/tokenizers';
import { splitByPattern } from './split-pre-tokenizer.ts';

/** What the library passes along: which stretch between added tokens this text is (0 = start of input). */
interface PreTokenizeTextOptions {
  section_index?: number;
}

export type PrependScheme = 'always' | 'never' | 'first';

/** tokenizer.json's Metaspace entry, old (`add_prefix_space`) or new (`prepend_scheme`, `split`) style. */
export interface MetaspaceConfig {
  type: 'Metaspace';
  replacement?: string;
  prepend_scheme?: PrependScheme;
  add_prefix_space?: boolean;
  split?: boolean;
}

/** Old files say `add_prefix_space: false` for what newer files call `prepend_scheme: "never"`. */
export function prependSchemeOf(config: MetaspaceConfig): PrependScheme {
  if (config.add_prefix_space === false) return 'never';
  return config.prepend_scheme ?? 'always';
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

export class ExactMetaspacePreTokenizer extends PreTokenizer {
  private readonly replacement: string;
  private readonly scheme: PrependScheme;
  private readonly split: boolean;
  private readonly replacementPattern: RegExp;

  constructor(config: MetaspaceConfig) {
    super();
    this.replacement = config.replacement ?? '\u2581';
    this.scheme = prependSchemeOf(config);
    this.split = config.split ?? true;
    this.replacementPattern = new RegExp(escapeRegExp(this.replacement), 'gu');
  }

  /**
   * `first` prepends only to the piece that starts the whole input: the first piece of section 0 (sections are
   * the stretches between added tokens), which is the reference's "original offset == 0".
   */
  override pre_tokenize(text: string | string[], options?: PreTokenizeTextOptions): string[] {
    const pieces = Array.isArray(text) ? text : [text];
    const startsInput = options?.section_index === undefined || options.section_index === 0;
    return pieces.flatMap((piece, i) => this.preTokenizePiece(piece, startsInput && i === 0));
  }

  pre_tokenize_text(text: string, options?: PreTokenizeTextOptions): string[] {
    return this.pre_tokenize(text, options);
  }

  private preTokenizePiece(piece: string, startsInput: boolean): string[] {
    let normalized = piece.replaceAll(' ', this.replacement);
    const prepend = this.scheme === 'always' || (this.scheme === 'first' && startsInput);
    if (prepend && !normalized.startsWith(this.replacement)) normalized = this.replacement + normalized;
    if (!this.split) return normalized.length > 0 ? [normalized] : [];
    return splitByPattern(normalized, this.replacementPattern, 'MergedWithNext');
  }
}

export class ExactMetaspaceDecoder extends Decoder {
  private readonly replacement: string;
  private readonly scheme: PrependScheme;

  constructor(config: MetaspaceConfig) {
    super(config as never);
    this.replacement = config.replacement ?? '\u2581';
    this.scheme = prependSchemeOf(config);
  }

  decode_chain(tokens: string[]): string[] {
    return tokens.map((token, i) => {
      // The reference removes every replacement char of the first token (not only the leading one).
      const firstWithPrefix = i === 0 && this.scheme !== 'never';
      return token.replaceAll(this.replacement, firstWithPrefix ? '' : ' ');
    });
  }
}
