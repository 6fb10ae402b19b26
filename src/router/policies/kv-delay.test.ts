import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeStepMs, MOCKER_STEP_TIMING } from '../../protocols/step-timing.ts';
import { OutputLengthEstimator } from '../decode-pressure.ts';
import type { Router } from '../router.ts';
import { routerWith, storedEvent, tokens } from '../testing/router-kit.ts';
import { KvDelayPolicy } from './kv-delay.ts';
import { KvTtftPolicy } from './kv-ttft.ts';

/** route → first token takes 0 ms: the rate stays at the prior given (see kv-ttft.test.ts). */
const stoppedClock = () => 0;
const published = { stepTiming: MOCKER_STEP_TIMING };

const history = tokens(0, 640); // 40 full blocks
const nextTurn = [...history, ...tokens(10_000, 64)]; // 44 blocks, 4 uncached where the history is

/** Route `id` (a prompt of its own, `n` tokens) to `worker` only and let it reach its first token. */
function decodingOn(
  router: Router,
  worker: string,
  all: readonly string[],
  id: string,
  from: number,
  n = 640,
) {
  router.route({
    requestId: id,
    tokenIds: tokens(from, n),
    exclude: all.filter((w) => w !== worker) as never,
  });
  router.markPrefillDone(id);
}

/** Teach the policy a mean output length: one request that generated `outputTokens`. */
function finishedWith(router: Router, outputTokens: number) {
  router.route({ requestId: 'taught', tokenIds: tokens(900_000, 32) });
  router.markPrefillDone('taught');
  router.finishRequest('taught', 'done', outputTokens);
}

describe('kv-delay policy', () => {
  it('prices the decode slowdown its KV puts on the running batch with the published step model', () => {
    const policy = new KvDelayPolicy({
      seed: 1,
      now: stoppedClock,
      prefillTokensPerMs: 32,
      decodePressure: true,
    });
    const { router } = routerWith(policy, ['w1', 'w2'], { explainAlways: true }, published);
    finishedWith(router, 64); // N = 64 output tokens
    assert.equal(policy.output.mean, 64);
    decodingOn(router, 'w1', ['w1', 'w2'], 'a', 50_000); // 40 blocks active on w1, one sequence decoding
    const r = router.route({ requestId: 'r', tokenIds: tokens(60_000, 320) }); // 20 new blocks anywhere
    // w1: u = 40/1000; the request adds 20 blocks + N/2 = 32 output tokens = 2 blocks: u' = 0.062.
    //     d(u) = 5.74 + 54.01·0.04 − 25.74·0.04² = 7.859 ms, d(u') = 8.990 ms (Dynamo's mocker fit)
    //     pressure = 1 running · 64/2 steps shared · (8.990 − 7.859) ms = 36.17 ms
    //     cost = 320/32 ttft + 1·320/32 stall + 36.17 = 56.17 ms
    // w2: nothing decoding there: 320/32 = 10 ms.
    const slowdown = decodeStepMs(MOCKER_STEP_TIMING, 0.062) - decodeStepMs(MOCKER_STEP_TIMING, 0.04);
    assert.ok(Math.abs(slowdown - (8.98967544 - 7.859216)) < 1e-9);
    const [w1, w2] = r.decision.scores!;
    assert.ok(Math.abs(w1!.cost - (20 + 32 * slowdown)) < 1e-9);
    assert.equal(w2!.cost, 10);
    assert.equal(r.workerId, 'w2');
    assert.equal(
      w1!.formula,
      '(0q + 320u)/32 = 10ms ttft + 1*320u/32 = 10ms stall + 1*64t/2*(8.99-7.86)ms = 36.17ms decode = 56.17ms',
    );
    assert.equal(
      w2!.formula,
      '(0q + 320u)/32 = 10ms ttft + 0*320u/32 = 0ms stall + 0*64t/2*(6.92-5.74)ms = 0ms decode = 10ms',
    );
  });

  it('prices no decode without a published step model, before a request has ended, or by default', () => {
    const unpublished = new KvDelayPolicy({
      seed: 1,
      now: stoppedClock,
      prefillTokensPerMs: 32,
      decodePressure: true,
    });
    const a = routerWith(unpublished, ['w1', 'w2'], { explainAlways: true }).router;
    finishedWith(a, 64);
    decodingOn(a, 'w1', ['w1', 'w2'], 'a', 50_000);
    const noModel = a.route({ requestId: 'r', tokenIds: tokens(60_000, 320) }).decision.scores!;
    assert.deepEqual(
      noModel.map((s) => s.formula),
      [
        '(0q + 320u)/32 = 10ms ttft + 1*320u/32 = 10ms stall = 20ms',
        '(0q + 320u)/32 = 10ms ttft + 0*320u/32 = 0ms stall = 10ms',
      ],
    );
    const untaught = new KvDelayPolicy({
      seed: 1,
      now: stoppedClock,
      prefillTokensPerMs: 32,
      decodePressure: true,
    });
    const b = routerWith(untaught, ['w1', 'w2'], { explainAlways: true }, published).router;
    decodingOn(b, 'w1', ['w1', 'w2'], 'a', 50_000);
    assert.equal(b.route({ requestId: 'r', tokenIds: tokens(60_000, 320) }).decision.scores![0]!.cost, 20);
    const byDefault = new KvDelayPolicy({ seed: 1, now: stoppedClock, prefillTokensPerMs: 32 });
    const c = routerWith(byDefault, ['w1', 'w2'], {}, published).router;
    finishedWith(c, 64);
    decodingOn(c, 'w1', ['w1', 'w2'], 'a', 50_000);
    assert.equal(c.route({ requestId: 'r', tokenIds: tokens(60_000, 320) }).decision.scores![0]!.cost, 20);
  });

  it('waits no longer than the most a cache saves: a tighter bound than kv-ttft’s whole prompt', () => {
    const setup = (router: Router) => {
      router.applyKvEvent('w1' as never, storedEvent(1, history)); // w1 saves 640 of the 704 tokens
      router.route({ requestId: 'q', tokenIds: tokens(50_000, 1300), exclude: ['w2' as never] }); // queued on w1
      decodingOn(router, 'w2', ['w1', 'w2'], 'a', 70_000);
      decodingOn(router, 'w2', ['w1', 'w2'], 'b', 80_000);
      return router.route({ requestId: 't2', tokenIds: nextTurn });
    };
    // w1: work 1,300 queued + 64 uncached = 1,364; w2: 0 + 704. kv-delay's bound: 704 + 640 saved = 1,344.
    const delay = setup(routerWith(new KvDelayPolicy({ seed: 1, now: stoppedClock }), ['w1', 'w2']).router);
    assert.equal(delay.workerId, 'w2');
    assert.equal(delay.decision.reason, 'min predicted delay within wait bound 704t + 640t saved = 1344t');
    // kv-ttft's bound is 704 + 704 = 1,408: it stays behind the queue (its cost 1,364 + 2·64 < 704 + 2·704).
    const ttft = setup(routerWith(new KvTtftPolicy({ seed: 1, now: stoppedClock }), ['w1', 'w2']).router);
    assert.equal(ttft.workerId, 'w1');
  });

  it('has no load bound by default: a conversation stays with many requests on its worker', () => {
    const all = ['w1', 'w2', 'w3', 'w4'];
    const stay = (router: Router) => {
      router.applyKvEvent('w1' as never, storedEvent(1, history));
      for (let i = 0; i < 6; i++) decodingOn(router, 'w1', all, `d${i}`, 50_000 + i * 1000);
      return router.route({ requestId: 't2', tokenIds: nextTurn }).workerId;
    };
    // w1: 64 + 6·64 = 448 token-times < 704 elsewhere; kv-ttft's ε = 1 bound (⌈2·7/4⌉ = 4) sends it away.
    assert.equal(stay(routerWith(new KvDelayPolicy({ seed: 1, now: stoppedClock }), all).router), 'w1');
    assert.notEqual(stay(routerWith(new KvTtftPolicy({ seed: 1, now: stoppedClock }), all).router), 'w1');
    const bounded = new KvDelayPolicy({ seed: 1, now: stoppedClock, loadBalanceEpsilon: 1 });
    assert.notEqual(stay(routerWith(bounded, all).router), 'w1');
  });

  it('prices a copy of a prefix another worker holds at the cluster’s mean running count (round 6)', () => {
    const route = (options: { recomputePrice?: boolean }) => {
      const policy = new KvDelayPolicy({ seed: 1, now: stoppedClock, prefillTokensPerMs: 32, ...options });
      const { router } = routerWith(policy, ['w1', 'w2'], { explainAlways: true });
      router.applyKvEvent('w1' as never, storedEvent(1, history)); // w1 holds 640 of the 704 tokens
      for (let i = 0; i < 12; i++) decodingOn(router, 'w1', ['w1', 'w2'], `d${i}`, 50_000 + i * 1000);
      return router.route({ requestId: 't2', tokenIds: nextTurn });
    };
    // w1: 64 uncached, 12 decoding: 2 + 24 = 26 ms. w2 (idle) recomputes 640 tokens w1 holds: 22 ms there,
    // and the capacity it takes is charged at r̄ = (12 + 0)/2 = 6 running: + 6·640/32 = 120 ms.
    const priced = route({});
    assert.equal(priced.workerId, 'w1');
    assert.deepEqual(
      priced.decision.scores!.map((s) => s.formula),
      [
        '(0q + 64u)/32 = 2ms ttft + 12*64u/32 = 24ms stall = 26ms',
        '(0q + 704u)/32 = 22ms ttft + 0*704u/32 = 0ms stall + 6*640c/32 = 120ms recompute = 142ms',
      ],
    );
    // Without the price (round 5's kv-delay) the 12 stalls outweigh the copy: the turn leaves its history.
    const unpriced = route({ recomputePrice: false });
    assert.equal(unpriced.workerId, 'w2');
    assert.equal(unpriced.decision.scores![1]!.cost, 22);
  });

  it('still leaves a worker far above the mean: the copy is charged r̄, the stay its own running count', () => {
    const all = ['w1', 'w2', 'w3', 'w4', 'w5', 'w6', 'w7', 'w8'];
    const policy = new KvDelayPolicy({ seed: 1, now: stoppedClock, prefillTokensPerMs: 32 });
    const { router } = routerWith(policy, all, { explainAlways: true });
    router.applyKvEvent('w1' as never, storedEvent(1, history));
    for (let i = 0; i < 16; i++) decodingOn(router, 'w1', all, `d${i}`, 50_000 + i * 1000);
    const turn = [...history, ...tokens(10_000, 640)]; // 640 cached on w1, 640 new
    // w1: 640/32 = 20 ms ttft + 16·20 = 320 ms stall = 340 ms. An idle worker: 1280/32 = 40 ms ttft +
    // r̄ = 16/8 = 2 running · 640/32 = 40 ms recompute = 80 ms: the stall here is real, not displaced.
    const r = router.route({ requestId: 't2', tokenIds: turn });
    assert.notEqual(r.workerId, 'w1');
    assert.equal(r.decision.scores![0]!.cost, 340);
    assert.equal(r.decision.scores!.find((s) => s.workerId === r.workerId)!.cost, 80);
  });

  it('learns the mean output length as a decayed mean of finished requests', () => {
    const estimator = new OutputLengthEstimator();
    assert.equal(estimator.mean, 0);
    estimator.observe(100);
    estimator.observe(200);
    assert.ok(Math.abs(estimator.mean - (0.99 * 100 + 200) / 1.99) < 1e-9);
    estimator.observe(Number.NaN); // ignored
    assert.ok(Math.abs(estimator.mean - (0.99 * 100 + 200) / 1.99) < 1e-9);
  });

  it('starts from the published chunk rate, and is deterministic for a seed', () => {
    assert.ok(
      Math.abs(new KvDelayPolicy().rate.tokensPerMs - 8192 / (4.21e-7 * 8192 ** 2 + 1.52e-2 * 8192 + 16.5)) <
        1e-9,
    );
    const run = (seed: number) => {
      const { router } = routerWith(
        new KvDelayPolicy({ seed, decodePressure: true }),
        ['w1', 'w2', 'w3', 'w4'],
        {},
        published,
      );
      const picks: string[] = [];
      for (let i = 0; i < 40; i++) {
        const id = `r${i}`;
        picks.push(
          router.route({ requestId: id, tokenIds: tokens(i * 1000, 200 + ((i * 37) % 300)) }).workerId,
        );
        if (i % 3 === 0) router.markPrefillDone(id);
        if (i % 5 === 0) router.finishRequest(id, 'done', 20 + i);
      }
      return picks;
    };
    assert.deepEqual(run(7), run(7));
    assert.equal(new Set(run(7)).size, 4, 'every worker serves');
  });
});
