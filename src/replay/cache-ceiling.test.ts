import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { cacheCeiling, requestHitBlocks } from './cache-ceiling.ts';
import { sessionTrace, sessionTraceOptions } from './session-trace.ts';
import { sharedPrefixTrace } from './testing/replay-kit.ts';

const req = (inputLength: number, hashIds: number[]) => ({ inputLength, hashIds });

describe('cacheCeiling', () => {
  it('hand-computed: hits are the leading cached full blocks, never the whole prompt', () => {
    // Trace blocks of 4 tokens, engine blocks of 2.
    const trace = [req(8, [1, 2]), req(8, [1, 2]), req(7, [1, 3]), req(6, [4, 2])];
    const c = cacheCeiling(trace, { blockSize: 2, traceBlockSize: 4, capacityBlocks: 100 });
    // #1: 0. #2: all 4 blocks cached but at most ⌊7/2⌋ = 3 → 6 tokens. #3: block 1's 2 engine blocks → 4.
    // #4: id 4 unseen → 0 (id 2 after it is another prefix's block in a chained trace).
    assert.equal(c.infiniteHitRate, (0 + 6 + 4 + 0) / (8 + 8 + 7 + 6));
    assert.equal(c.lruHitRate, c.infiniteHitRate, 'nothing evicted at this capacity');
    assert.equal(c.capacityTokens, 200);
  });

  it('LRU at a small capacity evicts the least recently used prefix', () => {
    // Engine blocks of 2, trace blocks of 4, room for 6 engine blocks (three trace blocks).
    //   A  [1,2,90] 9 tokens: miss; caches 1, 2 (2 full engine blocks each; 90 has none)   used 4
    //   B  [3,91]   5 tokens: miss; caches 3                                                used 6
    //   A' [1,2,92] 9 tokens: hits 1, 2 = 4 blocks (the cap ⌊8/2⌋ = 4) = 8 tokens          used 6
    //   C  [4,93]   5 tokens: miss; caches 4 → over by 2: evicts 90 (0 blocks), then 3     used 6
    //   B' [3,94]   5 tokens: 3 is gone (LRU); an infinite cache hits it: ⌊4/2⌋ = 2 blocks = 4 tokens
    const trace = [req(9, [1, 2, 90]), req(5, [3, 91]), req(9, [1, 2, 92]), req(5, [4, 93]), req(5, [3, 94])];
    const c = cacheCeiling(trace, { blockSize: 2, traceBlockSize: 4, capacityBlocks: 6 });
    assert.equal(c.lruHitRate, 8 / 33);
    assert.equal(c.infiniteHitRate, 12 / 33);
    // The same, request by request (engine blocks hit): what the TTFT bound reads.
    const shape = { blockSize: 2, traceBlockSize: 4 };
    assert.deepEqual([...requestHitBlocks(trace, shape, 6)], [0, 0, 4, 0, 0]);
    assert.deepEqual([...requestHitBlocks(trace, shape, Number.POSITIVE_INFINITY)], [0, 0, 4, 0, 2]);
  });

  it('per-trace-block bookkeeping agrees with per-engine-block LRU on generated traces', () => {
    // Capacities that are not multiples of a trace block (32 engine blocks), where evicting whole trace
    // blocks differs most from evicting engine blocks one by one.
    const traces = [
      sessionTrace(sessionTraceOptions('tool-agent', { sessions: 150 })),
      sharedPrefixTrace({
        requests: 300,
        documents: 20,
        prefixBlocks: 6,
        suffixBlocks: 2,
        traceBlockSize: 512,
        gapMs: 10,
        outputLength: 4,
      }),
    ];
    for (const trace of traces) {
      for (const capacityBlocks of [1000, 3333, 20_000]) {
        const fast = cacheCeiling(trace, { blockSize: 16, traceBlockSize: 512, capacityBlocks });
        const slow = exactLru(trace, 16, 512, capacityBlocks);
        assert.ok(
          Math.abs(fast.lruHitRate - slow) < 0.01,
          `capacity ${capacityBlocks}: trace-block ${fast.lruHitRate} vs engine-block ${slow}`,
        );
      }
      const infinite = cacheCeiling(trace, { blockSize: 16, traceBlockSize: 512, capacityBlocks: Infinity });
      assert.equal(infinite.infiniteHitRate, exactLru(trace, 16, 512, Infinity));
    }
  });

  it('an engine block size that does not divide the trace block size is counted block by block', () => {
    const trace = sessionTrace(sessionTraceOptions('conversation', { sessions: 60 }));
    for (const capacityBlocks of [500, 5000]) {
      const c = cacheCeiling(trace, { blockSize: 24, traceBlockSize: 512, capacityBlocks });
      assert.equal(c.lruHitRate, exactLru(trace, 24, 512, capacityBlocks));
    }
  });
});

/** Reference: one LRU entry per engine block (what the odd-size path does), written out plainly. */
function exactLru(
  trace: ReadonlyArray<{ inputLength: number; hashIds: readonly number[] }>,
  bs: number,
  tbs: number,
  capacity: number,
): number {
  const lru = new Map<string, true>();
  let hit = 0;
  let prompt = 0;
  for (const r of trace) {
    const keys = Array.from({ length: Math.floor(r.inputLength / bs) }, (_, k) => {
      const last = (k + 1) * bs - 1;
      return `${r.hashIds[Math.floor(last / tbs)]}:${last % tbs}`;
    });
    const limit = Math.floor((r.inputLength - 1) / bs);
    let n = 0;
    while (n < limit && lru.has(keys[n]!)) n++;
    hit += n * bs;
    prompt += r.inputLength;
    for (const k of keys) {
      lru.delete(k);
      lru.set(k, true);
    }
    while (lru.size > capacity) lru.delete(lru.keys().next().value!);
  }
  return hit / prompt;
}
