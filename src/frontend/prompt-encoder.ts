/**
 * Prompts → token ids without stalling the event loop: the size is checked on the text's bytes first
 * (prompt-bound.ts: a prompt provably longer than the context is a 400 before any tokenizing), then short
 * texts are encoded inline and long ones on a tokenizer thread (tokenize-pool.ts). One 4 MB prompt costs
 * its own client seconds, never everyone else's. Like a proxy that answers small requests on its event loop
 * and hands bulk work (gzip of a big body) to a worker pool.
 */
import type { ChatMessageParam } from '../protocols/openai.ts';
import type { Tokenizer } from '../tokens/index.ts';
import { type ChatPromptOptions, chatPromptText, completionPromptIds } from './preprocessor.ts';
import { checkPromptBytes } from './prompt-bound.ts';
import { PromptCache, type PromptCacheOptions } from './prompt-cache.ts';
import type { ServedModel } from './served-model.ts';
import { TokenizePool } from './tokenize-pool.ts';

/**
 * Texts longer than this (bytes) are tokenized on a thread: ~8 KiB is ~10-15 ms of encoding here, about
 * what a thread round trip saves once the text is longer.
 */
export const DEFAULT_OFF_THREAD_BYTES = 8 * 1024;

export interface PromptEncoderOptions {
  /** Tokenizer threads (default 1); 0 = always inline (the bound still applies). */
  threads?: number;
  /** Texts at least this long (bytes) go to a thread (default DEFAULT_OFF_THREAD_BYTES). */
  offThreadBytes?: number;
  /** The exact cache of short prompts' ids (prompt-cache.ts); `{ maxEntries: 0 }` turns it off. */
  cache?: PromptCacheOptions;
}

export class PromptEncoder {
  private readonly pool: TokenizePool | undefined;
  private readonly offThreadBytes: number;
  readonly cache: PromptCache;

  constructor(options: PromptEncoderOptions = {}) {
    const threads = options.threads ?? 1;
    this.pool = threads > 0 ? new TokenizePool(threads) : undefined;
    this.offThreadBytes = options.offThreadBytes ?? DEFAULT_OFF_THREAD_BYTES;
    this.cache = new PromptCache(options.cache);
  }

  /** Chat messages → prompt ids: template, size bound on the rendered text, then encode. */
  async chat(
    model: ServedModel,
    messages: readonly ChatMessageParam[],
    options: ChatPromptOptions = {},
  ): Promise<number[]> {
    const { text, addSpecialTokens } = chatPromptText(model.tokenizer, messages, options);
    return this.encode(model, text, addSpecialTokens, 'messages');
  }

  /** A completions prompt (text or ids) → prompt ids; ids are only checked against the vocabulary. */
  async completion(model: ServedModel, prompt: string | number[]): Promise<number[]> {
    if (typeof prompt !== 'string') {
      return completionPromptIds(model.tokenizer, prompt, model.engine.info.vocabSize);
    }
    return this.encode(model, prompt, true, 'prompt');
  }

  /** Chat messages → ids with no context bound (POST /tokenize counts prompts of any length). */
  async chatUnbounded(
    model: ServedModel,
    messages: readonly ChatMessageParam[],
    options: ChatPromptOptions = {},
  ): Promise<number[]> {
    const { text, addSpecialTokens } = chatPromptText(model.tokenizer, messages, options);
    return this.encodeText(model.tokenizer, text, addSpecialTokens);
  }

  /** Text → ids with no context bound, off the event loop when long. */
  textUnbounded(model: ServedModel, text: string, addSpecialTokens: boolean): Promise<number[]> {
    return this.encodeText(model.tokenizer, text, addSpecialTokens);
  }

  close(): Promise<void> {
    return this.pool?.close() ?? Promise.resolve();
  }

  private async encode(
    model: ServedModel,
    text: string,
    addSpecialTokens: boolean,
    param: string,
  ): Promise<number[]> {
    const bytes = Buffer.byteLength(text);
    checkPromptBytes(model.tokenizer, bytes, model.engine.info.contextLength, param);
    return this.encodeText(model.tokenizer, text, addSpecialTokens, bytes);
  }

  private async encodeText(
    tokenizer: Tokenizer,
    text: string,
    addSpecialTokens: boolean,
    bytes = Buffer.byteLength(text),
  ): Promise<number[]> {
    if (this.pool && bytes >= this.offThreadBytes) return this.pool.encode(tokenizer, text, addSpecialTokens);
    return this.cache.encode(tokenizer, text, addSpecialTokens);
  }
}
