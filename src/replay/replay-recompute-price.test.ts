/**
 * `kv-delay`'s recompute price (router README, round 6) end to end in replay: the real router against
 * fast-simulator workers on small generated tool-agent traces at 4× arrivals, 8 workers. Checks behaviour
 * in virtual time, not timings: with the price the cache serves at least as much and the mean first token
 * comes no later than without it, on every seed (each copy of a prefix it avoids is prefill no worker does).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { summarizeReplay } from './metrics.ts';
import { runReplay } from './replay-run.ts';
import { sessionTrace, sessionTraceOptions } from './session-trace.ts';

async function run(seed: number, recomputePrice: boolean) {
  const trace = sessionTrace(sessionTraceOptions('tool-agent', { sessions: 150, seed }));
  const result = await runReplay(trace, {
    router: 'kv-delay',
    policyOptions: { recomputePrice },
    workers: 8,
    timeScale: 0.25,
    sim: 'fast',
  });
  const m = summarizeReplay(result);
  return { requests: trace.length, served: m.completed, hit: m.prefixHitRate ?? 0, ttft: m.ttftMs.mean ?? 0 };
}

describe('kv-delay recompute price in replay', () => {
  for (const seed of [1, 2, 3]) {
    it(`tool-agent seed ${seed}: more prefix hits and no later first tokens than without it`, async () => {
      const priced = await run(seed, true);
      const unpriced = await run(seed, false);
      assert.equal(priced.served, priced.requests);
      assert.equal(unpriced.served, unpriced.requests);
      assert.ok(priced.hit > unpriced.hit, `hit rate ${priced.hit} vs ${unpriced.hit} without the price`);
      assert.ok(priced.ttft <= unpriced.ttft, `TTFT mean ${priced.ttft} vs ${unpriced.ttft} ms`);
    });
  }
});
