import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadMetrics, routerWith, tokens } from '../testing/router-kit.ts';
import { LeastLoadedPolicy } from './least-loaded.ts';
import { RandomPolicy } from './random.ts';
import { RoundRobinPolicy } from './round-robin.ts';

const prompt = tokens(0, 40);

describe('round-robin policy', () => {
  it('cycles through the workers in id order', () => {
    const { router } = routerWith(new RoundRobinPolicy(), ['w2', 'w1', 'w3']);
    const picks = Array.from(
      { length: 7 },
      (_, i) => router.route({ requestId: `r${i}`, tokenIds: prompt }).workerId,
    );
    assert.deepEqual(picks, ['w1', 'w2', 'w3', 'w1', 'w2', 'w3', 'w1']);
  });

  it('keeps its turn when a worker joins or leaves', () => {
    const { router, ids } = routerWith(new RoundRobinPolicy(), ['w1', 'w2', 'w3']);
    assert.equal(router.route({ requestId: 'a', tokenIds: prompt }).workerId, 'w1');
    router.removeWorker(ids[1]!);
    assert.equal(router.route({ requestId: 'b', tokenIds: prompt }).workerId, 'w3');
    router.addWorker({ workerId: ids[1]!, blockSize: 16, totalBlocks: 10 });
    assert.equal(router.route({ requestId: 'c', tokenIds: prompt }).workerId, 'w1');
    assert.equal(router.route({ requestId: 'd', tokenIds: prompt }).workerId, 'w2');
  });
});

describe('random policy', () => {
  it('is deterministic for a seed and roughly uniform', () => {
    const run = (seed: number) => {
      const { router } = routerWith(new RandomPolicy({ seed }), ['w0', 'w1', 'w2', 'w3']);
      return Array.from(
        { length: 4000 },
        (_, i) => router.route({ requestId: `r${i}`, tokenIds: prompt }).workerId,
      );
    };
    const a = run(7);
    assert.deepEqual(a, run(7));
    assert.notDeepEqual(a, run(8));
    const counts = new Map<string, number>();
    for (const w of a) counts.set(w, (counts.get(w) ?? 0) + 1);
    assert.equal(counts.size, 4);
    for (const [w, c] of counts) assert.ok(c > 850 && c < 1150, `${w} got ${c} of 4000`);
  });
});

describe('least-loaded policy', () => {
  it('picks the worker with the fewest active blocks + prefill blocks, from reports and own counts', () => {
    const { router, ids } = routerWith(new LeastLoadedPolicy({ seed: 1 }), ['w1', 'w2', 'w3']);
    router.updateLoad(loadMetrics('w1', { activeDecodeBlocks: 10, activePrefillTokens: 160 })); // 10 + 10
    router.updateLoad(loadMetrics('w2', { activeDecodeBlocks: 12 })); // 12
    router.updateLoad(loadMetrics('w3', { activeDecodeBlocks: 3, activePrefillTokens: 320 })); // 3 + 20
    const first = router.route({ requestId: 'a', tokenIds: tokens(0, 160) });
    assert.equal(first.workerId, ids[1]);
    const w2 = first.decision.scores!.find((s) => s.workerId === 'w2')!;
    assert.equal(w2.cost, 12);
    // The router's own count now says w2 holds 10 blocks + 160 prefill tokens (22 > w1's 20): w1 next.
    assert.equal(router.route({ requestId: 'b', tokenIds: tokens(1000, 160) }).workerId, ids[0]);
  });

  it('writes its score as arithmetic when explaining', () => {
    const { router } = routerWith(new LeastLoadedPolicy({ seed: 1 }), ['w1'], { decisionLog: 'info' });
    router.updateLoad(loadMetrics('w1', { activeDecodeBlocks: 30, activePrefillTokens: 96 }));
    const result = router.route({ requestId: 'a', tokenIds: prompt });
    assert.equal(result.decision.scores![0]!.formula, '30 + 96/16 = 36');
  });
});
