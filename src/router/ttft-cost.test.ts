import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createRng } from '../util/prng.ts';
import { PrefillRateEstimator } from './prefill-rate.ts';
import { applyWaitBound, formatTtftCost, pickByTtft, requestLoadBound, ttftCostTerms } from './ttft-cost.ts';
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
  it('is (queued + uncached)/R + running · uncached/R, written out', () => {
    // uncached 1000 − 80·10 = 200; (400 + 200)/20 = 30 ms; 3 · 200/20 = 30 ms.
    const t = ttftCostTerms(request, view('w1', 80, 400, 3), 20, 10);
    assert.equal(t.uncachedTokens, 200);
    assert.equal(t.ttftMs, 30);
    assert.equal(t.stallMs, 30);
    assert.equal(t.cost, 60);
    assert.equal(formatTtftCost(t, 20), '(400q + 200u)/20 = 30ms ttft + 3*200u/20 = 30ms stall = 60ms');
    const cached = ttftCostTerms(request, view('w1', 100, 0, 5), 20, 10);
    assert.equal(cached.cost, 0, 'a full hit on an idle queue costs nothing, whatever runs there');
  });

  it('bound = ⌈(1 + ε)(total + 1)/n⌉; the guard skips over-bound and KV-full workers unless all are', () => {
    const views = [view('w1', 0, 0, 6), view('w2', 0, 0, 0), view('w3', 0, 0, 0), view('w4', 0, 0, 0)];
    assert.equal(requestLoadBound(views, 1), 4);
    assert.equal(requestLoadBound(views, 0.25), 3);
    const costs = views.map((v, i) =>
      ttftCostTerms(request, { ...v, overlapBlocks: i === 0 ? 100 : 0 }, 10, 4),
    );
    assert.equal(costs[0]!.overLoadBound, true);
    assert.equal(costs[0]!.cost, 0);
    assert.notEqual(pickByTtft(costs, createRng(1, 'mulberry32')), 0);
    const full = ttftCostTerms(request, view('w5', 0, 0, 0, { activeBlocks: 950 }), 10, 4);
    assert.equal(full.kvFull, true); // 950 + 100 > 1000
    const allOver = costs.map((c) => ({ ...c, overLoadBound: true }));
    assert.equal(pickByTtft(allOver, createRng(1, 'mulberry32')), 0, 'all over: cheapest');
  });
});

describe('kv-ttft wait bound', () => {
  it('skips a worker whose queued + uncached passes the least anywhere + the prompt, even when cheapest', () => {
    // isl 1000. w1 holds 90 of its 100 blocks: uncached 100, 2,000 queued, 5 running:
    //   cost (2000 + 100)/10 + 5·100/10 = 260 ms; work 2,100.
    // w2 holds nothing: uncached 1,000, idle queue, 5 running: cost 1000/10 + 5·1000/10 = 600 ms; work 1,000.
    // Bound = min work 1,000 + isl 1,000 = 2,000 < 2,100: w1 is skipped although its cost is lower.
    const costs = [
      ttftCostTerms(request, view('w1', 90, 2000, 5), 10, 100),
      ttftCostTerms(request, view('w2', 0, 0, 5), 10, 100),
    ];
    assert.deepEqual(
      costs.map((c) => c.cost),
      [260, 600],
    );
    assert.equal(applyWaitBound(costs, request.isl), 2000);
    assert.deepEqual(
      costs.map((c) => c.overWaitBound),
      [true, false],
    );
    assert.equal(pickByTtft(costs, createRng(1, 'mulberry32')), 1);
    assert.equal(
      formatTtftCost(costs[0]!, 10),
      '(2000q + 100u)/10 = 210ms ttft + 5*100u/10 = 50ms stall = 260ms [over wait bound]',
    );
    // 1,800 queued: work 1,900 ≤ 2,000, so the cache hit wins.
    const shorter = [
      ttftCostTerms(request, view('w1', 90, 1800, 5), 10, 100),
      ttftCostTerms(request, view('w2', 0, 0, 5), 10, 100),
    ];
    applyWaitBound(shorter, request.isl);
    assert.equal(pickByTtft(shorter, createRng(1, 'mulberry32')), 0);
  });

  it('counts only the workers the load guard keeps for the least work, and always keeps that worker', () => {
    // w1 is over the load bound with nothing queued: its work (1,000) does not set the bound;
    // w2 (work 3,000) and w3 (work 3,500) are the candidates: bound 3,000 + 1,000 = 4,000 keeps both.
    const costs = [
      { ...ttftCostTerms(request, view('w1', 0, 0, 0), 10, 100), overLoadBound: true },
      ttftCostTerms(request, view('w2', 0, 2000, 1), 10, 100),
      ttftCostTerms(request, view('w3', 50, 3000, 0), 10, 100),
    ];
    assert.equal(applyWaitBound(costs, request.isl), 4000);
    assert.deepEqual(
      costs.map((c) => c.overWaitBound),
      [false, false, false],
    );
    assert.equal(pickByTtft(costs, createRng(1, 'mulberry32')), 2); // 350 ms < 400 ms
  });
});

describe('prefill rate estimator', () => {
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
});
