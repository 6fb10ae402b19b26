import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createEventBus } from './create-event-bus.ts';
import { runEventBusConformance } from './event-bus.conformance.ts';
import { MemoryBroker, MemoryEventBus } from './memory-event-bus.ts';
import { Collector, freshScope, sampleLoad } from './testing/event-bus-kit.ts';

const broker = new MemoryBroker();
runEventBusConformance('memory', () => ({
  createBus: async (publisherId) => new MemoryEventBus({ broker, publisherId }),
  injectRaw: async (subject, data) => {
    broker.publishRaw(subject, data);
  },
}));

describe('MemoryEventBus', () => {
  it('connects buses made by createEventBus through the process-wide broker', async () => {
    const scope = freshScope();
    const a = await createEventBus({ backend: 'memory', publisherId: 'a' });
    const b = await createEventBus({ backend: 'memory' });
    const got = new Collector<unknown>();
    await b.subscribe(scope, 'kv_metrics', got.push);
    a.publish(scope, 'kv_metrics', sampleLoad('w1', 3));
    await got.waitFor(1);
    assert.equal(a.backend, 'memory');
    await Promise.all([a.close(), b.close()]);
  });

  it('delivers asynchronously, never inside publish()', async () => {
    const scope = freshScope();
    const bus = new MemoryEventBus({ broker: new MemoryBroker() });
    const got = new Collector<unknown>();
    await bus.subscribe(scope, 'kv_metrics', got.push);
    bus.publish(scope, 'kv_metrics', sampleLoad('w1', 1));
    assert.equal(got.items.length, 0);
    await got.waitFor(1);
    await bus.close();
  });
});
