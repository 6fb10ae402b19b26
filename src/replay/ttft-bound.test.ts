/**
 * The TTFT lower bound: its pieces against the mocker's timing model and brute force, and the property
 * that makes it a bound: no policy's measured mean TTFT (the real router against mocker workers, exact
 * and fast simulators) is below it, on a cache-friendly trace (the "alone" part binds) and on a
 * saturated one (the pooled queue binds).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeMs, prefillMs } from '../mocker/timing-model.ts';
import { MOCKER_STEP_TIMING } from '../protocols/step-timing.ts';
import { summarizeReplay } from './metrics.ts';
import { REPLAY_DEFAULTS } from './replay-options.ts';
import { runReplay } from './replay-run.ts';
import { sessionTrace, sessionTraceOptions } from './session-trace.ts';
import { mixedTrace } from './synthetic-trace.ts';
import type { TraceRecord } from './trace.ts';
import { alonePrefillMs, leastMsPerToken, srptResponseTimes, ttftLowerBound } from './ttft-bound.ts';

const BUDGET = REPLAY_DEFAULTS.maxNumBatchedTokens;

function boundFor(trace: readonly TraceRecord[], workers: number, numKvBlocks: number) {
  return ttftLowerBound(trace, {
    workers,
    timeScale: 1,
    blockSize: REPLAY_DEFAULTS.blockSize,
    traceBlockSize: REPLAY_DEFAULTS.traceBlockSize,
    numKvBlocks,
    maxNumBatchedTokens: BUDGET,
    maxModelLen: numKvBlocks * REPLAY_DEFAULTS.blockSize,
  });
}

describe('TTFT lower bound', () => {
  it('a prompt alone costs what the mocker charges, at most: one chunk exactly, long prompts no more than its chunks', () => {
    assert.equal(alonePrefillMs(MOCKER_STEP_TIMING, 4096, BUDGET), prefillMs(4096));
    assert.equal(alonePrefillMs(MOCKER_STEP_TIMING, 1, BUDGET), decodeMs(0)); // a sampled 1-token chunk
    const engine = prefillMs(8192) + prefillMs(8192) + prefillMs(20_000 - 16_384); // the engine's greedy chunks
    const bound = alonePrefillMs(MOCKER_STEP_TIMING, 20_000, BUDGET);
    assert.ok(bound <= engine, `${bound} ≤ ${engine}`);
    let brute = Number.POSITIVE_INFINITY; // every number of equal chunks that fits the budget
    for (let n = 3; n <= 40; n++) brute = Math.min(brute, n * prefillMs(20_000 / n));
    assert.ok(Math.abs(bound - brute) < 1e-9, `${bound} = ${brute}`);
  });

  it('the least cost per prompt token is the cheapest step size of the timing model', () => {
    let brute = Number.POSITIVE_INFINITY;
    for (let t = 1; t <= BUDGET; t++) brute = Math.min(brute, prefillMs(t) / t);
    assert.ok(Math.abs(leastMsPerToken(MOCKER_STEP_TIMING, BUDGET) - brute) < 1e-12);
  });

  it('SRPT: a short job preempts a long one', () => {
    // Job 0 (10 ms of work) at t = 0, job 1 (2 ms) at t = 1, one server: job 1 ends at 3, job 0 at 12.
    assert.deepEqual(srptResponseTimes([0, 1], [10, 2], 1), [12, 2]);
    // Twice as fast: job 1 ends at 2 (response 1), job 0 at 6.
    assert.deepEqual(srptResponseTimes([0, 1], [10, 2], 2), [6, 1]);
    assert.deepEqual(srptResponseTimes([5, 0], [1, 1], 1), [1, 1]);
  });

  it('no policy beats it: conversations on the exact and fast simulators', async () => {
    const trace = sessionTrace(sessionTraceOptions('conversation', { sessions: 40, seed: 3 }));
    const numKvBlocks = 8192;
    const bound = boundFor(trace, 2, numKvBlocks);
    assert.ok(bound.infinite.meanMs <= bound.lru.meanMs + 1e-9, 'an infinite cache hits at least as much');
    for (const sim of ['exact', 'fast'] as const)
      for (const router of ['round-robin', 'kv', 'kv-delay']) {
        const m = summarizeReplay(await runReplay(trace, { router, workers: 2, numKvBlocks, sim, seed: 1 }));
        assert.equal(
          m.ttftBoundMs?.infinite,
          Math.round(bound.infinite.meanMs * 100) / 100,
          'in every report',
        );
        assert.ok(
          bound.infinite.meanMs <= m.ttftMs.mean!,
          `${sim} ${router}: ${bound.infinite.meanMs} ≤ ${m.ttftMs.mean}`,
        );
      }
  });

  it('a closed-loop replay has none (its arrivals depend on the service)', async () => {
    const trace = sessionTrace(sessionTraceOptions('tool-agent', { sessions: 6, seed: 1 }));
    const result = await runReplay(trace, { router: 'kv', workers: 2, concurrency: 2, sim: 'fast' });
    assert.equal(result.ttftBound, undefined);
    assert.equal(summarizeReplay(result).ttftBoundMs, undefined);
  });

  it('no policy beats it when the cluster is saturated, where the pooled queue is the binding part', async () => {
    const trace = mixedTrace({
      requests: 60,
      rate: 40,
      longTokens: 8192,
      shortTokens: 256,
      longFraction: 0.5,
      outputTokens: 8,
      seed: 2,
    });
    const bound = boundFor(trace, 2, 4096);
    assert.ok(bound.infinite.pooledMs > bound.infinite.aloneMs, 'the queue binds');
    for (const router of ['round-robin', 'least-loaded', 'kv-delay']) {
      const m = summarizeReplay(await runReplay(trace, { router, workers: 2, numKvBlocks: 4096, seed: 1 }));
      assert.ok(
        bound.infinite.meanMs <= m.ttftMs.mean!,
        `${router}: ${bound.infinite.meanMs} ≤ ${m.ttftMs.mean}`,
      );
    }
  });
});
