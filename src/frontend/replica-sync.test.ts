/**
 * Router replica sync through a real nats-server: two frontends' routers over the same four workers.
 * With sync, each router counts the other's requests, so a burst split between them spreads evenly and a
 * prompt routed by one is sent to the same worker by the other (its blocks are in flight there); without
 * it, two identically configured routers make the same choice and pile onto the same workers.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type NatsServer, startNats } from '../infra/local-servers.ts';
import { asWorkerId } from '../protocols/ids.ts';
import { createRouter, type Router } from '../router/index.ts';
import { createEventBus, type EventBus } from '../runtime/events/index.ts';
import { freshScope, retryUntil } from '../runtime/events/testing/event-bus-kit.ts';
import { getLogger } from '../util/logger.ts';
import { RouterReplicaSync } from './replica-sync.ts';

const BLOCK_SIZE = 16;
const WORKERS = [1, 2, 3, 4].map((i) => asWorkerId(`w${i}`));

let server: NatsServer;
before(async () => {
  server = await startNats();
});
after(async () => {
  await server?.stop();
});

interface Replica {
  router: Router;
  sync: RouterReplicaSync | undefined;
  bus: EventBus;
}

/** A router over the four workers; with `sync`, wired to the other replicas through NATS. */
async function replica(scope: { namespace: string; component: string }, sync: boolean): Promise<Replica> {
  const router = await createRouter({ router: 'kv', seed: 7, blockSize: BLOCK_SIZE, decisionLog: 'off' });
  for (const workerId of WORKERS) router.addWorker({ workerId, blockSize: BLOCK_SIZE, totalBlocks: 4096 });
  const bus = await createEventBus({ backend: 'nats', natsServer: server.url });
  if (!sync) return { router, sync: undefined, bus };
  const replicaSync = new RouterReplicaSync({ bus, routerOf: () => router, log: getLogger('test') });
  replicaSync.attach(router);
  for (const workerId of WORKERS) await replicaSync.follow(scope, workerId);
  return { router, sync: replicaSync, bus };
}

async function closeAll(replicas: Replica[]): Promise<void> {
  for (const r of replicas) {
    await r.sync?.close();
    await r.bus.close();
  }
}

/** A distinct prompt of `blocks` full blocks plus 5 tokens. */
function prompt(seed: number, blocks = 8): number[] {
  return Array.from({ length: blocks * BLOCK_SIZE + 5 }, (_, i) => seed * 100_003 + i);
}

/** Wait until `peer` has applied `n` changes from the others. */
async function synced(peer: Replica, n: number): Promise<void> {
  await retryUntil(
    () => undefined,
    () => (peer.sync?.stats.applied ?? 0) >= n,
    `${n} peer changes applied`,
    { everyMs: 5 },
  );
}

describe('router replica sync over NATS', () => {
  it('two frontends spread a burst like one router; without sync they pile onto busy workers', async () => {
    // A decision "piles up" when it picks a worker with more requests in flight (over both frontends)
    // than the least-loaded one: the cluster's true state, which no single router sees without sync.
    const runBurst = async (sync: boolean) => {
      const scope = freshScope();
      const a = await replica(scope, sync);
      const b = await replica(scope, sync);
      try {
        const inFlight = new Map(WORKERS.map((w) => [w, 0]));
        let piled = 0;
        for (let i = 0; i < 16; i++) {
          const [from, to] = i % 2 === 0 ? [a, b] : [b, a];
          const { workerId } = from.router.route({ requestId: `r${i}`, tokenIds: prompt(i) });
          if (inFlight.get(workerId)! > Math.min(...inFlight.values())) piled++;
          inFlight.set(workerId, inFlight.get(workerId)! + 1);
          if (sync) await synced(to, Math.ceil((i + 1) / 2));
        }
        return { piled, aView: WORKERS.map((w) => a.router.active.counts(w).requests) };
      } finally {
        await closeAll([a, b]);
      }
    };

    const withSync = await runBurst(true);
    assert.equal(withSync.piled, 0, 'with sync every request goes to a least-loaded worker');
    assert.deepEqual(withSync.aView, [4, 4, 4, 4], "with sync frontend A counts B's requests too");
    const withoutSync = await runBurst(false);
    assert.ok(withoutSync.piled >= 4, `without sync the routers pile up (${withoutSync.piled} of 16)`);
  });

  it('a prompt routed by one frontend goes to the same worker from the other while it is in flight; free releases it', async () => {
    const scope = freshScope();
    const a = await replica(scope, true);
    const b = await replica(scope, true);
    try {
      const shared = prompt(42, 32);
      const first = a.router.route({ requestId: 'first', tokenIds: shared });
      await synced(b, 1);
      const second = b.router.route({ requestId: 'second', tokenIds: [...shared, 1, 2, 3] });
      assert.equal(second.workerId, first.workerId);
      assert.equal(second.overlapBlocks, 32, 'the peer’s in-flight blocks count as cached there');

      a.router.markPrefillDone('first');
      a.router.finishRequest('first', 'failed');
      await synced(b, 3);
      assert.equal(b.router.active.counts(first.workerId).requests, 1, "only b's own request is left");
      b.router.finishRequest('second', 'failed');
      await retryUntil(
        () => undefined,
        () => a.sync!.stats.applied >= 2,
        "a hears b's free",
        { everyMs: 5 },
      );
      assert.equal(a.router.active.size, 0, 'nothing is left counted on a');
    } finally {
      await closeAll([a, b]);
    }
  });

  it('ignores malformed changes and changes for workers it does not know', async () => {
    const scope = freshScope();
    const a = await replica(scope, true);
    const raw = await createEventBus({ backend: 'nats', natsServer: server.url });
    try {
      raw.publish(scope, 'active_sequences_events', { kind: 'add', requestId: 'x', workerId: 'w1' });
      raw.publish(scope, 'active_sequences_events', {
        kind: 'add',
        requestId: 'y',
        workerId: 'stranger',
        blockHashes: ['1'],
        isl: 16,
        overlapBlocks: 0,
      });
      raw.publish(scope, 'active_sequences_events', {
        kind: 'free',
        requestId: 'z',
        workerId: 'w1',
        outcome: 'done',
      });
      await retryUntil(
        () => undefined,
        () => a.sync!.stats.invalid + a.sync!.stats.ignored >= 3,
        'three messages seen',
        { everyMs: 5 },
      );
      assert.equal(a.sync!.stats.invalid, 1);
      assert.equal(a.sync!.stats.ignored, 2);
      assert.equal(a.router.active.size, 0);
    } finally {
      await raw.close();
      await closeAll([a]);
    }
  });
});
