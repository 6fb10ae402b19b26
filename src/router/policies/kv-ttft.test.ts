import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Router } from '../router.ts';
import { loadMetrics, routerWith, storedEvent, tokens } from '../testing/router-kit.ts';
import { KvPolicy } from './kv.ts';
import { KvTtftPolicy } from './kv-ttft.ts';

/** A clock the test moves by hand (the policy times route → first token with it). */
function manualClock() {
  let t = 0;
  return { now: () => t, advance: (ms: number) => void (t += ms) };
}

/**
 * A clock that never moves: route → first token takes 0 ms, which teaches the rate nothing, so costs stay at
 * the prior (48 tokens/ms) however long the test takes on a loaded machine (with `Date.now`, a pair that
 * crossed a millisecond tick taught it work/1 ms and scaled every cost).
 */
const stoppedClock = () => 0;

const history = tokens(0, 640); // 40 full blocks: a conversation so far
const nextTurn = [...history, ...tokens(10_000, 64)]; // + 64 new tokens: 44 blocks, 4 uncached on its worker

/** Route `id` (a prompt of its own) to `worker` only, and let it reach its first token: it is decoding there. */
function decodingOn(router: Router, worker: string, others: readonly string[], id: string, from: number) {
  router.route({
    requestId: id,
    tokenIds: tokens(from, 640),
    exclude: others.filter((w) => w !== worker) as never,
  });
  router.markPrefillDone(id);
}

describe('kv-ttft policy', () => {
  it('predicts each worker as (queued + uncached)/rate + running·uncached/rate, and logs the arithmetic', () => {
    const clock = manualClock();
    const policy = new KvTtftPolicy({ seed: 1, now: clock.now, prefillTokensPerMs: 32 });
    const { router, ids } = routerWith(policy, ['w1', 'w2']);
    router.applyKvEvent(ids[0]!, storedEvent(1, history)); // w1 holds the history
    decodingOn(router, 'w1', ['w1', 'w2'], 'a', 50_000); // one request decoding on w1 (its prefill done)
    router.route({ requestId: 'q', tokenIds: tokens(60_000, 320), exclude: [ids[0]!] }); // 320 queued on w2
    const r = router.route({ requestId: 'r', tokenIds: nextTurn });
    const scores = r.decision.scores!.map((s) => [s.workerId, s.cost]);
    // Rate not learned yet: the 32 tokens/ms given. 'a' was routed and reached its first token at t = 0,
    // which says nothing about the rate (0 ms), so it stays at the prior.
    // w1: queued 0, uncached 704 − 640 = 64, running 1 → (0 + 64)/32 = 2 ms + 1·64/32 = 2 ms → 4 ms.
    // w2: queued 320, uncached 704, running 1 (q) → (320 + 704)/32 = 32 ms + 704/32 = 22 ms → 54 ms.
    assert.deepEqual(scores, [
      ['w1', 4],
      ['w2', 54],
    ]);
    assert.equal(r.workerId, 'w1');
    assert.equal(r.decision.reason, 'min predicted delay');
  });

  it('formats the prediction as arithmetic when the decision is logged', () => {
    const policy = new KvTtftPolicy({ seed: 1, prefillTokensPerMs: 32 });
    const { router, ids } = routerWith(policy, ['w1', 'w2'], { decisionLog: 'off' });
    router.applyKvEvent(ids[0]!, storedEvent(1, history));
    const request = {
      requestId: 'r' as never,
      tokenIds: nextTurn,
      blockHashes: [],
      isl: nextTurn.length,
      blockSize: 16,
      explain: true,
    };
    const views = router.inspect({ requestId: 'r', tokenIds: nextTurn });
    const decision = policy.select(request, views);
    assert.deepEqual(
      decision.scores!.map((s) => s.formula),
      [
        '(0q + 64u)/32 = 2ms ttft + 0*64u/32 = 0ms stall = 2ms',
        '(0q + 704u)/32 = 22ms ttft + 0*704u/32 = 0ms stall = 22ms',
      ],
    );
  });

  it('learns the prefill rate from route → first token, and the rate does not change the choice', () => {
    const clock = manualClock();
    const policy = new KvTtftPolicy({ seed: 1, now: clock.now, prefillTokensPerMs: 1000 });
    const { router } = routerWith(policy, ['w1', 'w2']);
    router.route({ requestId: 'a', tokenIds: tokens(0, 800) }); // 800 tokens of work
    clock.advance(20);
    router.markPrefillDone('a'); // 800 / 20 = 40 tokens/ms
    assert.equal(policy.rate.tokensPerMs, 40);
    router.route({ requestId: 'b', tokenIds: tokens(5_000, 400) }); // to the idle worker: 400 tokens
    clock.advance(20);
    router.markPrefillDone('b'); // sums: (0.99·800 + 400) / (0.99·20 + 20) = 1192 / 39.8
    assert.ok(Math.abs(policy.rate.tokensPerMs - 1192 / 39.8) < 1e-9);
    // Same requests, a policy with another prior and no observations: the same choices.
    const other = routerWith(new KvTtftPolicy({ seed: 1, prefillTokensPerMs: 3 }), ['w1', 'w2']).router;
    const mine = routerWith(new KvTtftPolicy({ seed: 1, prefillTokensPerMs: 3000 }), ['w1', 'w2']).router;
    for (let i = 0; i < 20; i++) {
      const input = { requestId: `x${i}`, tokenIds: tokens(i * 97, 100 + ((i * 53) % 400)) };
      assert.equal(other.route(input).workerId, mine.route(input).workerId);
    }
  });

  it('keeps a long conversation on its worker where kv (Dynamo’s cost) scatters it', () => {
    // w1 holds the conversation and two other long requests decoding; w2 is idle.
    const setup = (policy: KvPolicy | KvTtftPolicy) => {
      const { router, ids } = routerWith(policy, ['w1', 'w2']);
      router.applyKvEvent(ids[0]!, storedEvent(1, history));
      decodingOn(router, 'w1', ['w1', 'w2'], 'a', 50_000);
      decodingOn(router, 'w1', ['w1', 'w2'], 'b', 60_000);
      return router;
    };
    // kv: w1 = 1.0·64/16 + (80 active + 44 new) = 128 > w2 = 1.0·704/16 + 44 = 88: the history is left behind.
    const kv = setup(new KvPolicy({ seed: 1 })).route({ requestId: 't2', tokenIds: nextTurn });
    assert.equal(kv.workerId, 'w2');
    assert.deepEqual(
      kv.decision.scores!.map((s) => s.cost),
      [128, 88],
    );
    // kv-ttft: w1 = 64 + 2·64 = 192 token-times < w2 = 704: the cache hit saves more than the stall costs.
    const ttft = setup(new KvTtftPolicy({ seed: 1, now: stoppedClock }));
    let prompt = nextTurn;
    for (let turn = 2; turn <= 6; turn++) {
      const r = ttft.route({ requestId: `t${turn}`, tokenIds: prompt });
      assert.equal(r.workerId, 'w1', `turn ${turn} stays`);
      assert.equal(r.overlapBlocks, Math.floor((prompt.length - 64) / 16));
      ttft.markPrefillDone(`t${turn}`);
      ttft.finishRequest(`t${turn}`);
      ttft.applyKvEvent('w1' as never, storedEvent(turn, prompt, 0));
      prompt = [...prompt, ...tokens(10_000 + turn * 100, 64)];
    }
  });

  it('leaves the conversation’s worker when its prefill queue costs more than recomputing elsewhere', () => {
    const { router, ids } = routerWith(new KvTtftPolicy({ seed: 1, now: stoppedClock }), ['w1', 'w2']);
    router.applyKvEvent(ids[0]!, storedEvent(1, history));
    // 1,280 uncached tokens queued on w1 (two prompts still prefilling): 1,280 + 64 + 2·64 > 704.
    router.route({ requestId: 'a', tokenIds: tokens(50_000, 640), exclude: [ids[1]!] });
    router.route({ requestId: 'b', tokenIds: tokens(60_000, 640), exclude: [ids[1]!] });
    const r = router.route({ requestId: 't2', tokenIds: nextTurn });
    assert.equal(r.workerId, 'w2');
    assert.deepEqual(
      r.decision.scores!.map((s) => s.cost * 48),
      [1280 + 64 + 128, 704],
    );
  });

  it('wait bound: leaves a worker whose queue passes the shortest by more than the prompt, stall or not', () => {
    const setup = (queued: number) => {
      const { router, ids } = routerWith(new KvTtftPolicy({ seed: 1, now: stoppedClock }), ['w1', 'w2']);
      router.applyKvEvent(ids[0]!, storedEvent(1, history));
      for (let i = 0; i < queued; i++) {
        router.route({ requestId: `q${i}`, tokenIds: tokens(50_000 + i * 1000, 700), exclude: [ids[1]!] });
      }
      decodingOn(router, 'w2', ['w1', 'w2'], 'a', 70_000);
      decodingOn(router, 'w2', ['w1', 'w2'], 'b', 80_000);
      return router;
    };
    // Two prompts queued on w1: work 1,400 + 64 = 1,464 > w2's 0 + 704 plus the prompt's 704 = 1,408.
    // Its cost, 1,464 + 2·64 = 1,592 token-times, is below w2's 704 + 2·704 = 2,112, but the bound wins.
    const r = setup(2).route({ requestId: 't2', tokenIds: nextTurn });
    assert.equal(r.workerId, 'w2');
    assert.deepEqual(
      r.decision.scores!.map((s) => s.cost * 48),
      [1592, 2112],
    );
    assert.equal(r.decision.reason, 'min predicted delay within wait bound 704t + 704t = 1408t');
    // One prompt queued: 700 + 64 = 764 ≤ 1,408, and the history stays where it is.
    const stays = setup(1).route({ requestId: 't2', tokenIds: nextTurn });
    assert.equal(stays.workerId, 'w1');
    assert.equal(stays.decision.reason, 'min predicted delay');
  });

  it('bounded loads: skips a worker past (1 + ε) × the fair share even when its cost is lowest', () => {
    const { router, ids } = routerWith(new KvTtftPolicy({ seed: 1, now: stoppedClock }), [
      'w1',
      'w2',
      'w3',
      'w4',
    ]);
    router.applyKvEvent(ids[0]!, storedEvent(1, history));
    const others = ['w1', 'w2', 'w3', 'w4'];
    for (let i = 0; i < 6; i++) decodingOn(router, 'w1', others, `d${i}`, 50_000 + i * 1000);
    // w1 cost 64 + 6·64 = 448 < 704 elsewhere, but 7 requests > ⌈2 · (6 + 1) / 4⌉ = 4.
    const r = router.route({ requestId: 't2', tokenIds: nextTurn });
    assert.notEqual(r.workerId, 'w1');
    assert.equal(r.decision.reason, 'min predicted delay within load bound 4');
    // With ε large enough the guard lets it stay.
    const loose = routerWith(
      new KvTtftPolicy({ seed: 1, loadBalanceEpsilon: 3, now: stoppedClock }),
      others,
    ).router;
    loose.applyKvEvent('w1' as never, storedEvent(1, history));
    for (let i = 0; i < 6; i++) decodingOn(loose, 'w1', others, `d${i}`, 50_000 + i * 1000);
    assert.equal(loose.route({ requestId: 't2', tokenIds: nextTurn }).workerId, 'w1');
    // ε = ∞ turns the guard off (the "no load bound" variant of the README's round 3).
    const unbounded = new KvTtftPolicy({
      seed: 1,
      loadBalanceEpsilon: Number.POSITIVE_INFINITY,
      now: stoppedClock,
    });
    const free = routerWith(unbounded, others).router;
    free.applyKvEvent('w1' as never, storedEvent(1, history));
    for (let i = 0; i < 6; i++) decodingOn(free, 'w1', others, `d${i}`, 50_000 + i * 1000);
    const stays = free.route({ requestId: 't2', tokenIds: nextTurn });
    assert.equal(stays.workerId, 'w1');
    assert.equal(stays.decision.reason, 'min predicted delay');
  });

  it('skips a worker whose KV would overflow, unless every worker would', () => {
    const { router, ids } = routerWith(new KvTtftPolicy({ seed: 1, now: stoppedClock }), ['w1', 'w2']);
    router.applyKvEvent(ids[0]!, storedEvent(1, history));
    router.updateLoad(loadMetrics('w1', { activeDecodeBlocks: 990 })); // 990 + 44 > 1000 blocks
    assert.equal(router.route({ requestId: 'r', tokenIds: nextTurn }).workerId, 'w2');
    router.finishRequest('r', 'failed'); // nothing of it stays predicted on w2
    // A report sampled while 'r' ran there may hold r's blocks; the next one was sampled after 'r' ended.
    router.updateLoad(loadMetrics('w2', { activeDecodeBlocks: 990 }));
    router.updateLoad(loadMetrics('w2', { activeDecodeBlocks: 990 }));
    assert.equal(router.route({ requestId: 's', tokenIds: nextTurn }).workerId, 'w1'); // both full: cost
  });

  it('is deterministic for a seed, and spreads new prompts over idle workers by cache size', () => {
    const run = (seed: number) => {
      const { router } = routerWith(new KvTtftPolicy({ seed }), ['w1', 'w2', 'w3', 'w4']);
      const picks: string[] = [];
      for (let i = 0; i < 40; i++) {
        const id = `r${i}`;
        picks.push(
          router.route({ requestId: id, tokenIds: tokens(i * 1000, 200 + ((i * 37) % 300)) }).workerId,
        );
        if (i % 3 === 0) router.markPrefillDone(id);
        if (i % 5 === 0) router.finishRequest(id);
      }
      return picks;
    };
    assert.deepEqual(run(7), run(7));
    assert.equal(new Set(run(7)).size, 4, 'every worker serves');
  });
});
