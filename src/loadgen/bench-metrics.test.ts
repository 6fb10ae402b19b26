/** The metric arithmetic on hand-made results, where every number can be checked by hand. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  computeBenchResult,
  itlsOf,
  maxConcurrency,
  meetsSlo,
  parseGoodput,
  type RequestResult,
  tpotOf,
  ttftOf,
} from './bench-metrics.ts';

function result(
  sentAt: number,
  chunks: number[],
  endedAt: number,
  extra: Partial<RequestResult> = {},
): RequestResult {
  return {
    sentAt,
    chunkTimes: chunks,
    endedAt,
    outputTokens: chunks.length,
    inputTokens: 10,
    cachedTokens: 0,
    ...extra,
  };
}

test('TTFT, ITL, TPOT and E2E of one request follow the §8 definitions', () => {
  const r = result(100, [150, 160, 175, 185], 190);
  assert.equal(ttftOf(r), 50);
  assert.deepEqual(itlsOf(r), [10, 15, 10]);
  // (E2E 90 − TTFT 50) / (4 − 1)
  assert.ok(Math.abs(tpotOf(r) - 40 / 3) < 1e-9);
  assert.ok(Number.isNaN(tpotOf(result(0, [5], 6))), 'one-token replies have no TPOT');
});

test('a run: counts, throughput over the duration, percentiles, failures kept out of latency', () => {
  const ok = [result(0, [10, 20], 20), result(0, [30, 40], 40), result(500, [510, 520], 520)];
  const failed = result(0, [], 5, { error: 'HTTP 503: busy' });
  const r = computeBenchResult([...ok, failed], 1000, { ttft: 20 });
  assert.equal(r.completed, 3);
  assert.equal(r.failed, 1);
  assert.deepEqual(r.errors, { 'HTTP 503: busy': 1 });
  assert.equal(r.request_throughput, 3);
  assert.equal(r.total_output_tokens, 6);
  assert.equal(r.output_throughput, 6);
  assert.equal(r.total_token_throughput, 36);
  assert.equal(r.mean_ttft_ms, 16.667, 'TTFTs 10, 30 and 10 ms');
  assert.equal(r.median_ttft_ms, 10);
  assert.equal(r.mean_itl_ms, 10);
  assert.equal(r.p99_e2el_ms, 39.6, 'E2E 20, 20, 40: numpy-style interpolation');
  assert.equal(r.request_goodput, 2, 'two requests met TTFT ≤ 20 ms');
  assert.equal(r.max_concurrent_requests, 3);
});

test('goodput SLOs: parse, and a request must meet every one given', () => {
  assert.deepEqual(parseGoodput('ttft:500 tpot:50'), { ttft: 500, tpot: 50 });
  assert.deepEqual(parseGoodput('e2el:1000,ttft:2'), { e2el: 1000, ttft: 2 });
  assert.throws(() => parseGoodput('latency:5'), /ttft:MS tpot:MS e2el:MS/);
  assert.throws(() => parseGoodput('ttft:-1'), /positive/);
  const r = result(0, [100, 200, 300], 300);
  assert.equal(meetsSlo(r, { ttft: 100, tpot: 100 }), true);
  assert.equal(meetsSlo(r, { ttft: 99 }), false);
  assert.equal(meetsSlo(r, { tpot: 99 }), false);
});

test('peak concurrency counts overlapping requests, not totals', () => {
  assert.equal(maxConcurrency([result(0, [], 10), result(10, [], 20), result(15, [], 30)]), 2);
});
