import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { routerWith, tokens } from '../testing/router-kit.ts';
import { KvApproxPolicy } from './kv-approx.ts';

const prompt = tokens(0, 256); // 16 full blocks

function setup(maxEntries = 1000) {
  let now = 1_000_000;
  const policy = new KvApproxPolicy({ seed: 5, now: () => now, approxMaxEntries: maxEntries });
  const { router } = routerWith(policy, ['w1', 'w2', 'w3']);
  return { router, policy, advance: (ms: number) => (now += ms) };
}

describe('kv-approx policy', () => {
  it('remembers where it sent a prefix, without any KV events', () => {
    const { router, policy } = setup();
    const first = router.route({ requestId: 'a', tokenIds: prompt });
    assert.equal(first.overlapBlocks, 0);
    router.finishRequest('a');
    const again = router.route({ requestId: 'b', tokenIds: [...prompt, ...tokens(9000, 20)] });
    assert.equal(again.workerId, first.workerId);
    assert.equal(again.overlapBlocks, 16);
    assert.equal(router.indexer.stats().blocks, 0, 'the event-fed index stays empty');
    assert.equal(policy.index.workerBlockCount(first.workerId), 17);
  });

  it('forgets after the TTL (120 s by default)', () => {
    const { router, policy, advance } = setup();
    const first = router.route({ requestId: 'a', tokenIds: prompt });
    router.finishRequest('a');
    advance(119_000);
    const within = router.route({ requestId: 'b', tokenIds: prompt });
    assert.equal(within.workerId, first.workerId);
    assert.equal(within.overlapBlocks, 16, 'still remembered at 119 s');
    router.finishRequest('b');
    advance(120_001); // b refreshed the entries at 119 s; now 120.001 s later
    policy.index.pruneExpired();
    assert.equal(policy.index.size, 0);
    assert.equal(policy.index.workerBlockCount(first.workerId), 0);
    const forgotten = router.route({ requestId: 'd', tokenIds: prompt });
    assert.equal(forgotten.overlapBlocks, 0);
  });

  it('caps its memory, dropping the oldest entries first', () => {
    const { router, policy } = setup(20);
    router.route({ requestId: 'a', tokenIds: prompt }); // 16 entries
    router.finishRequest('a');
    router.route({ requestId: 'b', tokenIds: tokens(70_000, 160) }); // 10 more: 6 oldest of `a` go
    router.finishRequest('b');
    assert.equal(policy.index.size, 20);
    const probe = router.route({ requestId: 'c', tokenIds: prompt });
    assert.equal(probe.overlapBlocks, 0, "a's leading blocks were evicted first, so nothing matches");
  });

  it('drops a removed worker from its memory', () => {
    const { router, policy } = setup();
    const first = router.route({ requestId: 'a', tokenIds: prompt });
    router.removeWorker(first.workerId);
    assert.equal(policy.index.workerBlockCount(first.workerId), 0);
    assert.equal(policy.index.size, 0);
  });
});
