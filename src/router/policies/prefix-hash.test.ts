import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BS, loadMetrics, routerWith, tokens } from '../testing/router-kit.ts';
import { DEFAULT_PREFIX_TOKENS, PrefixHashPolicy } from './prefix-hash.ts';

const WORKERS = ['w1', 'w2', 'w3', 'w4'];
/** Prompt i: a 4-block prefix unique to i, then a tail unique to `variant`. */
const prompt = (i: number, variant = 0) => [...tokens(i * 1000, 64), ...tokens(500_000 + variant * 100, 40)];

describe('prefix-hash policy', () => {
  it('sends requests with the same first K blocks to the same worker, whatever follows', () => {
    const { router } = routerWith(new PrefixHashPolicy({ prefixBlocks: 4 }), WORKERS);
    const first = router.route({ requestId: 'a', tokenIds: prompt(7, 1) }).workerId;
    router.finishRequest('a');
    for (let v = 2; v < 10; v++) {
      assert.equal(router.route({ requestId: `r${v}`, tokenIds: prompt(7, v) }).workerId, first);
      router.finishRequest(`r${v}`);
    }
  });

  it('spreads different prefixes over all workers', () => {
    const { router } = routerWith(new PrefixHashPolicy(), WORKERS);
    const counts = new Map<string, number>();
    for (let i = 0; i < 400; i++) {
      const w = router.route({ requestId: `r${i}`, tokenIds: prompt(i) }).workerId;
      router.finishRequest(`r${i}`);
      counts.set(w, (counts.get(w) ?? 0) + 1);
    }
    assert.equal(counts.size, 4);
    for (const [w, c] of counts) assert.ok(c > 50 && c < 160, `${w} got ${c} of 400`);
  });

  it('falls back along the ring when the owner is over (1 + ε) × average load', () => {
    const policy = new PrefixHashPolicy({ loadBalanceEpsilon: 0.25 });
    const { router } = routerWith(policy, WORKERS);
    const owner = router.route({ requestId: 'probe', tokenIds: prompt(3) }).workerId;
    router.finishRequest('probe');
    for (const w of WORKERS) if (w !== owner) router.updateLoad(loadMetrics(w, { numRunning: 2 }));
    router.updateLoad(loadMetrics(owner, { numRunning: 6 })); // total 12, n 4: capacity ⌈1.25·13/4⌉ = 5
    const result = router.route({ requestId: 'x', tokenIds: prompt(3) });
    assert.notEqual(result.workerId, owner);
    assert.match(result.decision.reason, new RegExp(`owner ${owner} at capacity`));
    router.updateLoad(loadMetrics(owner, { numRunning: 2 }));
    assert.equal(router.route({ requestId: 'y', tokenIds: prompt(3) }).workerId, owner);
  });

  it('a hot prefix spills to other workers as its in-flight requests pile up', () => {
    const { router } = routerWith(new PrefixHashPolicy({ loadBalanceEpsilon: 0.25 }), WORKERS);
    const picks = new Set<string>();
    for (let i = 0; i < 20; i++)
      picks.add(router.route({ requestId: `r${i}`, tokenIds: prompt(9, i) }).workerId);
    assert.equal(picks.size, 4, 'bounded loads: 20 concurrent requests cannot all sit on one of 4 workers');
  });

  it('removing a worker only moves the prefixes it owned (consistent hashing)', () => {
    const { router, ids } = routerWith(new PrefixHashPolicy(), WORKERS);
    const before = Array.from({ length: 200 }, (_, i) => {
      const w = router.route({ requestId: `a${i}`, tokenIds: prompt(i) }).workerId;
      router.finishRequest(`a${i}`);
      return w;
    });
    router.removeWorker(ids[0]!);
    before.forEach((w, i) => {
      const after = router.route({ requestId: `b${i}`, tokenIds: prompt(i) }).workerId;
      router.finishRequest(`b${i}`);
      if (w !== 'w1') assert.equal(after, w, `prefix ${i} moved although its owner stayed`);
    });
  });

  it('hashes the tokens of a prompt shorter than one block', () => {
    const { router } = routerWith(new PrefixHashPolicy(), WORKERS);
    const picks = new Set<string>();
    for (let i = 0; i < 40; i++) {
      picks.add(router.route({ requestId: `s${i}`, tokenIds: [i, i + 1, i + 2] }).workerId);
      router.finishRequest(`s${i}`);
    }
    assert.ok(picks.size > 1);
  });

  /**
   * Conversations that share a system prompt: turn t's prompt is the system prompt, the conversation's
   * first message (long enough that its history passes the key depth) and t more exchanges.
   */
  const SYSTEM = tokens(0, 1000);
  const conversationTurn = (c: number, turn: number) => [
    ...SYSTEM,
    ...tokens(1_000_000 + c * 100_000, DEFAULT_PREFIX_TOKENS),
    ...tokens(1_000_000 + c * 100_000 + 50_000, turn * 120),
  ];

  it('separates conversations that share only a system prompt, and keeps each on one worker', () => {
    const workers = ['w1', 'w2', 'w3', 'w4', 'w5', 'w6', 'w7', 'w8'];
    const { router } = routerWith(new PrefixHashPolicy(), workers);
    const perWorker = new Map<string, number>();
    for (let c = 0; c < 200; c++) {
      const turns = new Set<string>();
      for (let t = 0; t < 4; t++) {
        const w = router.route({ requestId: `c${c}t${t}`, tokenIds: conversationTurn(c, t) }).workerId;
        router.finishRequest(`c${c}t${t}`);
        turns.add(w);
      }
      assert.equal(turns.size, 1, `conversation ${c} moved between workers: ${[...turns]}`);
      const [w] = turns;
      perWorker.set(w!, (perWorker.get(w!) ?? 0) + 1);
    }
    // 200 conversations over 8 workers: 25 each on average; a key that stopped inside the shared system
    // prompt (the old 4-block default) would put all 200 on one worker.
    assert.equal(perWorker.size, 8);
    for (const [w, n] of perWorker) assert.ok(n >= 10 && n <= 45, `${w}: ${n} conversations`);
  });

  it('never starves a worker: one hot prefix under load spreads over every worker within (1 + ε) × average', () => {
    const workers = ['w1', 'w2', 'w3', 'w4', 'w5', 'w6', 'w7', 'w8'];
    const epsilon = 0.25;
    const { router } = routerWith(new PrefixHashPolicy({ loadBalanceEpsilon: epsilon }), workers);
    // Skewed: 90 % of requests share one long prefix (one key), the rest are unrelated; 24 in flight.
    const hot = tokens(0, DEFAULT_PREFIX_TOKENS + 5 * BS);
    const served = new Map<string, number>();
    const inFlight: string[] = [];
    let maxOverCapacity = 0;
    for (let i = 0; i < 2000; i++) {
      const tokenIds =
        i % 10 === 9 ? tokens(10_000_000 + i * 10_000, 300) : [...hot, ...tokens(5_000_000 + i * 50, 50)];
      const views = router.inspect({ requestId: 'probe', tokenIds });
      const total = views.reduce((sum, v) => sum + v.inFlight.requests, 0);
      const capacity = Math.ceil(((1 + epsilon) * (total + 1)) / workers.length);
      const { workerId } = router.route({ requestId: `r${i}`, tokenIds });
      const load = views.find((v) => v.workerId === workerId)!.inFlight.requests + 1;
      maxOverCapacity = Math.max(maxOverCapacity, load - capacity);
      served.set(workerId, (served.get(workerId) ?? 0) + 1);
      inFlight.push(`r${i}`);
      if (inFlight.length > 24) router.finishRequest(inFlight.shift()!);
    }
    assert.equal(maxOverCapacity, 0, 'no worker above ⌈(1 + ε)(total + 1) / n⌉');
    assert.equal(served.size, 8, `every worker served requests: ${[...served]}`);
    for (const [w, n] of served) assert.ok(n >= 2000 / 8 / 3, `${w} served only ${n} of 2000`);
  });
});
