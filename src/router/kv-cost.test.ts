import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { asRequestId, asWorkerId } from '../protocols/ids.ts';
import { Mulberry32 } from '../util/prng.ts';
import { formatKvCost, kvCostTerms, pickByCost, softmaxWeights } from './kv-cost.ts';
import type { RouteRequest, WorkerView } from './types.ts';

function view(id: string, activePrefillTokens: number, activeBlocks: number, newBlocks: number): WorkerView {
  return {
    workerId: asWorkerId(id),
    blockSize: 16,
    totalBlocks: 1000,
    load: undefined,
    overlapBlocks: 0,
    predictedBlocks: 0,
    sharedPrefillTokens: 0,
    treeBlocks: 0,
    inFlight: { requests: 0, prefillTokens: 0, blocks: 0 },
    activePrefillTokens,
    activeBlocks,
    newBlocks,
  };
}

const request = {
  requestId: asRequestId('r'),
  tokenIds: [],
  blockHashes: [],
  isl: 256,
  blockSize: 16,
  explain: true,
} as RouteRequest;

describe('kv cost', () => {
  it('follows docs/design-notes.md#kv-cost: weight · prefill_tokens / block_size + decode_blocks', () => {
    // 64 tokens queued + (256 − 12·16 = 64) uncached = 128 tokens = 8 blocks; 14 active + 16 new = 30.
    const terms = kvCostTerms(request, view('w1', 64, 14, 16), 12, 0, 1.0);
    assert.equal(terms.prefillTokens, 128);
    assert.equal(terms.decodeBlocks, 30);
    assert.equal(terms.logit, 38);
    assert.equal(formatKvCost(terms, 1.0), '1.0*8 + 30 = 38');
    const weighted = kvCostTerms(request, view('w1', 64, 14, 16), 12, 0, 2.5);
    assert.equal(formatKvCost(weighted, 2.5), '2.5*8 + 30 = 50');
  });

  it('never counts negative prefill when the overlap covers the whole prompt', () => {
    const terms = kvCostTerms(request, view('w1', 0, 0, 0), 20, 0, 1.0);
    assert.equal(terms.prefillTokens, 0);
    assert.equal(
      formatKvCost(kvCostTerms({ ...request, isl: 24 }, view('w', 0, 1, 2), 0, 0, 1), 1),
      '1.0*1.5 + 3 = 4.5',
    );
  });

  it('temperature 0 picks the minimum; ties go to the smaller tree, then random', () => {
    const rng = new Mulberry32(1);
    const costs = [
      { ...kvCostTerms(request, view('a', 0, 10, 0), 0, 50, 1) },
      { ...kvCostTerms(request, view('b', 0, 10, 0), 0, 20, 1) },
      { ...kvCostTerms(request, view('c', 0, 12, 0), 0, 0, 1) },
    ];
    assert.equal(pickByCost(costs, 0, rng), 1);
    const tied = [costs[1]!, { ...costs[1]!, workerId: asWorkerId('d') }];
    const picks = new Set(Array.from({ length: 50 }, () => pickByCost(tied, 0, rng)));
    assert.deepEqual([...picks].sort(), [0, 1]);
  });

  it('temperature > 0 samples softmax(−normalized logit / T), reproducibly for a seed', () => {
    const costs = [0, 5, 10].map((blocks, i) => kvCostTerms(request, view(`w${i}`, 0, blocks, 0), 16, 0, 1));
    const weights = softmaxWeights(costs, 0, 10, 0.5);
    const total = weights.reduce((s, w) => s + w, 0);
    const expected = weights.map((w) => w / total); // e^0, e^-1, e^-2 normalized: .665, .245, .090
    assert.ok(Math.abs(expected[0]! - 0.665) < 0.001);
    const counts = [0, 0, 0];
    const rng = new Mulberry32(42);
    const n = 20_000;
    for (let i = 0; i < n; i++) counts[pickByCost(costs, 0.5, rng)]!++;
    for (const [i, c] of counts.entries()) {
      assert.ok(Math.abs(c / n - expected[i]!) < 0.02, `worker ${i}: ${c / n}`);
    }
    const draws = (s: number) => {
      const r = new Mulberry32(s);
      return Array.from({ length: 50 }, () => pickByCost(costs, 0.5, r));
    };
    assert.deepEqual(draws(9), draws(9));
  });

  it('equal logits at T > 0 are sampled uniformly', () => {
    const costs = [0, 1].map((i) => kvCostTerms(request, view(`w${i}`, 0, 3, 0), 0, 0, 1));
    assert.deepEqual(softmaxWeights(costs, 3, 3, 1), [1, 1]);
  });
});
