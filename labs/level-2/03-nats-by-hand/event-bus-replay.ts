/**
 * The last part of Lab 2.3: the same durability through the project's EventBus (`src/runtime/events`), the
 * way a worker and a router use it. A worker's KV cache (a real `KvCacheManager`, no model needed) emits
 * `stored` / `removed` events; the worker's bus appends each to its component's JetStream log; the server
 * restarts; a router that starts afterwards replays the log from the start and sees every event in order.
 * Like a database replica rebuilding itself from the primary's write-ahead log.
 */
import { hashTokens, KvCacheManager } from '../../../src/kv/index.ts';
import { asRequestId, asWorkerId } from '../../../src/protocols/ids.ts';
import type { KvCacheEvent } from '../../../src/protocols/kv-events.ts';
import { createEventBus, type KvEventDelivery, kvStreamName } from '../../../src/runtime/events/index.ts';
import type { NatsServer } from '../../../src/infra/local-servers.ts';
import { note, printTable } from '../../lib/lab-kit.ts';

const SCOPE = { namespace: 'dynamo', component: 'backend' };
const WORKER = asWorkerId('worker-lab');

/** Drive a small KV cache so it emits stored, stored, removed, stored. */
function exerciseCache(kv: KvCacheManager): void {
  const run = (name: string, tokenIds: number[]) => {
    const id = asRequestId(name);
    const tokens = hashTokens(tokenIds, kv.blockSize); // the cache reads a request's hashes, never hashes
    kv.allocateSlots(id, tokenIds.length, kv.getComputedBlocks(tokens).blocks);
    kv.cacheBlocks(id, tokens, tokenIds.length);
    kv.free(id);
  };
  run(
    'r1',
    Array.from({ length: 12 }, (_, i) => 10 + i),
  ); // 3 blocks cached
  run(
    'r2',
    Array.from({ length: 12 }, (_, i) => 50 + i),
  ); // 3 more
  run(
    'r3',
    Array.from({ length: 32 }, (_, i) => 90 + i),
  ); // needs all 8 blocks: evicts the 6 cached ones
}

function describe(event: KvCacheEvent): string {
  const { data } = event;
  if (data.type === 'stored') return `stored ${data.blocks.length} blocks`;
  if (data.type === 'removed') return `removed ${data.blockHashes.length} blocks`;
  return 'cleared';
}

export async function eventBusReplay(nats: NatsServer): Promise<void> {
  note(`worker: createEventBus({ backend: 'nats', natsServer: '${nats.url}' })`);
  const workerBus = await createEventBus({ backend: 'nats', natsServer: nats.url, publisherId: WORKER });
  const kv = new KvCacheManager({ numBlocks: 8, blockSize: 4, enablePrefixCaching: true });
  const acks: Promise<unknown>[] = [];
  const unsubscribe = kv.events.subscribe((event) => {
    acks.push(workerBus.publishKvEvent(SCOPE, { workerId: WORKER, event }));
  });
  try {
    exerciseCache(kv);
    await Promise.all(acks);
    note(
      `the worker's cache emitted ${acks.length} KV events; all acknowledged by stream ${kvStreamName(SCOPE)}`,
    );
  } finally {
    unsubscribe();
    await workerBus.close();
  }

  await nats.restart();
  note(`server restarted (pid ${nats.pid}); a router starts now and replays the worker's log from the start`);

  const routerBus = await createEventBus({
    backend: 'nats',
    natsServer: nats.url,
    publisherId: 'router-lab',
  });
  try {
    const seen: KvEventDelivery[] = [];
    let allIn: () => void = () => {};
    const done = new Promise<void>((resolve) => {
      allIn = resolve;
    });
    const sub = await routerBus.consumeKvEvents(SCOPE, 'start', (delivery) => {
      seen.push(delivery);
      if (seen.length === acks.length) allIn();
    });
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([done, new Promise((resolve) => (timer = setTimeout(resolve, 5000)))]);
    clearTimeout(timer);
    await sub.unsubscribe();
    printTable(
      ['stream seq', 'worker', 'event id', 'event'],
      seen.map((d) => [
        d.streamSequence,
        d.envelope.payload.workerId,
        d.envelope.payload.event.eventId,
        describe(d.envelope.payload.event),
      ]),
    );
    note(
      `router replayed ${seen.length} of ${acks.length} KV events after the restart, in order: enough to rebuild its index.`,
    );
  } finally {
    await routerBus.close();
  }
}
