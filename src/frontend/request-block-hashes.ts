/**
 * The sequence hashes of one request's prompt blocks, as the router needs them on every routing attempt
 * (first try, retry, migration), computed once per request and, for a repeated prompt from the prompt
 * cache, once per prompt (prompt-hashes.ts). Like a connection's cached route lookup: the first packet
 * pays for it, the rest reuse it.
 */
import type { SequenceHash } from '../protocols/ids.ts';
import { appendBlockHashes, type BlockHashes } from '../tokens/block-hash.ts';
import { knownBlockHashes, rememberBlockHashes } from './prompt-hashes.ts';

/**
 * The sequence hashes of one request's full blocks, kept across its routing attempts. A retry routes the
 * same tokens and gets the same array back; a migration routes prompt + streamed tokens, and only the
 * blocks those tokens complete are hashed (the chain continues from the last full block).
 */
export class RequestBlockHashes {
  /** Every full block hashed so far (local and sequence hashes), extended as the token list grows. */
  private readonly chain: BlockHashes = { local: [], sequence: [] };
  private hashes: readonly SequenceHash[] = [];

  constructor(readonly blockSize: number) {}

  /** Hashes of every full block of `tokenIds`: the same token list on every call, possibly longer. */
  of(tokenIds: readonly number[]): readonly SequenceHash[] {
    const numBlocks = Math.floor(tokenIds.length / this.blockSize);
    if (numBlocks !== this.hashes.length) {
      if (this.chain.sequence.length === 0) this.startFromCachedPrompt(tokenIds);
      appendBlockHashes(this.chain, tokenIds, this.blockSize);
      // A new array rather than the growing one: the router's in-flight ledger may still hold the previous one.
      this.hashes = this.chain.sequence.slice(0, numBlocks);
    }
    return this.hashes;
  }

  /** A repeated prompt from the prompt cache: take its blocks' hashes, or leave ours for the next repeat. */
  private startFromCachedPrompt(tokenIds: readonly number[]): void {
    const known = knownBlockHashes(tokenIds, this.blockSize);
    if (known) {
      this.chain.local.push(...known.local);
      this.chain.sequence.push(...known.sequence);
      return;
    }
    appendBlockHashes(this.chain, tokenIds, this.blockSize);
    rememberBlockHashes(tokenIds, this.blockSize, this.chain);
  }
}
