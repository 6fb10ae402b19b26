import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ReplayConfigError } from './errors.ts';
import { MIXED_TRACE_DEFAULTS, mixedTrace } from './synthetic-trace.ts';
import { toJsonLines } from './testing/replay-kit.ts';
import { parseTrace } from './trace.ts';

const BASE = { ...MIXED_TRACE_DEFAULTS, requests: 2000, rate: 10, seed: 7 };

describe('mixedTrace', () => {
  it('is deterministic for a seed and differs across seeds', () => {
    assert.deepEqual(mixedTrace(BASE), mixedTrace(BASE));
    assert.notDeepEqual(mixedTrace(BASE), mixedTrace({ ...BASE, seed: 8 }));
  });

  it('mixes exactly two prompt lengths at about the requested share', () => {
    const trace = mixedTrace(BASE);
    assert.equal(trace.length, 2000);
    const long = trace.filter((r) => r.inputLength === 8192).length;
    const short = trace.filter((r) => r.inputLength === 200).length;
    assert.equal(long + short, 2000);
    // 2000 Bernoulli(0.2) draws: mean 400, standard deviation about 18.
    assert.ok(long > 330 && long < 470, `long requests: ${long}`);
    assert.ok(trace.every((r) => r.outputLength === 256));
  });

  it('arrives as a Poisson process at the given rate, in time order', () => {
    const trace = mixedTrace(BASE);
    const gaps = trace.slice(1).map((r, i) => r.timestampMs - trace[i]!.timestampMs);
    assert.ok(gaps.every((g) => g >= 0));
    assert.equal(trace[0]!.timestampMs, 0);
    const meanGap = gaps.reduce((a, b) => a + b, 0) / gaps.length;
    assert.ok(Math.abs(meanGap - 100) < 10, `mean gap ${meanGap} ms at 10 req/s`);
    // Exponential gaps: the standard deviation equals the mean (a fixed-interval generator would give 0).
    const sd = Math.sqrt(gaps.reduce((a, g) => a + (g - meanGap) ** 2, 0) / gaps.length);
    assert.ok(Math.abs(sd - meanGap) < 15, `sd ${sd} vs mean ${meanGap}`);
  });

  it('keeps arrival times when only the mix changes', () => {
    const a = mixedTrace({ ...BASE, longFraction: 0.1 }).map((r) => r.timestampMs);
    const b = mixedTrace({ ...BASE, longFraction: 0.5 }).map((r) => r.timestampMs);
    assert.deepEqual(a, b);
    assert.ok(mixedTrace({ ...BASE, longFraction: 0 }).every((r) => r.inputLength === 200));
    assert.ok(mixedTrace({ ...BASE, longFraction: 1 }).every((r) => r.inputLength === 8192));
  });

  it('gives every request its own blocks and parses back as a valid trace', () => {
    const trace = mixedTrace({ ...BASE, requests: 50 });
    const ids = trace.flatMap((r) => r.hashIds);
    assert.equal(new Set(ids).size, ids.length, 'no two prompts share a block');
    assert.deepEqual(
      trace.map((r) => r.hashIds.length),
      trace.map((r) => (r.inputLength === 8192 ? 16 : 1)),
    );
    const parsed = parseTrace(toJsonLines(trace));
    assert.deepEqual(parsed, trace);
  });

  it('names the flag of a bad option', () => {
    assert.throws(() => mixedTrace({ ...BASE, rate: 0 }), /--rate must be .* > 0, got 0/);
    assert.throws(
      () => mixedTrace({ ...BASE, longFraction: 1.5 }),
      /--long-fraction must be between 0 and 1/,
    );
    assert.throws(() => mixedTrace({ ...BASE, requests: 0 }), ReplayConfigError);
    assert.throws(() => mixedTrace({ ...BASE, shortTokens: 2.5 }), /--short-tokens must be an integer ≥ 1/);
  });
});
