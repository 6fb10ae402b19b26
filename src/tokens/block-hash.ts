/**
 * Block hashes: the content addresses of KV blocks (docs/design-notes.md#block-hashes), like a
 * content-addressed store's keys.
 *
 *   tokens     [ t0 .. t15 | t16 .. t31 | t32 .. t40 ]      blockSize 16; the last block is partial
 *   local      [ L0        | L1         ]                   XXH3-64(seed 1337, token ids as LE u32)
 *   sequence   [ S0 = L0   | S1 = XXH3-64(seed 1337, LE u64 S0 ‖ LE u64 L1) ]
 *
 * Only FULL blocks are hashed: a partial block is still being written. The local hash names a block's
 * tokens alone; the sequence hash names the whole prefix, so two requests share block i only if they
 * agree on every token up to the end of block i. The router computes the same hashes from token ids,
 * which is how it can tell which worker already holds a prompt's prefix without asking.
 *
 * Hashing itself is XXH3-64 (`xxh3.ts`, our own TypeScript transcription of xxHash 0.8), synchronous and
 * allocation-free up to the final bigint.
 */
import type { LocalBlockHash, SequenceHash } from '../protocols/ids.ts';
import { xxh3, xxh3Seed } from './xxh3.ts';

/** Dynamo's seed for block hashes; routers and workers must agree on it. */
export const BLOCK_HASH_SEED = 1337;

const SEED = xxh3Seed(BigInt(BLOCK_HASH_SEED));

// Reused encode buffer: token ids or hash pairs are laid out here as little-endian integers.
let scratch = new Uint8Array(256);
let scratchView = new DataView(scratch.buffer);

/** XXH3-64 of a byte string with a fixed 64-bit seed. */
export function createXxh3(seed: bigint): (bytes: Uint8Array) => bigint {
  const seeded = xxh3Seed(seed);
  return (bytes) =>
    xxh3(new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), 0, bytes.length, seeded);
}

function ensureScratch(bytes: number): void {
  if (scratch.length >= bytes) return;
  scratch = new Uint8Array(Math.max(bytes, scratch.length * 2));
  scratchView = new DataView(scratch.buffer);
}

/** XXH3-64 with seed 1337 of `bytes`, as an unsigned bigint. */
export function xxh3Seeded(bytes: Uint8Array): bigint {
  return xxh3(new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), 0, bytes.length, SEED);
}

/** Local hash of `tokenIds[start .. start + blockSize)`: XXH3-64 of the ids as little-endian u32. */
export function hashBlockTokens(
  tokenIds: ArrayLike<number>,
  start: number,
  blockSize: number,
): LocalBlockHash {
  const bytes = blockSize * 4;
  ensureScratch(bytes);
  for (let i = 0; i < blockSize; i++) scratchView.setUint32(i * 4, tokenIds[start + i]!, true);
  return xxh3(scratchView, 0, bytes, SEED) as LocalBlockHash;
}

/** Sequence hash of a block: its local hash if it starts the sequence, else XXH3-64(LE parent ‖ LE local). */
export function chainBlockHash(parent: SequenceHash | null, local: LocalBlockHash): SequenceHash {
  if (parent === null) return local as bigint as SequenceHash;
  ensureScratch(16);
  scratchView.setBigUint64(0, parent, true);
  scratchView.setBigUint64(8, local, true);
  return xxh3(scratchView, 0, 16, SEED) as SequenceHash;
}

export interface BlockHashes {
  local: LocalBlockHash[];
  sequence: SequenceHash[];
}

/**
 * Local and sequence hashes of every full block of `tokenIds`, in order.
 * `maxBlocks` stops early (a prefix lookup never needs the block holding the last token).
 */
export function computeBlockHashes(
  tokenIds: ArrayLike<number>,
  blockSize: number,
  maxBlocks = Number.POSITIVE_INFINITY,
): BlockHashes {
  const hashes: BlockHashes = { local: [], sequence: [] };
  appendBlockHashes(hashes, tokenIds, blockSize, maxBlocks);
  return hashes;
}

/**
 * Extend `hashes` (those of an append-only token list's first blocks) with the blocks of `tokenIds` that
 * have filled since: hashing starts at block `hashes.sequence.length` and stops at the first partial block,
 * so a list that grows one token at a time hashes each block once (vLLM's request block hasher, which
 * keeps `Request.block_hashes` up to date the same way). Returns how many blocks were added.
 */
export function appendBlockHashes(
  hashes: BlockHashes,
  tokenIds: ArrayLike<number>,
  blockSize: number,
  maxBlocks = Number.POSITIVE_INFINITY,
): number {
  const { local, sequence } = hashes;
  const first = sequence.length;
  const numBlocks = Math.min(Math.floor(tokenIds.length / blockSize), maxBlocks);
  let parent: SequenceHash | null = first === 0 ? null : sequence[first - 1]!;
  for (let i = first; i < numBlocks; i++) {
    const l = hashBlockTokens(tokenIds, i * blockSize, blockSize);
    parent = chainBlockHash(parent, l);
    local.push(l);
    sequence.push(parent);
  }
  return Math.max(0, numBlocks - first);
}
