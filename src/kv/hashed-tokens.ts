/**
 * What the KV cache reads of a request: its tokens and the hashes of its FULL blocks, computed once by
 * whoever owns the request (the engine's sequence, like vLLM's `Request.block_hashes`). The cache looks
 * prefixes up and registers blocks under these hashes but never hashes tokens itself, so a block's hash is
 * computed once per request however often the request is looked up (a request waiting for memory is
 * looked up at every engine step) or cached (a chunk, then a decode step, at a time).
 *
 *   tokenIds     [ t0 .. t3 | t4 .. t7 | t8 t9 ]     blockSize 4; the partial last block has no hash yet
 *   blockHashes  [ S0, L0   | S1, L1   ]             sequence (prefix) and local (block's own tokens) hashes
 */
import type { LocalBlockHash, SequenceHash } from '../protocols/ids.ts';
import { computeBlockHashes } from '../tokens/block-hash.ts';

export interface HashedTokens {
  readonly tokenIds: ArrayLike<number>;
  /** One entry per full block of `tokenIds`, at the cache's block size: no more, no fewer. */
  readonly blockHashes: {
    readonly local: readonly LocalBlockHash[];
    readonly sequence: readonly SequenceHash[];
  };
}

/**
 * A token list with its block hashes, for callers that hold no owner keeping them (tests, labs, tools): one
 * computation here, then every cache call reads the result.
 */
export function hashTokens(tokenIds: ArrayLike<number>, blockSize: number): HashedTokens {
  return { tokenIds, blockHashes: computeBlockHashes(tokenIds, blockSize) };
}
