/**
 * An exact cache of short prompts' token ids: the same text through the same tokenizer with the same
 * `addSpecialTokens` always encodes to the same ids, so a repeated prompt (a benchmark, a retried request,
 * a fixed classification prompt, a health probe) skips the tokenizer. The key is the whole text, never a
 * hash or a prefix, so a hit is exactly what encoding would return. Least recently used entries go first
 * past `maxEntries`; texts longer than `maxTextChars` are not kept (long prompts rarely repeat whole, and
 * they would hold the memory). Like a DNS resolver's cache, but with no TTL: the answer never changes.
 */
import type { Tokenizer } from '../tokens/index.ts';
import { type PromptEntry, rememberPromptCopy } from './prompt-hashes.ts';

export interface PromptCacheOptions {
  /** Entries kept per tokenizer (default 256; 0 = no cache). */
  maxEntries?: number;
  /** Longest text cached, in UTF-16 code units (default 4096). */
  maxTextChars?: number;
}

export class PromptCache {
  /**
   * Per tokenizer: "0"|"1" (addSpecialTokens) + text → ids (and their block hashes once routed:
   * prompt-hashes.ts), in least-recently-used-first order.
   */
  private readonly byTokenizer = new WeakMap<Tokenizer, Map<string, PromptEntry>>();
  private readonly maxEntries: number;
  private readonly maxTextChars: number;
  hits = 0;
  misses = 0;

  constructor(options: PromptCacheOptions = {}) {
    this.maxEntries = options.maxEntries ?? 256;
    this.maxTextChars = options.maxTextChars ?? 4096;
  }

  /** `tokenizer.encode(text)`, from the cache when this exact text was encoded before. A fresh array. */
  encode(tokenizer: Tokenizer, text: string, addSpecialTokens: boolean): number[] {
    if (this.maxEntries === 0 || text.length > this.maxTextChars) {
      return tokenizer.encode(text, { addSpecialTokens });
    }
    let entries = this.byTokenizer.get(tokenizer);
    if (!entries) {
      entries = new Map();
      this.byTokenizer.set(tokenizer, entries);
    }
    const key = (addSpecialTokens ? '1' : '0') + text;
    const cached = entries.get(key);
    if (cached) {
      this.hits++;
      entries.delete(key); // re-insert: most recently used goes last
      entries.set(key, cached);
      const copy = cached.ids.slice();
      rememberPromptCopy(copy, cached);
      return copy;
    }
    this.misses++;
    const ids = tokenizer.encode(text, { addSpecialTokens });
    const entry: PromptEntry = { ids: ids.slice() };
    entries.set(key, entry);
    rememberPromptCopy(ids, entry);
    if (entries.size > this.maxEntries) entries.delete(entries.keys().next().value!);
    return ids;
  }
}
