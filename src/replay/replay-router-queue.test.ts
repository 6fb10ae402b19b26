/**
 * The router queue in replay (`--router-queue-threshold`, `--router-queue-policy`), in both simulators:
 * a request that arrives while every worker has a prefill backlog waits in the router, its wait counts in
 * its TTFT and queue time, and the waiting requests go in fcfs or wspt order.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { RouterQueueOptions } from '../router/index.ts';
import { ReplayConfigError } from './errors.ts';
import { type RequestRecord, runReplay, type SimMode } from './index.ts';
import type { TraceRecord } from './trace.ts';

const TRACE_BLOCK = 512;

/** Requests arriving together at t = 0, request i with `blocks[i]` trace blocks of its own (no sharing). */
function burst(blocks: readonly number[]): TraceRecord[] {
  let nextId = 1;
  return blocks.map((n, i) => ({
    line: i + 1,
    timestampMs: 0,
    inputLength: n * TRACE_BLOCK,
    outputLength: 4,
    hashIds: Array.from({ length: n }, () => nextId++),
  }));
}

async function replay(trace: TraceRecord[], sim: SimMode, routerQueue?: RouterQueueOptions) {
  const result = await runReplay(trace, {
    router: 'round-robin',
    workers: 1,
    numKvBlocks: 4096,
    sim,
    ...(routerQueue ? { routerQueue } : {}),
  });
  return [...result.records].sort((a, b) => a.index - b.index);
}

/** Request indexes in the order their first tokens came out. */
const firstTokenOrder = (records: readonly RequestRecord[]) =>
  [...records].sort((a, b) => a.firstTokenMs - b.firstTokenMs).map((r) => r.index);

describe('router queue in replay', () => {
  const trace = burst([8, 6, 2, 4]); // 4096, 3072, 1024, 2048 tokens, all at t = 0, one worker

  for (const sim of ['fast', 'exact'] as const) {
    it(`${sim}: fcfs routes in arrival order, one prefill at a time; the wait is in TTFT and queue time`, async () => {
      const records = await replay(trace, sim, { threshold: 0 });
      assert.deepEqual(firstTokenOrder(records), [0, 1, 2, 3]);
      for (const r of records) {
        assert.equal(r.arrivalMs, 0, 'the record keeps the arrival time, not the routing time');
        assert.ok(r.queueMs <= r.firstTokenMs - r.arrivalMs + 1e-9);
      }
      // Each waited in the router for the prefill before it: it was routed no earlier than that first token.
      for (let i = 1; i < records.length; i++) {
        assert.ok(records[i]!.queueMs >= records[i - 1]!.firstTokenMs - 1e-9, `request ${i} queue time`);
      }
    });

    it(`${sim}: wspt sends the fewest new tokens first, and its mean TTFT is lower on this burst`, async () => {
      const wspt = await replay(trace, sim, { threshold: 0, policy: 'wspt' });
      const fcfs = await replay(trace, sim, { threshold: 0 });
      // Request 0 found the worker idle and went at once; the other three waited and went shortest first.
      assert.deepEqual(firstTokenOrder(wspt), [0, 2, 3, 1]);
      const mean = (rs: readonly RequestRecord[]) => rs.reduce((s, r) => s + r.firstTokenMs, 0) / rs.length;
      assert.ok(mean(wspt) < mean(fcfs), `wspt ${mean(wspt)} ms vs fcfs ${mean(fcfs)} ms`);
    });

    it(`${sim}: off (the default), the whole burst is routed at once and queues in the engine`, async () => {
      const records = await replay(trace, sim);
      // Routed together: the engine starts request 1's prefill in request 0's last chunk, before its first token.
      assert.ok(records[1]!.queueMs < records[0]!.firstTokenMs);
      assert.equal(records.length, 4);
    });
  }

  it('threshold 1: a backlog up to one step budget (8,192 tokens) still has room, past it requests wait', async () => {
    const records = await replay(burst([3, 3, 3, 3, 3, 3, 3]), 'fast', { threshold: 1 });
    // 1,536 tokens each: the 6th sees a backlog of 7,680 and goes (all six start in the first step); the
    // 7th sees 9,216 and waits in the router until the first prompt's first token.
    for (let i = 0; i < 6; i++) assert.equal(records[i]!.queueMs, 0, `request ${i}`);
    assert.ok(records[0]!.firstTokenMs > 0);
    assert.ok(records[6]!.queueMs >= records[0]!.firstTokenMs);
  });

  it('is refused on a disaggregated replay and with a negative threshold, naming the fix', async () => {
    await assert.rejects(
      runReplay(trace, {
        router: 'round-robin',
        prefillWorkers: 1,
        decodeWorkers: 1,
        routerQueue: { threshold: 0 },
      }),
      (err) => err instanceof ReplayConfigError && /applies to aggregated replays/.test(err.message),
    );
    await assert.rejects(
      runReplay(trace, { router: 'round-robin', workers: 1, routerQueue: { threshold: -1 } }),
      (err) => err instanceof ReplayConfigError && /threshold must be a number ≥ 0/.test(err.message),
    );
  });
});
