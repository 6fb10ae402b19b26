/**
 * From a trace's block ids to a prompt the engine can take. A Mooncake record says only "blocks 198, 199, ...
 * of 512 tokens"; the engine and router need token ids. Token j of trace block b is a pure function of
 * (b, j), so equal ids give equal tokens and the trace's prefix sharing survives any engine block size:
 *
 *   hash_ids   [ 198                      | 199                      | 200 (partial)   ]   512 tokens each
 *   tokens     [ tok(198,0) .. tok(198,511) | tok(199,0) .. tok(199,511) | tok(200,0) .. ]   cut at input_length
 *   blocks     [ 16 | 16 | ... 32 engine blocks per trace block ...                  ]   blockSize 16
 *
 * Like replaying an access log against a cache with synthetic bodies: the bytes are invented, but two
 * requests for the same URL get the same bytes, so hit rates are real.
 *
 * `TraceBlockHasher` gives the router each prompt's block hashes without rehashing shared prefixes: the
 * sequence hashes inside trace block b depend only on b and the hash before it, so they are computed once
 * per id (the same values `computeBlockHashes` gives for the expanded tokens).
 */
import type { SequenceHash } from '../protocols/ids.ts';
import { chainBlockHash, computeBlockHashes, hashBlockTokens } from '../tokens/block-hash.ts';
import type { TraceRecord } from './trace.ts';

/** splitmix32 finalizer: spreads a 32-bit input over all output bits. */
function mix32(x: number): number {
  let z = (x + 0x9e3779b9) | 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

/** A 32-bit seed for block id `hashId` (ids up to 2^53 are folded, high half mixed first). */
function blockSeed(hashId: number): number {
  const high = Math.floor(hashId / 0x100000000);
  return mix32((hashId >>> 0) ^ mix32(high));
}

/** Token at `offset` inside trace block `hashId`. */
export function traceToken(hashId: number, offset: number, vocabSize: number): number {
  return mix32(blockSeed(hashId) + offset) % vocabSize;
}

/** The first `count` tokens of trace block `hashId`, written into `out` at `at`. */
function writeBlockTokens(out: number[], at: number, hashId: number, count: number, vocabSize: number): void {
  const seed = blockSeed(hashId);
  for (let j = 0; j < count; j++) out[at + j] = mix32(seed + j) % vocabSize;
}

/** The record's prompt: `inputLength` token ids, `traceBlockSize` per hash id, the last block cut short. */
export function traceTokenIds(record: TraceRecord, vocabSize: number, traceBlockSize: number): number[] {
  const tokens = new Array<number>(record.inputLength);
  record.hashIds.forEach((id, k) => {
    const start = k * traceBlockSize;
    writeBlockTokens(tokens, start, id, Math.min(traceBlockSize, record.inputLength - start), vocabSize);
  });
  return tokens;
}

interface MemoEntry {
  /** Sequence hash just before this trace block (null at the start of a prompt). */
  parent: SequenceHash | null;
  /** Sequence hashes of the trace block's engine blocks, all of them (as if the block were full). */
  hashes: SequenceHash[];
}

/**
 * Per-prompt sequence hashes for the router, memoised per trace block id. When the trace block size is not
 * a multiple of the engine's, engine blocks straddle trace blocks and it falls back to hashing the tokens.
 */
export class TraceBlockHasher {
  private readonly memo = new Map<number, MemoEntry>();
  private readonly perTraceBlock: number;
  private scratch: number[];

  constructor(
    readonly blockSize: number,
    readonly traceBlockSize: number,
    readonly vocabSize: number,
  ) {
    this.perTraceBlock = traceBlockSize % blockSize === 0 ? traceBlockSize / blockSize : 0;
    this.scratch = new Array<number>(traceBlockSize);
  }

  /** Trace block ids whose hashes are memoised (a memory figure for reports). */
  get size(): number {
    return this.memo.size;
  }

  /** Sequence hashes of the prompt's full engine blocks, equal to computeBlockHashes(tokens).sequence. */
  sequenceHashes(record: TraceRecord, tokens: readonly number[]): SequenceHash[] {
    if (this.perTraceBlock === 0) return computeBlockHashes(tokens, this.blockSize).sequence;
    const numFull = Math.floor(record.inputLength / this.blockSize);
    const out: SequenceHash[] = [];
    let parent: SequenceHash | null = null;
    for (const id of record.hashIds) {
      if (out.length >= numFull) break;
      const hashes = this.blockHashes(id, parent);
      const take = Math.min(hashes.length, numFull - out.length);
      for (let i = 0; i < take; i++) out.push(hashes[i]!);
      parent = out[out.length - 1]!;
    }
    return out;
  }

  private blockHashes(id: number, parent: SequenceHash | null): SequenceHash[] {
    const cached = this.memo.get(id);
    if (cached !== undefined && cached.parent === parent) return cached.hashes;
    const hashes = this.hashTraceBlock(id, parent);
    // A trace whose ids are chained never shows one id under two parents; if it does, keep the first.
    if (cached === undefined) this.memo.set(id, { parent, hashes });
    return hashes;
  }

  private hashTraceBlock(id: number, parent: SequenceHash | null): SequenceHash[] {
    writeBlockTokens(this.scratch, 0, id, this.traceBlockSize, this.vocabSize);
    const hashes: SequenceHash[] = [];
    let prev = parent;
    for (let i = 0; i < this.perTraceBlock; i++) {
      prev = chainBlockHash(prev, hashBlockTokens(this.scratch, i * this.blockSize, this.blockSize));
      hashes.push(prev);
    }
    return hashes;
  }
}
