/**
 * StreamingDetokenizer: turns a stream of generated token ids into a stream of text deltas, one `push` per token.
 * Contract: the concatenation of every `push` and the final `flush` equals `tokenizer.decode(allIds)` (minus the
 * prompt's text when `promptIds` are given); no text is ever emitted twice; a delta never ends in a half-built
 * character (an emoji split over byte tokens `<0xF0><0x9F>...` yields '' until its last byte arrives).
 * Systems analogy: a TCP receive buffer that only hands complete frames to the application.
 *
 * Technique (vLLM / HF TGI "prefix offset / read offset"): decoding token by token is wrong, because a token's
 * text depends on its neighbours (SentencePiece drops the leading space of the first token; byte tokens only
 * form a character together). So we keep a small window of already-emitted tokens as context:
 *
 *   ids:  ... | prefixOffset ........ readOffset | new ids |
 *               ^ context, already emitted        ^ not yet emitted
 *   prefixText = decode(ids[prefixOffset:readOffset])
 *   fullText   = decode(ids[prefixOffset:])
 *   delta      = fullText after prefixText, emitted only if it grew and does not end in U+FFFD
 */
import type { Tokenizer } from './tokenizer.ts';

/** How many prompt tokens serve as the first context window (vLLM uses 5). */
const INITIAL_CONTEXT_TOKENS = 5;
const REPLACEMENT_CHAR = '\uFFFD';

export interface StreamingDetokenizerOptions {
  skipSpecialTokens?: boolean;
  /** The prompt, so the first generated token is decoded in context (e.g. keeps " Paris" after "capital is"). */
  promptIds?: readonly number[];
}

export class StreamingDetokenizer {
  private readonly ids: number[];
  private readonly skipSpecialTokens: boolean;
  /** Start of the context window: tokens before it never influence new text. */
  private prefixOffset: number;
  /** Tokens before this have had their text emitted. */
  private readOffset: number;
  private emitted = '';

  constructor(
    private readonly tokenizer: Tokenizer,
    opts: StreamingDetokenizerOptions = {},
  ) {
    this.skipSpecialTokens = opts.skipSpecialTokens ?? false;
    this.ids = [...(opts.promptIds ?? [])];
    this.readOffset = this.ids.length;
    this.prefixOffset = Math.max(0, this.readOffset - INITIAL_CONTEXT_TOKENS);
  }

  /** All text emitted so far (pushes and flush), excluding the prompt. */
  get text(): string {
    return this.emitted;
  }

  /** Add one generated token; returns the new text it completes ('' while a character is still incomplete). */
  push(tokenId: number): string {
    this.ids.push(tokenId);
    return this.emitPending(false);
  }

  /**
   * Add a generated token without emitting its text yet: the next `push` or `flush` emits it with theirs, in
   * one decode instead of two per token (for a caller that reads the text only at the end).
   */
  append(tokenId: number): void {
    this.ids.push(tokenId);
  }

  /** End of stream: emit whatever is held back, even an incomplete character (as a full decode would show it). */
  flush(): string {
    return this.emitPending(true);
  }

  private emitPending(final: boolean): string {
    if (this.readOffset === this.ids.length) return '';
    const prefixText = this.decode(this.ids.slice(this.prefixOffset, this.readOffset));
    const fullText = this.decode(this.ids.slice(this.prefixOffset));
    const grew = fullText.length > prefixText.length;
    if (!final && (!grew || fullText.endsWith(REPLACEMENT_CHAR))) return '';
    const delta = grew ? fullText.slice(prefixText.length) : '';
    this.prefixOffset = this.readOffset;
    this.readOffset = this.ids.length;
    this.emitted += delta;
    return delta;
  }

  private decode(ids: number[]): string {
    return this.tokenizer.decode(ids, { skipSpecialTokens: this.skipSpecialTokens });
  }
}
