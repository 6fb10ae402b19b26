import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createRng } from '../util/prng.ts';
import { DecodeTimeEstimator, PrefillRateEstimator } from './prefill-rate.ts';
import { formatTtftCost, pickByTtft, requestLoadBound, ttftCostTerms } from './ttft-cost.ts';
import type { RouteRequest, WorkerView } from './types.ts';

const request = {
  requestId: 'r',
  isl: 1000,
  blockSize: 10,
  blockHashes: [],
  tokenIds: [],
  explain: true,
} as unknown as RouteRequest;

function view(
  id: string,
  overlapBlocks: number,
  queued: number,
  running: number,
  extra: Partial<WorkerView> = {},
): WorkerView {
  return {
    workerId: id,
    blockSize: 10,
    totalBlocks: 1000,
    load: undefined,
    overlapBlocks,
    predictedBlocks: 0,
    sharedPrefillTokens: 0,
    treeBlocks: 0,
    inFlight: { requests: running, prefillTokens: queued, blocks: 0 },
    activePrefillTokens: queued,
    activeBlocks: 0,
    newBlocks: 100,
    ...extra,
  } as WorkerView;
}

describe('kv-ttft cost', () => {
  it('is (queued + uncached)/R + running · e^(−wait/D) · uncached/R, written out', () => {
    // uncached 1000 − 80·10 = 200; wait 400/20 = 20 ms; D = 20 ms → e^−1 of the 3 running still decode.
    const t = ttftCostTerms(request, view('w1', 80, 400, 3), 20, 20, 10);
    assert.equal(t.uncachedTokens, 200);
    assert.equal(t.ttftMs, 30);
    assert.ok(Math.abs(t.stillDecoding - 3 * Math.exp(-1)) < 1e-12);
    assert.ok(Math.abs(t.stallMs - (3 * Math.exp(-1) * 200) / 20) < 1e-12);
    assert.equal(t.cost, t.ttftMs + t.stallMs);
    assert.equal(
      formatTtftCost(t, 20),
      '(400q + 200u)/20 = 30ms ttft + 1.1*200u/20 = 11.04ms stall = 41.04ms',
    );
  });

  it('counts every running request as stalled when nothing is queued or D is not learned yet', () => {
    const idle = ttftCostTerms(request, view('w1', 0, 0, 4), 10, 5, 10);
    assert.equal(idle.stillDecoding, 4);
    assert.equal(idle.stallMs, (4 * 1000) / 10);
    const unknown = ttftCostTerms(request, view('w1', 0, 500, 4), 10, Number.POSITIVE_INFINITY, 10);
    assert.equal(unknown.stillDecoding, 4);
    const zero = ttftCostTerms(request, view('w1', 0, 0, 4), 10, 0, 10);
    assert.equal(zero.stillDecoding, 4, 'no 0/0');
  });

  it('a deep queue hides the stall: its decoders will be gone when this prefill starts', () => {
    // w1 caches 90 % but has 10 s of queue with D = 1 s: e^−10 of its decoders remain.
    const deep = ttftCostTerms(request, view('w1', 90, 100_000, 8), 10, 1000, 100);
    assert.ok(deep.stillDecoding < 8 * 1e-4);
  });

  it('bound = ⌈(1 + ε)(total + 1)/n⌉; the guard skips over-bound and KV-full workers unless all are', () => {
    const views = [view('w1', 0, 0, 6), view('w2', 0, 0, 0), view('w3', 0, 0, 0), view('w4', 0, 0, 0)];
    assert.equal(requestLoadBound(views, 1), 4);
    assert.equal(requestLoadBound(views, 0.25), 3);
    const costs = views.map((v, i) =>
      ttftCostTerms(request, { ...v, overlapBlocks: i === 0 ? 100 : 0 }, 10, 100, 4),
    );
    assert.equal(costs[0]!.overLoadBound, true);
    assert.notEqual(pickByTtft(costs, createRng(1, 'mulberry32')), 0);
    const full = ttftCostTerms(request, view('w5', 0, 0, 0, { activeBlocks: 950 }), 10, 100, 4);
    assert.equal(full.kvFull, true); // 950 + 100 > 1000
    const allOver = costs.map((c) => ({ ...c, overLoadBound: true }));
    assert.equal(pickByTtft(allOver, createRng(1, 'mulberry32')), 0, 'all over: cheapest');
  });
});

describe('rate and decode-time estimators', () => {
  it('rate = decayed Σ work / Σ time; the prior until the first sample; empty samples ignored', () => {
    const r = new PrefillRateEstimator(48, 0.5);
    assert.equal(r.tokensPerMs, 48);
    r.observe(0, 10);
    r.observe(100, 0);
    assert.equal(r.learned, false);
    r.observe(1000, 10);
    r.observe(200, 10);
    assert.equal(r.tokensPerMs, (0.5 * 1000 + 200) / (0.5 * 10 + 10));
  });

  it('decode time = decayed mean; infinite until the first sample', () => {
    const d = new DecodeTimeEstimator(0.5);
    assert.equal(d.meanMs, Number.POSITIVE_INFINITY);
    d.observe(100);
    d.observe(400);
    assert.equal(d.meanMs, (0.5 * 100 + 400) / 1.5);
  });
});
