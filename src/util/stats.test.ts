import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { mean, median, medianIndex, percentile, round, summarize } from './stats.ts';

describe('stats', () => {
  it('interpolates percentiles between ranks (numpy default)', () => {
    const xs = [40, 10, 30, 20];
    assert.equal(percentile(xs, 0), 10);
    assert.equal(percentile(xs, 100), 40);
    assert.equal(percentile(xs, 50), 25);
    assert.ok(Math.abs(percentile(xs, 99) - 39.7) < 1e-9);
    assert.equal(median([3, 1, 2]), 2);
    assert.throws(() => percentile(xs, 101), RangeError);
  });

  it('returns NaN for no samples and rounds NaN to null for JSON', () => {
    assert.ok(Number.isNaN(mean([])));
    assert.ok(Number.isNaN(percentile([], 50)));
    assert.equal(round(Number.NaN), null);
    assert.equal(round(1.23456, 2), 1.23);
    assert.equal(summarize([]).count, 0);
  });

  it('summarizes mean, min, max and percentiles', () => {
    const s = summarize([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    assert.equal(s.mean, 5.5);
    assert.equal(s.min, 1);
    assert.equal(s.max, 10);
    assert.equal(s.p50, 5.5);
    assert.ok(Math.abs(s.p90 - 9.1) < 1e-9);
  });

  it('picks the run with the median value (lower middle for even counts)', () => {
    const runs = [{ v: 30 }, { v: 10 }, { v: 20 }];
    assert.equal(
      medianIndex(runs, (r) => r.v),
      2,
    );
    assert.equal(
      medianIndex([{ v: 5 }, { v: 1 }], (r) => r.v),
      1,
    );
    assert.throws(() => medianIndex([], () => 0), RangeError);
  });
});
