import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { asWorkerId, type WorkerId } from '../protocols/ids.ts';
import { NoWorkersError, PolicyDecisionError, RouterConfigError } from './errors.ts';
import { KvPolicy } from './policies/kv.ts';
import { RoundRobinPolicy } from './policies/round-robin.ts';
import { Router } from './router.ts';
import { BS, loadMetrics, routerWith, sequenceHashes, storedEvent, tokens } from './testing/router-kit.ts';
import type { RoutingPolicy } from './types.ts';

const prompt = tokens(0, 100); // 6 full blocks + 4

describe('Router', () => {
  it('answers NoWorkersError on an empty pool and when every worker is excluded', () => {
    const router = new Router({ policy: new RoundRobinPolicy(), decisionLog: 'off' });
    assert.throws(() => router.route({ requestId: 'r', tokenIds: prompt }), NoWorkersError);
    router.addWorker({ workerId: asWorkerId('w1'), blockSize: BS, totalBlocks: 10 });
    assert.equal(router.blockSize, BS, 'block size taken from the first model card');
    assert.throws(
      () => router.route({ requestId: 'r', tokenIds: prompt, exclude: [asWorkerId('w1')] }),
      /all 1 are excluded/,
    );
  });

  it('refuses a worker with another block size', () => {
    const { router } = routerWith(new RoundRobinPolicy(), ['w1']);
    assert.throws(
      () => router.addWorker({ workerId: asWorkerId('w2'), blockSize: 32, totalBlocks: 10 }),
      RouterConfigError,
    );
  });

  it('honours exclude (request migration)', () => {
    const { router, ids } = routerWith(new KvPolicy({ seed: 1 }), ['w1', 'w2']);
    router.applyKvEvent(ids[0]!, storedEvent(1, prompt));
    assert.equal(router.route({ requestId: 'a', tokenIds: prompt }).workerId, 'w1');
    assert.equal(router.route({ requestId: 'b', tokenIds: prompt, exclude: [ids[0]!] }).workerId, 'w2');
  });

  it('uses precomputed block hashes when given', () => {
    const { router, ids } = routerWith(new KvPolicy({ seed: 1 }), ['w1', 'w2']);
    router.applyKvEvent(ids[1]!, storedEvent(1, prompt));
    const result = router.route({ requestId: 'a', tokenIds: prompt, blockHashes: sequenceHashes(prompt) });
    assert.equal(result.workerId, 'w2');
    assert.equal(result.overlapBlocks, 6);
    assert.equal(result.numBlocks, 6);
  });

  it('ignores KV events and load from workers not in the pool, and forgets a removed worker', () => {
    const { router, ids } = routerWith(new KvPolicy({ seed: 1 }), ['w1', 'w2']);
    assert.equal(router.applyKvEvent(asWorkerId('ghost'), storedEvent(1, prompt)), 'unknown-worker');
    router.updateLoad(loadMetrics('ghost'));
    router.applyKvEvent(ids[0]!, storedEvent(1, prompt));
    router.route({ requestId: 'a', tokenIds: prompt });
    assert.deepEqual(router.removeWorker(ids[0]!), ['a'], 'in-flight requests returned for migration');
    assert.equal(router.indexer.stats().blocks, 0);
    assert.deepEqual(router.removeWorker(ids[0]!), []);
    assert.equal(router.route({ requestId: 'b', tokenIds: prompt }).workerId, 'w2');
  });

  it('asks for a snapshot on a gap and applies the answer', () => {
    const asked: WorkerId[] = [];
    const { router, ids } = routerWith(new KvPolicy({ seed: 1 }), ['w1'], {
      requestSnapshot: (w) => asked.push(w),
    });
    assert.equal(router.applyKvEvent(ids[0]!, storedEvent(40, prompt, 0, 2)), 'buffered');
    assert.deepEqual(asked, ['w1']);
    router.applySnapshot({ workerId: ids[0]!, lastEventId: 39, events: [storedEvent(39, prompt, 0, 6)] });
    assert.equal(router.indexer.findMatches(sequenceHashes(prompt)).get(ids[0]!), 6);
    assert.equal(router.indexer.lastEventId(ids[0]!), 40);
  });

  it('calls the policy hooks and rejects a decision for a worker it did not offer', () => {
    const calls: string[] = [];
    const policy: RoutingPolicy = {
      name: 'spy',
      select: (_r, workers) => ({ workerId: workers[0]!.workerId, reason: 'first' }),
      onWorkerAdded: (w) => calls.push(`added ${w.workerId}`),
      onWorkerRemoved: (w) => calls.push(`removed ${w}`),
      onKvEvent: (w, e) => calls.push(`event ${w} ${e.eventId}`),
      onRequestFinished: (r, w) => calls.push(`finished ${r} on ${w}`),
    };
    const { router, ids } = routerWith(policy, ['w1']);
    router.applyKvEvent(ids[0]!, storedEvent(1, prompt));
    router.route({ requestId: 'r1', tokenIds: prompt });
    router.finishRequest('r1');
    router.finishRequest('r1');
    router.removeWorker(ids[0]!);
    assert.deepEqual(calls, ['added w1', 'event w1 1', 'finished r1 on w1', 'removed w1']);

    const rogue: RoutingPolicy = {
      name: 'rogue',
      select: () => ({ workerId: asWorkerId('w9'), reason: '?' }),
    };
    const { router: r2 } = routerWith(rogue, ['w1']);
    assert.throws(() => r2.route({ requestId: 'x', tokenIds: prompt }), PolicyDecisionError);
    assert.equal(r2.active.size, 0, 'nothing counted in flight for a rejected decision');
  });

  it('views are per-decision scratch: inspect returns copies that later decisions leave alone', () => {
    const { router, ids } = routerWith(new KvPolicy({ seed: 1 }), ['w1', 'w2']);
    router.applyKvEvent(ids[0]!, storedEvent(1, prompt));
    const before = router.inspect({ requestId: 'x', tokenIds: prompt });
    const snapshot = JSON.stringify(before);
    assert.deepEqual(
      before.map((v) => [v.workerId, v.overlapBlocks, v.inFlight.requests]),
      [
        ['w1', 6, 0],
        ['w2', 0, 0],
      ],
    );
    router.route({ requestId: 'a', tokenIds: prompt });
    router.route({ requestId: 'b', tokenIds: tokens(5000, 64) });
    assert.equal(JSON.stringify(before), snapshot, 'the copies did not move');
    const after = router.inspect({ requestId: 'x', tokenIds: prompt });
    assert.equal(after[0]!.inFlight.requests + after[1]!.inFlight.requests, 2, 'fresh copies see the ledger');
  });

  it('a policy sees the same view objects every decision, rewritten with that decision’s numbers', () => {
    const seen: { views: readonly object[]; overlaps: number[] }[] = [];
    const policy: RoutingPolicy = {
      name: 'first',
      select(_request, workers) {
        seen.push({ views: [...workers], overlaps: workers.map((w) => w.overlapBlocks) });
        return { workerId: workers[0]!.workerId, reason: 'first' };
      },
    };
    const { router, ids } = routerWith(policy, ['w1', 'w2']);
    router.route({ requestId: 'a', tokenIds: prompt });
    router.applyKvEvent(ids[1]!, storedEvent(1, prompt));
    router.route({ requestId: 'b', tokenIds: prompt });
    assert.deepEqual(seen[0]!.overlaps, [0, 0]);
    // w1: a's 6 blocks are in flight there (predicted); w2: indexed from its event.
    assert.deepEqual(seen[1]!.overlaps, [6, 6]);
    assert.equal(seen[0]!.views[0], seen[1]!.views[0], 'one view object per member, reused');
  });

  it('explained decisions carry fresh scores that the next decision does not rewrite', () => {
    const { router, ids } = routerWith(new KvPolicy({ seed: 1 }), ['w1', 'w2'], { explainAlways: true });
    router.applyKvEvent(ids[0]!, storedEvent(1, prompt));
    const first = router.route({ requestId: 'a', tokenIds: prompt });
    const costs = first.decision.scores!.map((s) => [s.workerId, s.cost, s.formula]);
    router.route({ requestId: 'b', tokenIds: tokens(7000, 300) });
    assert.deepEqual(
      first.decision.scores!.map((s) => [s.workerId, s.cost, s.formula]),
      costs,
    );
    assert.ok(costs.every(([, , formula]) => typeof formula === 'string' && formula.includes('=')));
  });

  it("a worker's first load report, sampled during a request that has since ended, charges nothing for it", () => {
    const { router, ids } = routerWith(new KvPolicy({ seed: 1 }), ['w1', 'w2']);
    const first = router.route({ requestId: 'a', tokenIds: prompt, exclude: [ids[1]!] });
    assert.equal(first.workerId, 'w1');
    router.applyKvEvent(ids[0]!, storedEvent(1, prompt));
    router.markPrefillDone('a');
    router.finishRequest('a');
    // w1's first report was sampled while 'a' was prefilling (100 tokens) and arrives after 'a' ended.
    router.updateLoad(loadMetrics('w1', { activePrefillTokens: 100 }));
    const w1 = router.inspect({ requestId: 'probe', tokenIds: prompt }).find((v) => v.workerId === 'w1')!;
    assert.equal(w1.activePrefillTokens, 0, "the report's prefill was ours, and it has ended");
    assert.equal(
      router.route({ requestId: 'b', tokenIds: prompt }).workerId,
      'w1',
      'the follow-up finds its cache',
    );
  });

  it("a worker that takes a departed one's table slots starts with its own empty counts, and routing stays exact", () => {
    const { router, ids } = routerWith(new KvPolicy({ seed: 1 }), ['w1', 'w2']);
    router.applyKvEvent(ids[0]!, storedEvent(1, prompt));
    assert.equal(router.route({ requestId: 'r1', tokenIds: prompt }).workerId, 'w1');
    router.removeWorker(ids[0]!);
    router.addWorker({ workerId: asWorkerId('w3'), blockSize: BS, totalBlocks: 1000 });
    const views = new Map(
      router.inspect({ requestId: 'probe', tokenIds: prompt }).map((v) => [v.workerId, v]),
    );
    const w3 = views.get(asWorkerId('w3'))!;
    assert.deepEqual(
      [w3.overlapBlocks, w3.treeBlocks, w3.inFlight, w3.activeBlocks],
      [0, 0, { requests: 0, prefillTokens: 0, blocks: 0 }, 0],
      "none of w1's cached or in-flight blocks is counted on w3",
    );
    const second = router.route({ requestId: 'r2', tokenIds: prompt });
    router.applyKvEvent(second.workerId, storedEvent(1, prompt));
    router.markPrefillDone('r2');
    const third = router.route({ requestId: 'r3', tokenIds: prompt });
    assert.equal(third.workerId, second.workerId, 'the prompt follows its blocks to their new home');
    assert.equal(third.overlapBlocks, 6);
    assert.deepEqual(router.active.counts(second.workerId), { requests: 2, prefillTokens: 4, blocks: 8 });
  });
});
