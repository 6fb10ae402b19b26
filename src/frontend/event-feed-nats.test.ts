/**
 * EventFeed against a real nats-server: a frontend that joins late gets each worker's state from a
 * `kv_snapshot` instead of replaying the whole KV-event log, and after a nats-server restart the index
 * catches up at once (a fresh consumer and a snapshot per worker) instead of after the old consumer's
 * heartbeat timeout. The workers are stand-ins that keep a real cache record, publish their events
 * through their own NATS bus and answer `kv_snapshot` over the in-memory request plane.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type NatsServer, startNats } from '../infra/local-servers.ts';
import type { InstanceInfo, ModelCard } from '../protocols/discovery.ts';
import { asWorkerId, type WorkerId } from '../protocols/ids.ts';
import { hashToWire, type KvCacheEvent } from '../protocols/kv-events.ts';
import type { KvSnapshot } from '../protocols/router.ts';
import { type ComponentScope, createEventBus, type EventBus } from '../runtime/events/index.ts';
import { freshScope } from '../runtime/events/testing/event-bus-kit.ts';
import { InMemoryRequestPlane } from '../runtime/request-plane/index.ts';
import { computeBlockHashes } from '../tokens/block-hash.ts';
import { getLogger } from '../util/logger.ts';
import { defaultModelDir } from '../util/paths.ts';
import { EventFeed } from './event-feed.ts';
import { ModelDeployment } from './model-deployment.ts';
import { eventually, quietLogs } from './testing/frontend-kit.ts';

quietLogs();

const BLOCK = 4;
const card: ModelCard = {
  displayName: 'fortune-llama',
  modelType: 'chat',
  tokenizer: { kind: 'model-dir', path: defaultModelDir },
  contextLength: 1024,
  kvCacheBlockSize: BLOCK,
  totalKvBlocks: 1000,
  maxNumSeqs: 8,
  maxNumBatchedTokens: 256,
};

const prompt = (seed: number, blocks = 8) =>
  Array.from({ length: blocks * BLOCK }, (_, i) => seed * 1000 + i);

/** A worker's KV cache record: publishes its events to NATS and answers `kv_snapshot` with what it holds. */
class StandInWorker {
  private lastEventId = 0;
  /** Cached blocks, parents first: wire hash → parent wire hash. */
  private readonly cached = new Map<string, string | null>();
  address = '';

  constructor(
    readonly workerId: WorkerId,
    readonly bus: EventBus,
    private readonly scope: ComponentScope,
  ) {}

  async serve(plane: InMemoryRequestPlane): Promise<void> {
    const worker = this;
    const handle = await plane.serve({
      kv_snapshot: async function* (): AsyncGenerator<KvSnapshot> {
        yield worker.snapshot();
      },
    });
    this.address = handle.address;
  }

  /** Store a prompt's full blocks (one event), or evict them again (a second event). */
  store(tokens: number[]): Promise<unknown> {
    const { sequence } = computeBlockHashes(tokens, BLOCK);
    const blocks = sequence.map((h) => ({ blockHash: hashToWire(h), tokensHash: '0', tokenIds: [] }));
    for (const [i, b] of blocks.entries())
      this.cached.set(b.blockHash, i === 0 ? null : blocks[i - 1]!.blockHash);
    return this.publish({ type: 'stored', parentHash: null, blocks });
  }

  evict(tokens: number[]): Promise<unknown> {
    const blockHashes = computeBlockHashes(tokens, BLOCK).sequence.map(hashToWire);
    for (const hash of blockHashes) this.cached.delete(hash);
    return this.publish({ type: 'removed', blockHashes });
  }

  snapshot(): KvSnapshot {
    const events: KvCacheEvent[] = [...this.cached].map(([blockHash, parentHash]) => ({
      eventId: 1, // a dump's events carry no position of their own: `lastEventId` is the snapshot's
      data: { type: 'stored', parentHash, blocks: [{ blockHash, tokensHash: '0', tokenIds: [] }] },
    }));
    return { workerId: this.workerId, lastEventId: this.lastEventId, events };
  }

  private publish(data: KvCacheEvent['data']): Promise<unknown> {
    const event = { eventId: ++this.lastEventId, data };
    return this.bus.publishKvEvent(this.scope, { workerId: this.workerId, event });
  }
}

let server: NatsServer;
let dataDir: string;
before(async () => {
  // A data dir of our own: a server we stop and restart must find its JetStream streams again.
  dataDir = await mkdtemp(join(tmpdir(), 'dhw-feed-test-'));
  server = await startNats({ dataDir });
});
after(async () => {
  await server?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

interface Frontend {
  feed: EventFeed;
  deployment: ModelDeployment;
  bus: EventBus;
}

/** A frontend's event side (deployment + feed on its own NATS connection) over `workers`. */
async function frontend(
  plane: InMemoryRequestPlane,
  scope: ComponentScope,
  workers: StandInWorker[],
  kvReplay: 'start' | 'snapshot',
): Promise<Frontend> {
  const bus = await createEventBus({ backend: 'nats', natsServer: server.url, reconnectWaitMs: 100 });
  let feed: EventFeed | undefined;
  const deployment = await ModelDeployment.create({
    card,
    plane,
    router: { router: 'kv', decisionLog: 'off' },
    migrationLimit: 0,
    requestSnapshot: (d, id) => feed?.requestSnapshot(d, id),
    log: getLogger('frontend'),
  });
  feed = new EventFeed({ bus, plane, deploymentOf: () => deployment, kvReplay, log: getLogger('frontend') });
  for (const worker of workers) {
    const instance = {
      ...scope,
      endpoint: 'generate',
      instanceId: worker.workerId,
      transport: { tcp: worker.address },
    };
    deployment.addWorker(worker.workerId, instance as InstanceInfo, card);
    await feed.workerAdded(deployment, worker.workerId, scope);
  }
  return { feed, deployment, bus };
}

async function closeFrontend(f: Frontend): Promise<void> {
  await f.feed.close();
  await f.bus.close();
}

async function standIns(scope: ComponentScope, plane: InMemoryRequestPlane, n: number) {
  const workers: StandInWorker[] = [];
  for (let i = 1; i <= n; i++) {
    const bus = await createEventBus({ backend: 'nats', natsServer: server.url, reconnectWaitMs: 100 });
    const worker = new StandInWorker(asWorkerId(`w${i}`), bus, scope);
    await worker.serve(plane);
    workers.push(worker);
  }
  return { workers, close: () => Promise.all(workers.map((w) => w.bus.close())) };
}

const overlapOn = (f: Frontend, tokens: number[], workerId: WorkerId) =>
  f.deployment.router.indexer.findMatches(computeBlockHashes(tokens, BLOCK).sequence).get(workerId) ?? 0;

describe('EventFeed over NATS', () => {
  it('a frontend that joins late loads snapshots and tails from now, without reading the log', async () => {
    const scope = freshScope();
    const plane = new InMemoryRequestPlane();
    const { workers, close } = await standIns(scope, plane, 2);
    try {
      // A long history on w1: 100 prompts stored and evicted (200 events), then the shared prefix on w2.
      for (let i = 0; i < 100; i++) {
        await workers[0]!.store(prompt(i));
        await workers[0]!.evict(prompt(i));
      }
      const shared = prompt(500);
      await workers[1]!.store(shared);

      const late = await frontend(plane, scope, workers, 'snapshot');
      try {
        await eventually(() => late.feed.stats.snapshotsApplied === 2, 'one snapshot per worker');
        assert.equal(late.feed.stats.kvEventsApplied, 0, 'no event of the log was read');
        assert.equal(late.deployment.router.indexer.stats().eventsApplied, 8, 'only the 8 cached blocks');
        const routed = late.deployment.router.route({ requestId: 'r1', tokenIds: [...shared, 1, 2] });
        assert.equal(routed.workerId, workers[1]!.workerId);
        assert.equal(routed.overlapBlocks, 8);

        // And it follows what comes next.
        const next = prompt(501);
        await workers[0]!.store(next);
        await eventually(() => overlapOn(late, next, workers[0]!.workerId) === 8, 'a new prefix indexed');
        assert.equal(late.feed.stats.kvEventsApplied, 1);
      } finally {
        await closeFrontend(late);
      }

      // Replaying from the start reads the whole log (every event) to reach the same index.
      const replaying = await frontend(plane, scope, workers, 'start');
      try {
        await eventually(() => replaying.feed.stats.kvEventsApplied === 202, 'the whole log replayed');
        assert.equal(overlapOn(replaying, shared, workers[1]!.workerId), 8);
      } finally {
        await closeFrontend(replaying);
      }
    } finally {
      await close();
    }
  });

  it('after a nats-server restart, prefixes cached during and after the outage are indexed at once', async () => {
    const scope = freshScope();
    const plane = new InMemoryRequestPlane();
    const { workers, close } = await standIns(scope, plane, 2);
    const f = await frontend(plane, scope, workers, 'snapshot');
    try {
      const before = prompt(1);
      await workers[0]!.store(before);
      await eventually(() => overlapOn(f, before, workers[0]!.workerId) === 8, 'indexed before the outage');

      await server.stop();
      const during = prompt(2);
      const duringPublished = workers[1]!.store(during); // retried by the worker's bus until acked
      await server.restart();
      const restartedAt = Date.now();
      await eventually(() => f.feed.stats.reconnects >= 1, 'the feed saw the reconnect');
      await eventually(() => overlapOn(f, during, workers[1]!.workerId) === 8, 'the outage prefix indexed');
      const after = prompt(3);
      await workers[0]!.store(after);
      await eventually(() => overlapOn(f, after, workers[0]!.workerId) === 8, 'a new prefix indexed');
      const caughtUpMs = Date.now() - restartedAt;
      await duringPublished;
      // The feed counts a reconnect before its resyncs (they wait for the new consumers): wait, not assert.
      await eventually(
        () => f.feed.stats.resyncs >= 4,
        'both workers resynced at join and after the reconnect',
      );
      assert.equal(overlapOn(f, before, workers[0]!.workerId), 8, 'what was indexed before is still there');
      getLogger('test').warn('index caught up after the NATS restart', { caughtUpMs });
    } finally {
      await closeFrontend(f);
      await close();
    }
  });
});
