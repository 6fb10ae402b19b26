import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { computeBlockHashes } from '../tokens/block-hash.ts';
import type { TraceRecord } from './trace.ts';
import { TraceBlockHasher, traceToken, traceTokenIds } from './trace-tokens.ts';

const VOCAB = 32_000;
const record = (hashIds: number[], inputLength: number): TraceRecord => ({
  line: 1,
  timestampMs: 0,
  inputLength,
  outputLength: 1,
  hashIds,
});

describe('traceTokenIds', () => {
  it('gives equal tokens for equal block ids, cut at input_length', () => {
    const a = traceTokenIds(record([5, 6, 7], 1100), VOCAB, 512);
    const b = traceTokenIds(record([5, 6, 9], 1500), VOCAB, 512);
    assert.equal(a.length, 1100);
    assert.equal(b.length, 1500);
    assert.deepEqual(a.slice(0, 1024), b.slice(0, 1024)); // shared ids 5, 6
    assert.notDeepEqual(a.slice(1024, 1100), b.slice(1024, 1100)); // 7 vs 9
    assert.equal(a[600], traceToken(6, 600 - 512, VOCAB));
    assert.ok(a.every((t) => Number.isInteger(t) && t >= 0 && t < VOCAB));
    assert.ok(new Set(a).size > 1000); // tokens look random, not repeated
    assert.deepEqual(traceTokenIds(record([1_000_000_000_000], 64), VOCAB, 512).length, 64);
  });
});

describe('TraceBlockHasher', () => {
  it('equals hashing the expanded tokens, shared prefixes included', () => {
    const hasher = new TraceBlockHasher(16, 512, VOCAB);
    const records = [record([1, 2, 3], 1500), record([1, 2, 4], 1100), record([1], 40), record([2, 1], 700)];
    for (const r of records) {
      const tokens = traceTokenIds(r, VOCAB, 512);
      assert.deepEqual(hasher.sequenceHashes(r, tokens), computeBlockHashes(tokens, 16).sequence);
    }
    assert.equal(hasher.size, 4); // ids 1, 2, 3, 4; "2 under another parent" is hashed but not memoised
  });

  it('falls back to hashing tokens when engine blocks straddle trace blocks', () => {
    const hasher = new TraceBlockHasher(24, 512, VOCAB);
    const r = record([1, 2, 3], 1500);
    const tokens = traceTokenIds(r, VOCAB, 512);
    assert.deepEqual(hasher.sequenceHashes(r, tokens), computeBlockHashes(tokens, 24).sequence);
  });
});
