/**
 * `--busy-threshold` (Dynamo's request rejection): a worker is busy when its KV usage reaches the threshold,
 * by its last load report OR by the blocks this router has in flight there. Load reports lag (and before
 * the first one there is none), so a burst must stop at what the router itself just sent.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { asWorkerId } from '../protocols/ids.ts';
import { AllWorkersBusyError } from './errors.ts';
import { RoundRobinPolicy } from './policies/round-robin.ts';
import { BS, loadMetrics, tokens } from './testing/router-kit.ts';
import { Router } from './router.ts';

/** One worker of `totalBlocks` blocks behind a router with `busyThreshold`. */
function oneWorker(totalBlocks: number, busyThreshold: number): Router {
  const router = new Router({
    policy: new RoundRobinPolicy(),
    blockSize: BS,
    decisionLog: 'off',
    busyThreshold,
  });
  router.addWorker({ workerId: asWorkerId('w1'), blockSize: BS, totalBlocks });
  return router;
}

/** Route distinct 3-block prompts (2 full + 1 partial) until the router says busy; returns how many went. */
function routeUntilBusy(router: Router, limit = 1000): number {
  for (let i = 0; i < limit; i++) {
    try {
      router.route({ requestId: `r${i}`, tokenIds: tokens(10_000 * (i + 1), 2 * BS + 5) });
    } catch (err) {
      assert.ok(err instanceof AllWorkersBusyError, String(err));
      return i;
    }
  }
  return limit;
}

describe('busy threshold', () => {
  it('counts the blocks the router sent: a burst with no load report stops at the threshold', () => {
    const router = oneWorker(40, 0.95);
    // 3 blocks each: 12 requests hold 36 < 38 blocks, the 13th brings it to 39 ≥ 38: then busy.
    assert.equal(routeUntilBusy(router), 13);
    assert.equal(router.isBusy(asWorkerId('w1')), true);
  });

  it('a finished request frees its blocks: the next one may go', () => {
    const router = oneWorker(40, 0.95);
    const sent = routeUntilBusy(router);
    router.finishRequest('r0');
    assert.equal(router.isBusy(asWorkerId('w1')), false);
    assert.equal(routeUntilBusy(router) > 0, true);
    assert.ok(sent > 0);
  });

  it('requests sharing a prefix share its blocks, as the worker cache does', () => {
    const router = oneWorker(40, 0.95);
    const shared = tokens(0, 2 * BS);
    let i = 0;
    for (; i < 100; i++) {
      try {
        router.route({ requestId: `s${i}`, tokenIds: [...shared, 5000 + i] });
      } catch {
        break;
      }
    }
    // 2 shared blocks + one partial block per request: after 36 requests they hold 38 blocks, the threshold.
    assert.equal(i, 36);
  });

  it('one request bigger than the threshold still goes to an idle worker (never busy by our count alone)', () => {
    const router = oneWorker(4, 0.5);
    router.route({ requestId: 'big', tokenIds: tokens(0, 10 * BS) });
    assert.throws(() => router.route({ requestId: 'next', tokenIds: tokens(999, 4) }), AllWorkersBusyError);
  });

  it('a load report past the threshold makes a worker busy with nothing of ours in flight', () => {
    const router = oneWorker(40, 0.95);
    router.updateLoad(loadMetrics('w1', { gpuCacheUsagePerc: 0.97, kvTotalBlocks: 40 }));
    assert.throws(() => router.route({ requestId: 'r', tokenIds: tokens(0, 4) }), AllWorkersBusyError);
  });

  it('what a report shows beyond our own requests (another frontend) counts toward busy', () => {
    const router = oneWorker(40, 0.95);
    router.route({ requestId: 'mine', tokenIds: tokens(0, 2 * BS + 1) });
    // The worker reports 36 more active blocks than ours: 3 + 36 = 39 ≥ 38.
    router.updateLoad(
      loadMetrics('w1', { activeDecodeBlocks: 39, kvTotalBlocks: 40, gpuCacheUsagePerc: 0.5 }),
    );
    assert.equal(router.isBusy(asWorkerId('w1')), true);
  });

  it('as many requests in flight as the worker runs at once (max_num_seqs): busy, whatever the blocks', () => {
    const router = new Router({
      policy: new RoundRobinPolicy(),
      blockSize: BS,
      decisionLog: 'off',
      busyThreshold: 0.95,
    });
    router.addWorker({ workerId: asWorkerId('w1'), blockSize: BS, totalBlocks: 10_000, maxNumSeqs: 8 });
    assert.equal(routeUntilBusy(router), 8);
    router.finishRequest('r3');
    assert.equal(router.isBusy(asWorkerId('w1')), false);
  });

  it('no threshold (replay, benchmarks): never busy', () => {
    const router = new Router({ policy: new RoundRobinPolicy(), blockSize: BS, decisionLog: 'off' });
    router.addWorker({ workerId: asWorkerId('w1'), blockSize: BS, totalBlocks: 4 });
    assert.equal(routeUntilBusy(router, 50), 50);
  });
});
