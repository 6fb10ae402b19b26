/**
 * Packs the new tokens of several sequences into one ForwardBatch: the engine's model runner calls
 * `makeBatch` every step with the block tables its KV manager handed out (tests and labs call it too).
 *
 * Systems analogy: a NIC driver filling a descriptor ring. Each token gets its place in the flat batch,
 * its position, and the physical cache slot its K/V goes to (`slotOf`: the block table as a page table).
 */
import { type ForwardBatch, type SequenceSlice, slotOf } from './forward-batch.ts';

export interface SequenceChunk {
  /** New tokens of this sequence. */
  tokens: ArrayLike<number>;
  /** Position of the first new token (= tokens already in the cache). */
  startPos: number;
  /** Physical blocks of the sequence, in logical order; must cover startPos + tokens.length. */
  blockTable: Int32Array;
  /** False for a prompt chunk whose last row needs no logits (a chunked prefill that is not done yet). */
  wantsLogits?: boolean;
  /** Logits for every row of this chunk (prompt scoring), whatever `wantsLogits` says of the last. */
  allLogits?: boolean;
}

/** Which rows get logits: each sequence's last new token, or every row (reference tests). */
export type LogitsWanted = 'last' | 'all';

/** Packs sequences end to end into one batch, computing positions and slots from the block tables. */
export function makeBatch(
  chunks: SequenceChunk[],
  blockSize: number,
  logits: LogitsWanted = 'last',
): ForwardBatch {
  const numTokens = chunks.reduce((sum, c) => sum + c.tokens.length, 0);
  const tokenIds = new Int32Array(numTokens);
  const positions = new Int32Array(numTokens);
  const slotMapping = new Int32Array(numTokens);
  const seqs: SequenceSlice[] = [];
  const logitsRows: number[] = [];
  let row = 0;
  for (const chunk of chunks) {
    const contextLen = chunk.startPos + chunk.tokens.length;
    if (chunk.blockTable.length * blockSize < contextLen) {
      throw new RangeError(
        `block table of ${chunk.blockTable.length} blocks cannot hold ${contextLen} tokens`,
      );
    }
    seqs.push({ queryStart: row, queryLen: chunk.tokens.length, contextLen, blockTable: chunk.blockTable });
    for (let i = 0; i < chunk.tokens.length; i++, row++) {
      const pos = chunk.startPos + i;
      tokenIds[row] = chunk.tokens[i]!;
      positions[row] = pos;
      slotMapping[row] = slotOf(chunk.blockTable, pos, blockSize);
      const last = i === chunk.tokens.length - 1;
      if (logits === 'all' || chunk.allLogits === true || (last && chunk.wantsLogits !== false))
        logitsRows.push(row);
    }
  }
  return { tokenIds, positions, slotMapping, seqs, logitsRows: Int32Array.from(logitsRows) };
}
