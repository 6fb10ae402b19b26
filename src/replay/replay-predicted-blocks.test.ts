/**
 * The router's predicted-block overlay in replay: a request arriving while another with the same prefix
 * is still being prefilled (its KV events not emitted yet, even on replay's zero-latency event plane)
 * counts that prefix as cached on the first one's worker, so what the router expects is what the cache
 * then serves.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runReplay } from './replay-run.ts';
import type { TraceRecord } from './trace.ts';

const BLOCK = 512;
const record = (timestampMs: number, hashIds: number[]): TraceRecord => ({
  line: 1,
  timestampMs,
  inputLength: hashIds.length * BLOCK,
  outputLength: 4,
  hashIds,
});
const DOC = [0, 1, 2, 3, 4, 5, 6, 7]; // 4,096 shared tokens
// A and C arrive together on two idle workers (one each); B shares A's document and arrives 1 ms later,
// while A's prompt is still being computed.
const TRACE = [
  record(0, [...DOC, 100]),
  record(0, [200, 201, 202, 203, 204, 205, 206, 207, 208]),
  record(1, [...DOC, 101]),
];

describe('replay with predicted blocks', () => {
  it('the request behind a same-prefix prefill expects the prefix that the cache then serves', async () => {
    const run = (predictBlocks: boolean) => runReplay(TRACE, { router: 'kv', workers: 2, predictBlocks });
    const predicted = await run(true);
    const [a, , b] = predicted.records;
    assert.equal(b!.workerId, a!.workerId, 'B joins A');
    assert.equal(b!.cachedTokens, DOC.length * BLOCK, 'served from the prefix A computed');
    assert.equal(b!.predictedCachedTokens, b!.cachedTokens, 'and the router expected exactly that');

    const eventsOnly = (await run(false)).records[2]!;
    assert.equal(eventsOnly.predictedCachedTokens, 0, 'events only: A had emitted nothing yet');
  });
});
