/**
 * EventFeed on the in-memory event plane and request plane: KV events reach the model's router, a gap
 * in a worker's event ids makes the feed fetch the worker's `kv_snapshot` and the router rebuild that
 * worker's index from it, and load reports reach the router and the busy check.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { InstanceInfo, ModelCard } from '../protocols/discovery.ts';
import { asWorkerId } from '../protocols/ids.ts';
import { hashToWire, type KvCacheEvent } from '../protocols/kv-events.ts';
import type { KvSnapshot } from '../protocols/router.ts';
import { MemoryBroker, MemoryEventBus } from '../runtime/events/index.ts';
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
  totalKvBlocks: 100,
  maxNumSeqs: 8,
  maxNumBatchedTokens: 256,
};

/** `stored` events for the full blocks of `tokens`, one block per event, chained. */
function storedEvents(tokens: number[], firstEventId: number): KvCacheEvent[] {
  const { local, sequence } = computeBlockHashes(tokens, BLOCK);
  return sequence.map((hash, i) => ({
    eventId: firstEventId + i,
    data: {
      type: 'stored',
      parentHash: i === 0 ? null : hashToWire(sequence[i - 1]),
      blocks: [
        {
          blockHash: hashToWire(hash),
          tokensHash: hashToWire(local[i]),
          tokenIds: tokens.slice(i * BLOCK, (i + 1) * BLOCK),
        },
      ],
    },
  }));
}

test('events reach the router; a gap fetches kv_snapshot and rebuilds the index; load reaches the pool', async () => {
  const scope = { namespace: 'feedtest', component: 'backend' };
  const workerId = asWorkerId('00000000000000a1');
  const bus = new MemoryEventBus({ broker: new MemoryBroker() });
  const plane = new InMemoryRequestPlane();
  const prompt = Array.from({ length: 16 }, (_, i) => 10 + i); // 4 full blocks
  const snapshotCalls: unknown[] = [];
  const handle = await plane.serve({
    kv_snapshot: async function* (payload): AsyncGenerator<KvSnapshot> {
      snapshotCalls.push(payload);
      // The worker's cache as of event 7: the whole 4-block prompt.
      yield { workerId, lastEventId: 7, events: storedEvents(prompt, 1) };
    },
  });
  let feed: EventFeed | undefined;
  const deployment = await ModelDeployment.create({
    card,
    plane,
    router: { router: 'kv', decisionLog: 'off' },
    migrationLimit: 0,
    requestSnapshot: (d, id) => feed?.requestSnapshot(d, id),
    log: getLogger('frontend'),
  });
  const instance = {
    ...scope,
    endpoint: 'generate',
    instanceId: workerId,
    transport: { tcp: handle.address },
  };
  deployment.addWorker(workerId, instance as InstanceInfo, card);
  feed = new EventFeed({
    bus,
    plane,
    deploymentOf: (id) => (id === workerId ? deployment : undefined),
    log: getLogger('frontend'),
  });
  await feed.follow(scope);
  const overlap = () =>
    deployment.router.indexer.findMatches(computeBlockHashes(prompt, BLOCK).sequence).get(workerId) ?? 0;

  // Events 1-2 in order: the first two blocks are indexed.
  for (const event of storedEvents(prompt, 1).slice(0, 2))
    await bus.publishKvEvent(scope, { workerId, event });
  await eventually(() => overlap() === 2, 'two blocks indexed from events');
  assert.equal(snapshotCalls.length, 0);

  // Event 8 after 2: events 3-7 were missed. The feed asks the worker, the snapshot brings all 4 blocks.
  const late: KvCacheEvent = { eventId: 8, data: { type: 'removed', blockHashes: [] } };
  await bus.publishKvEvent(scope, { workerId, event: late });
  await eventually(() => deployment.router.indexer.stats().snapshotsApplied === 1, 'the snapshot applied');
  assert.equal(snapshotCalls.length, 1);
  assert.equal(overlap(), 4);
  assert.equal(deployment.router.indexer.lastEventId(workerId), 8, 'the buffered event 8 replayed after it');
  assert.equal(feed.stats.snapshotsApplied, 1);

  bus.publish(scope, 'kv_metrics', {
    workerId,
    activeDecodeBlocks: 99,
    activePrefillTokens: 0,
    kvUsedBlocks: 99,
    kvTotalBlocks: 100,
    numWaiting: 1,
    numRunning: 8,
    gpuCacheUsagePerc: 0.99,
  });
  await eventually(() => deployment.router.isBusy(workerId), 'the load report at the router');
  assert.equal(feed.stats.loadReports, 1);

  await feed.close();
  await bus.close();
});
