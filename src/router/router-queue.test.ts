/**
 * The router queue (`router-queue.ts`, Dynamo's `--router-queue-threshold` / `--router-queue-policy`):
 * requests wait in the router while every worker has a prefill backlog above the threshold, and are routed,
 * in fcfs or wspt order, when a prefill or a request ends.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { asRequestId, asWorkerId, type WorkerId } from '../protocols/ids.ts';
import { NoWorkersError } from './errors.ts';
import { LeastLoadedPolicy } from './policies/least-loaded.ts';
import { RoundRobinPolicy } from './policies/round-robin.ts';
import type { RouteResult } from './router.ts';
import type { RouterQueueOptions } from './router-queue.ts';
import { BS, routerWith, sequenceHashes, storedEvent, tokens } from './testing/router-kit.ts';

/** Two workers of 64-token steps behind a router queue; `routed` lists requests in the order they went. */
function queued(queue: RouterQueueOptions | undefined, budget: number | null = 64) {
  const { router, ids } = routerWith(
    new LeastLoadedPolicy(),
    ['w1', 'w2'],
    queue ? { queue } : {},
    budget === null ? {} : { maxNumBatchedTokens: budget },
  );
  const routed: Array<{ id: string } & RouteResult> = [];
  /** Offer request `id` with a prompt of `n` tokens starting at token `from`. */
  const offer = (id: string, from: number, n: number): boolean => {
    const input = { requestId: id, tokenIds: tokens(from, n) };
    return router.admit(input, () => routed.push({ id, ...router.route(input) }));
  };
  return { router, ids, routed, offer };
}

const order = (routed: ReadonlyArray<{ id: string }>) => routed.map((r) => r.id);

describe('router queue', () => {
  it('off: admit routes at once, whatever the backlog', () => {
    const { offer, routed } = queued(undefined);
    for (let i = 0; i < 5; i++) assert.equal(offer(`r${i}`, 1000 * i, 200), true);
    assert.deepEqual(order(routed), ['r0', 'r1', 'r2', 'r3', 'r4']);
  });

  it('fcfs: parks while every worker has a prefill backlog, routes in arrival order as prefills end', () => {
    const { router, offer, routed } = queued({ threshold: 0 });
    assert.equal(offer('a', 0, 200), true); // w1 idle
    assert.equal(offer('b', 1000, 200), true); // w2 idle
    assert.equal(offer('c', 2000, 300), false); // both prefilling: waits
    assert.equal(offer('d', 3000, 100), false);
    assert.equal(router.queue?.depth, 2);
    assert.deepEqual(order(routed), ['a', 'b']);

    router.markPrefillDone('a'); // a's worker has no backlog: the head goes, to it
    assert.deepEqual(order(routed), ['a', 'b', 'c']);
    assert.equal(routed[2]!.workerId, routed[0]!.workerId);
    router.finishRequest('b'); // a request's end frees room too
    assert.deepEqual(order(routed), ['a', 'b', 'c', 'd']);
    assert.equal(routed[3]!.workerId, routed[1]!.workerId);
    assert.equal(router.queue?.depth, 0);
  });

  it('wspt: the fewest new tokens first, counting the longest cached prefix', () => {
    const { router, ids, offer, routed } = queued({ threshold: 0, policy: 'wspt' });
    // w2 caches the first 20 blocks (320 tokens) of prompt P = tokens(50_000, 400): 80 new tokens.
    router.applyKvEvent(ids[1]!, storedEvent(1, tokens(50_000, 400), 0, 20));
    offer('a', 0, 200);
    offer('b', 1000, 200);
    offer('long', 2000, 300); // 300 new tokens
    offer('short', 3000, 150); // 150
    offer('cached', 50_000, 400); // 400 tokens, 80 new
    assert.deepEqual(order(routed), ['a', 'b']);
    router.markPrefillDone('a');
    router.markPrefillDone('b');
    assert.deepEqual(order(routed), ['a', 'b', 'cached', 'short']);
    router.markPrefillDone('cached');
    assert.deepEqual(order(routed), ['a', 'b', 'cached', 'short', 'long']);
  });

  it('fcfs: equal keys never reorder; later arrivals wait behind earlier ones even when room opens', () => {
    const { router, offer, routed } = queued({ threshold: 0 });
    offer('a', 0, 64);
    offer('b', 1000, 64);
    for (let i = 0; i < 6; i++) offer(`q${i}`, 10_000 * (i + 1), 64);
    for (let i = 0; i < 3; i++) {
      router.markPrefillDone(routed[2 * i]!.id);
      router.markPrefillDone(routed[2 * i + 1]!.id);
    }
    assert.deepEqual(order(routed), ['a', 'b', 'q0', 'q1', 'q2', 'q3', 'q4', 'q5']);
  });

  it('the threshold is a multiple of max_num_batched_tokens: 1.0 lets one step of backlog through', () => {
    const { offer, routed } = queued({ threshold: 1 }, 64);
    assert.equal(offer('a', 0, 64), true); // w1: 64 ≤ 64 after it, still room
    assert.equal(offer('b', 1000, 64), true); // w2
    assert.equal(offer('c', 2000, 64), true); // a worker at exactly 64 has room
    assert.equal(offer('d', 3000, 64), true);
    assert.equal(offer('e', 4000, 64), false); // both at 128 > 64
    assert.equal(routed.length, 4);
  });

  it('a worker that published no step budget is never busy, as in Dynamo', () => {
    const { offer, routed } = queued({ threshold: 0 }, null);
    for (let i = 0; i < 4; i++) assert.equal(offer(`r${i}`, 1000 * i, 500), true);
    assert.equal(routed.length, 4);
  });

  it('cancel takes a waiting request out of line; a cancelled one is never routed', () => {
    const { router, offer, routed } = queued({ threshold: 0 });
    offer('a', 0, 200);
    offer('b', 1000, 200);
    offer('gone', 2000, 200);
    offer('stays', 3000, 200);
    assert.equal(router.cancelQueued('gone'), true);
    assert.equal(router.cancelQueued('gone'), false);
    router.markPrefillDone('a');
    router.markPrefillDone('b');
    assert.deepEqual(order(routed), ['a', 'b', 'stays']);
  });

  it('with no worker left, waiting requests are released to fail at once (NoWorkersError), not kept', () => {
    const { router, ids } = routerWith(
      new RoundRobinPolicy(),
      ['w1'],
      { queue: { threshold: 0 } },
      {
        maxNumBatchedTokens: 64,
      },
    );
    const errors: unknown[] = [];
    const offer = (id: string, from: number) => {
      const input = { requestId: id, tokenIds: tokens(from, 3 * BS) };
      router.admit(input, () => {
        try {
          router.route(input);
        } catch (err) {
          errors.push(err);
        }
      });
    };
    offer('a', 0);
    offer('b', 1000);
    assert.equal(router.queue?.depth, 1);
    router.removeWorker(ids[0]!);
    assert.equal(router.queue?.depth, 0);
    assert.equal(errors.length, 1);
    assert.ok(errors[0] instanceof NoWorkersError);
    // A worker joining later routes new arrivals at once.
    router.addWorker({
      workerId: asWorkerId('w9'),
      blockSize: BS,
      totalBlocks: 100,
      maxNumBatchedTokens: 64,
    });
    offer('c', 2000);
    assert.equal(errors.length, 1);
  });

  it('wspt parks a request even when every worker is past the busy threshold (routing then says busy)', () => {
    const { router } = routerWith(
      new LeastLoadedPolicy(),
      ['w1', 'w2'],
      { queue: { threshold: 0, policy: 'wspt' }, busyThreshold: 0.01 },
      { maxNumBatchedTokens: 64, totalBlocks: 100 },
    );
    const outcomes: string[] = [];
    const offer = (id: string, from: number) => {
      const input = { requestId: id, tokenIds: tokens(from, 4 * BS) };
      router.admit(input, () => {
        try {
          outcomes.push(`${id}→${router.route(input).workerId}`);
        } catch (err) {
          outcomes.push(`${id}: ${(err as Error).name}`);
        }
      });
    };
    offer('a', 0);
    offer('b', 1000);
    offer('c', 2000); // both workers prefilling and past 1 % KV: parks without asking the busy pool for a view
    assert.equal(router.queue?.depth, 1);
    router.markPrefillDone('a');
    assert.equal(outcomes.length, 3);
    assert.match(outcomes[2]!, /^c: AllWorkersBusyError$/);
  });

  it("another frontend's prefill counts as backlog (replica sync), and its first token releases a waiting request", () => {
    const { router, ids, offer, routed } = queued({ threshold: 0 });
    const peer = (requestId: string, workerId: WorkerId) => ({
      requestId: asRequestId(requestId),
      workerId,
    });
    // The other replica has a prompt prefilling on each worker.
    for (const [i, workerId] of ids.entries()) {
      const blockHashes = sequenceHashes(tokens(90_000 + 1000 * i, 4 * BS));
      router.applyPeerChange('fe-2', {
        kind: 'add',
        ...peer(`p${i}`, workerId),
        blockHashes,
        isl: 4 * BS,
        overlapBlocks: 0,
      });
    }
    assert.equal(offer('mine', 0, 100), false);
    router.applyPeerChange('fe-2', { kind: 'prefill_done', ...peer('p1', ids[1]!) });
    assert.deepEqual(order(routed), ['mine']);
    assert.equal(routed[0]!.workerId, ids[1]);
  });

  it('refuses a negative threshold', () => {
    assert.throws(() => queued({ threshold: -1 }), /threshold must be a number ≥ 0/);
  });
});
