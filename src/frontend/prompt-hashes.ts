/**
 * Block hashes remembered with a cached prompt: a repeated prompt that skipped the tokenizer
 * (prompt-cache.ts) also skips hashing its full blocks for the router (4 XXH3 calls and 4 chain hashes
 * for a 64-token prompt, 2–3 % of the frontend's CPU at 3,000 req/s). Like a DNS cache that keeps the
 * reverse lookup next to the forward one.
 *
 * The prompt cache hands every caller a fresh copy of the ids and registers that copy here, pointing at
 * the shared entry; `RequestBlockHashes` asks for the hashes of exactly those ids. A caller may have
 * changed its copy meanwhile, so a hit is only taken when the ids still equal the entry's, element by
 * element (64 comparisons, far cheaper than hashing): a stale or foreign array misses and is hashed.
 */
import type { BlockHashes } from '../tokens/block-hash.ts';

/** One cached prompt's ids and, once some request has hashed them, their full blocks' hashes. */
export interface PromptEntry {
  readonly ids: readonly number[];
  hashes?: { readonly blockSize: number; readonly chain: Readonly<BlockHashes> };
}

/** Each copy the prompt cache handed out → the entry it was copied from. */
const entryOfCopy = new WeakMap<readonly number[], PromptEntry>();

/** `copy` is a fresh copy of `entry.ids`, about to be handed to a caller. */
export function rememberPromptCopy(copy: readonly number[], entry: PromptEntry): void {
  entryOfCopy.set(copy, entry);
}

/**
 * The block hashes of `tokenIds` if they are an unchanged copy of a cached prompt whose blocks were hashed
 * with this block size; else undefined. The returned chain is shared: copy it before extending it.
 */
export function knownBlockHashes(
  tokenIds: readonly number[],
  blockSize: number,
): Readonly<BlockHashes> | undefined {
  const entry = entryOfCopy.get(tokenIds);
  if (!entry?.hashes || entry.hashes.blockSize !== blockSize || !sameIds(entry.ids, tokenIds))
    return undefined;
  return entry.hashes.chain;
}

/** Keep `chain` (the hashes of every full block of `tokenIds`) with the cached prompt they came from, if any. */
export function rememberBlockHashes(
  tokenIds: readonly number[],
  blockSize: number,
  chain: Readonly<BlockHashes>,
): void {
  const entry = entryOfCopy.get(tokenIds);
  if (!entry || entry.hashes || !sameIds(entry.ids, tokenIds)) return;
  const numBlocks = Math.floor(entry.ids.length / blockSize);
  if (chain.sequence.length < numBlocks) return;
  entry.hashes = {
    blockSize,
    chain: { local: chain.local.slice(0, numBlocks), sequence: chain.sequence.slice(0, numBlocks) },
  };
}

function sameIds(a: readonly number[], b: readonly number[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
