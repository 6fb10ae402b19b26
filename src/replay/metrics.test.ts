import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { asWorkerId } from '../protocols/ids.ts';
import { summarizeReplay, tpotOf } from './metrics.ts';
import { cdfPoints, hitRateOverTime, logTicks } from './plot.ts';
import type { ReplayResult, RequestRecord } from './replay-run.ts';

const rec = (o: Partial<RequestRecord> & Pick<RequestRecord, 'index'>): RequestRecord => ({
  workerId: asWorkerId('w0'),
  arrivalMs: 0,
  firstTokenMs: 100,
  finishMs: 100,
  inputLength: 1000,
  outputTokens: 1,
  cachedTokens: 0,
  predictedCachedTokens: 0,
  queueMs: 0,
  ...o,
});

function result(records: RequestRecord[], itlsMs: number[], simulatedMs: number): ReplayResult {
  return {
    policy: 'test',
    options: {} as ReplayResult['options'],
    records,
    itlsMs,
    workers: [
      { workerId: asWorkerId('w0'), requests: 3, preemptions: 1, steps: 10, prefillTokens: 0 },
      { workerId: asWorkerId('w1'), requests: 1, preemptions: 0, steps: 4, prefillTokens: 0 },
    ],
    simulatedMs,
    wallMs: 1234,
  };
}

describe('summarizeReplay', () => {
  // a: TTFT 100, 11 tokens over 100 → 600 ms (TPOT 50). b: TTFT 800, 1 token. c: TTFT 200, 3 tokens, TPOT 100.
  const records = [
    rec({
      index: 0,
      firstTokenMs: 100,
      finishMs: 600,
      outputTokens: 11,
      cachedTokens: 500,
      predictedCachedTokens: 512,
    }),
    rec({ index: 1, arrivalMs: 1000, firstTokenMs: 1800, finishMs: 1800, outputTokens: 1, cachedTokens: 0 }),
    rec({
      index: 2,
      arrivalMs: 1500,
      firstTokenMs: 1700,
      finishMs: 1900,
      outputTokens: 3,
      cachedTokens: 250,
    }),
    rec({ index: 3, firstTokenMs: Number.NaN, finishMs: 0, outputTokens: 0, rejected: 'too long' }),
  ];
  const itls = [...Array(10).fill(50), 100, 100];
  const m = summarizeReplay(result(records, itls, 2000), { ttftMs: 500, tpotMs: 60 });

  it('computes TTFT, TPOT, E2E and ITL as docs/design-notes.md#benchmark-metrics defines them', () => {
    assert.equal(tpotOf(records[0]!), 50);
    assert.equal(tpotOf(records[1]!), undefined);
    assert.deepEqual(m.ttftMs, { mean: 366.67, p50: 200, p90: 680, p99: 788 });
    assert.deepEqual(m.tpotMs, { mean: 75, p50: 75, p90: 95, p99: 99.5 });
    assert.equal(m.e2eMs.p50, 600);
    assert.equal(m.itlMs.p50, 50);
    assert.equal(m.itlMs.p99, 100);
  });

  it('counts tokens, hit rates, throughput, goodput and balance over completed requests', () => {
    assert.equal(m.completed, 3);
    assert.equal(m.rejected, 1);
    assert.equal(m.promptTokens, 3000);
    assert.equal(m.prefixHitRate, 0.25); // 750 / 3000
    assert.equal(m.predictedHitRate, 0.1707); // 512 / 3000
    assert.equal(m.requestThroughput, 1.5); // 3 requests in 2 s
    assert.equal(m.outputTokenThroughput, 7.5); // 15 tokens in 2 s
    // a meets both limits; b misses TTFT (800 > 500); c misses TPOT (100 > 60).
    assert.equal(m.goodput, 0.5);
    assert.equal(m.sloAttainment, 0.3333);
    assert.equal(m.imbalance, 1.5); // 3 / mean 2
    assert.equal(m.preemptions, 1);
    assert.equal(m.wallS, 1.234);
  });

  it('splits TTFT into queue time and prefill steps when every engine reported its queue time', () => {
    const queued = records.map((r, i) => ({ ...r, queueMs: [40, 500, 0, Number.NaN][i]! }));
    const split = summarizeReplay(result(queued, itls, 2000));
    assert.deepEqual(split.queueMs, { mean: 180, p50: 40, p90: 408, p99: 490.8 });
    // TTFT 100, 800, 200 minus the queue: 60, 300, 200 ms in prefill steps (the rejected one counts in neither).
    assert.equal(split.prefillStepsMs!.mean, 186.67);
    const missing = summarizeReplay(
      result([...queued.slice(0, 2), { ...queued[2]!, queueMs: Number.NaN }], itls, 2000),
    );
    assert.equal(missing.queueMs, undefined, 'no split when an engine did not report');
    assert.equal(missing.prefillStepsMs, undefined);
  });
});

describe('chart data', () => {
  it('CDF points climb from 0 to 1 through the quantiles', () => {
    const points = cdfPoints([10, 20, 30, 40, 50], 4);
    assert.deepEqual(points, [
      [10, 0],
      [20, 0.25],
      [30, 0.5],
      [40, 0.75],
      [50, 1],
    ]);
    assert.deepEqual(cdfPoints([]), []);
  });

  it('hit rate over time accumulates cached / prompt tokens by arrival', () => {
    const points = hitRateOverTime(
      [
        rec({ index: 0, arrivalMs: 0, cachedTokens: 0 }),
        rec({ index: 1, arrivalMs: 60_000, cachedTokens: 1000 }),
      ],
      2,
    );
    assert.deepEqual(points, [
      [0, 0],
      [1, 0.5],
    ]);
  });

  it('log ticks are 1-3-10 steps inside the data range', () => {
    const ticks = logTicks([
      {
        name: 'a',
        points: [
          [20, 0],
          [5000, 1],
        ],
      },
    ]);
    assert.deepEqual(ticks, [30, 100, 300, 1000, 3000]);
  });
});
