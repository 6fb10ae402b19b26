import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadMetrics, routerWith, tokens } from '../testing/router-kit.ts';
import { PrefixHashPolicy } from './prefix-hash.ts';

const WORKERS = ['w1', 'w2', 'w3', 'w4'];
/** Prompt i: a 4-block prefix unique to i, then a tail unique to `variant`. */
const prompt = (i: number, variant = 0) => [...tokens(i * 1000, 64), ...tokens(500_000 + variant * 100, 40)];

describe('prefix-hash policy', () => {
  it('sends requests with the same first K blocks to the same worker, whatever follows', () => {
    const { router } = routerWith(new PrefixHashPolicy(), WORKERS);
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
});
