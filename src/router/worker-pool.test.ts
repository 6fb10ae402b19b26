/**
 * The router owns its workers: membership (with the request-plane address), load reports, quarantine and
 * the busy threshold. These tests drive them through `Router` as the frontend does, with an injected clock.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { asWorkerId } from '../protocols/ids.ts';
import { AllWorkersBusyError, NoWorkersError } from './errors.ts';
import { RoundRobinPolicy } from './policies/round-robin.ts';
import { BS, loadMetrics, routerWith, tokens } from './testing/router-kit.ts';
import type { RoutingPolicy, WorkerView } from './types.ts';
import { QUARANTINE_MS } from './worker-pool.ts';

const prompt = tokens(0, 40);

/** A policy that takes the first offered worker and remembers what it was offered. */
function offeredSpy(): { policy: RoutingPolicy; offered: string[][] } {
  const offered: string[][] = [];
  const policy: RoutingPolicy = {
    name: 'first-offered',
    select: (_request, workers: readonly WorkerView[]) => {
      offered.push(workers.map((w) => w.workerId));
      return { workerId: workers[0]!.workerId, reason: 'first offered' };
    },
  };
  return { policy, offered };
}

/** A clock the test moves by hand. */
function manualClock(): { now: () => number; advance: (ms: number) => void } {
  let t = 1_000_000;
  return { now: () => t, advance: (ms) => (t += ms) };
}

describe('Router pool: membership', () => {
  it('keeps each worker once, with its address, load and card; a card update keeps load and quarantine', () => {
    const { router } = routerWith(new RoundRobinPolicy(), []);
    router.addWorker({
      workerId: asWorkerId('w1'),
      blockSize: BS,
      totalBlocks: 10,
      address: '10.0.0.1:7000',
    });
    router.updateLoad(loadMetrics('w1', { kvUsedBlocks: 4 }));
    router.quarantine(asWorkerId('w1'));
    router.addWorker({
      workerId: asWorkerId('w1'),
      blockSize: BS,
      totalBlocks: 20,
      address: '10.0.0.1:7001',
    });
    assert.equal(router.size, 1);
    assert.deepEqual(router.workers, [
      { workerId: 'w1', blockSize: BS, totalBlocks: 20, address: '10.0.0.1:7001' },
    ]);
    assert.equal(router.addressOf(asWorkerId('w1')), '10.0.0.1:7001');
    assert.equal(router.loadOf(asWorkerId('w1'))?.kvUsedBlocks, 4, 'load kept across a card update');
    assert.ok(router.isQuarantined(asWorkerId('w1')), 'quarantine kept across a card update');
  });

  it('ignores load reports and failure reports of non-members, and forgets everything of a removed worker', () => {
    const { router, ids } = routerWith(new RoundRobinPolicy(), ['w1']);
    router.updateLoad(loadMetrics('ghost', { gpuCacheUsagePerc: 1 }));
    router.quarantine(asWorkerId('ghost'));
    assert.equal(router.loadOf(asWorkerId('ghost')), undefined);
    assert.equal(router.isQuarantined(asWorkerId('ghost')), false);
    router.updateLoad(loadMetrics('w1', { kvUsedBlocks: 7 }));
    router.removeWorker(ids[0]!);
    assert.equal(router.hasWorker(ids[0]!), false);
    assert.equal(router.loadOf(ids[0]!), undefined);
    router.addWorker({ workerId: ids[0]!, blockSize: BS, totalBlocks: 10 });
    assert.equal(router.loadOf(ids[0]!), undefined, 'a worker that comes back starts with no stale load');
  });
});

describe('Router pool: candidates after joins and departures', () => {
  it('keep join order, and each member its own card, last load and quarantine', () => {
    const clock = manualClock();
    const seen: { id: string; totalBlocks: number; kvUsedBlocks?: number }[][] = [];
    const policy: RoutingPolicy = {
      name: 'first-offered',
      select: (_request, workers) => {
        seen.push(
          workers.map((w) => ({
            id: w.workerId,
            totalBlocks: w.totalBlocks,
            kvUsedBlocks: w.load?.kvUsedBlocks,
          })),
        );
        return { workerId: workers[0]!.workerId, reason: 'first offered' };
      },
    };
    const { router, ids } = routerWith(policy, ['w1', 'w2', 'w3'], { now: clock.now });
    router.updateLoad(loadMetrics('w3', { kvUsedBlocks: 3 }));
    router.quarantine(ids[1]!);
    router.removeWorker(ids[0]!);
    router.route({ requestId: 'a', tokenIds: prompt });
    clock.advance(QUARANTINE_MS + 1);
    router.addWorker({ workerId: ids[0]!, blockSize: BS, totalBlocks: 10 });
    router.addWorker({ workerId: ids[2]!, blockSize: BS, totalBlocks: 77 });
    router.updateLoad(loadMetrics('w2', { kvUsedBlocks: 2 }));
    router.route({ requestId: 'b', tokenIds: prompt });
    assert.deepEqual(seen, [
      [{ id: 'w3', totalBlocks: 1000, kvUsedBlocks: 3 }],
      [
        { id: 'w2', totalBlocks: 1000, kvUsedBlocks: 2 },
        { id: 'w3', totalBlocks: 77, kvUsedBlocks: 3 },
        { id: 'w1', totalBlocks: 10, kvUsedBlocks: undefined },
      ],
    ]);
  });
});

describe('Router pool: quarantine (passive health check)', () => {
  it('skips a quarantined worker until quarantineMs has passed', () => {
    const clock = manualClock();
    const { policy, offered } = offeredSpy();
    const { router, ids } = routerWith(policy, ['w1', 'w2'], { now: clock.now });
    router.quarantine(ids[0]!);
    router.route({ requestId: 'a', tokenIds: prompt });
    clock.advance(QUARANTINE_MS - 1);
    router.route({ requestId: 'b', tokenIds: prompt });
    clock.advance(1);
    router.route({ requestId: 'c', tokenIds: prompt });
    assert.deepEqual(offered, [['w2'], ['w2'], ['w1', 'w2']]);
  });

  it('honours a configured quarantineMs', () => {
    const clock = manualClock();
    const { router, ids } = routerWith(new RoundRobinPolicy(), ['w1'], { now: clock.now, quarantineMs: 50 });
    router.quarantine(ids[0]!);
    clock.advance(49);
    assert.ok(router.isQuarantined(ids[0]!));
    clock.advance(1);
    assert.equal(router.isQuarantined(ids[0]!), false);
  });

  it('offers quarantined workers when every untried one is quarantined (better than a 503)', () => {
    const { policy, offered } = offeredSpy();
    const { router, ids } = routerWith(policy, ['w1', 'w2', 'w3']);
    router.quarantine(ids[0]!);
    router.quarantine(ids[1]!);
    router.route({ requestId: 'a', tokenIds: prompt, exclude: [ids[2]!] });
    assert.deepEqual(offered, [['w1', 'w2']]);
  });

  it('answers NoWorkersError when every member was already tried for the request', () => {
    const { router, ids } = routerWith(new RoundRobinPolicy(), ['w1', 'w2']);
    assert.throws(() => router.route({ requestId: 'a', tokenIds: prompt, exclude: ids }), NoWorkersError);
  });
});

describe('Router pool: busy threshold', () => {
  const usage = (workerId: string, gpuCacheUsagePerc: number) => loadMetrics(workerId, { gpuCacheUsagePerc });

  it('skips a worker whose KV usage is at or past the threshold', () => {
    const { policy, offered } = offeredSpy();
    const { router, ids } = routerWith(policy, ['w1', 'w2', 'w3'], { busyThreshold: 0.9 });
    router.updateLoad(usage('w1', 0.9));
    router.updateLoad(usage('w2', 0.89));
    router.route({ requestId: 'a', tokenIds: prompt });
    assert.deepEqual(offered, [['w2', 'w3']]);
    assert.ok(router.isBusy(ids[0]!));
    assert.equal(router.isBusy(ids[1]!), false);
  });

  it('answers AllWorkersBusyError when every candidate is busy, and nothing is counted in flight', () => {
    const { router } = routerWith(new RoundRobinPolicy(), ['w1', 'w2'], { busyThreshold: 0.9 });
    router.updateLoad(usage('w1', 0.95));
    router.updateLoad(usage('w2', 1));
    assert.throws(() => router.route({ requestId: 'a', tokenIds: prompt }), AllWorkersBusyError);
    assert.equal(router.active.size, 0);
  });

  it('does not fall back to a quarantined worker when the healthy ones are busy', () => {
    const { router, ids } = routerWith(new RoundRobinPolicy(), ['w1', 'w2'], { busyThreshold: 0.9 });
    router.quarantine(ids[0]!);
    router.updateLoad(usage('w2', 0.99));
    assert.throws(() => router.route({ requestId: 'a', tokenIds: prompt }), AllWorkersBusyError);
  });

  it('has no busy threshold unless one is configured (replay, benchmarks)', () => {
    const { router, ids } = routerWith(new RoundRobinPolicy(), ['w1']);
    router.updateLoad(usage('w1', 1));
    assert.equal(router.isBusy(ids[0]!), false);
    assert.equal(router.route({ requestId: 'a', tokenIds: prompt }).workerId, 'w1');
  });
});
