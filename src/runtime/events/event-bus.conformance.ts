/**
 * The one behaviour every `EventBus` must have, run against each backend (memory-event-bus.test.ts,
 * nats-event-bus.test.ts), like a protocol conformance suite run against two server implementations.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { EventEnvelope } from '../../protocols/events.ts';
import { eventSubject } from '../../protocols/events.ts';
import type { LoadMetrics, WorkerKvEvent } from '../../protocols/kv-events.ts';
import { encodeEnvelope } from './codec.ts';
import { EventBusClosedError, InvalidEventError } from './errors.ts';
import type { EventBus, KvEventDelivery } from './event-bus.ts';
import { Collector, freshScope, sampleKvEvent, sampleLoad } from './testing/event-bus-kit.ts';

export interface BusFixture {
  /** A new bus on the shared backend (same broker / same server). */
  createBus(publisherId?: string): Promise<EventBus>;
  /** Put raw bytes on a subject as a foreign publisher would (stored too, for a kv-events subject). */
  injectRaw(subject: string, data: Uint8Array): Promise<void>;
}

const encoder = new TextEncoder();

export function runEventBusConformance(name: string, fixture: () => BusFixture): void {
  describe(`EventBus conformance: ${name}`, () => {
    const buses: EventBus[] = [];
    const bus = async (publisherId?: string) => {
      const b = await fixture().createBus(publisherId);
      buses.push(b);
      return b;
    };
    after(async () => {
      await Promise.all(buses.map((b) => b.close()));
    });

    it('delivers published load metrics in envelopes numbered per publisher', async () => {
      const scope = freshScope();
      const [pub, sub] = [await bus('worker-a'), await bus()];
      const got = new Collector<EventEnvelope<LoadMetrics>>();
      await sub.subscribe(scope, 'kv_metrics', got.push);
      for (let i = 1; i <= 3; i++) assert.equal(pub.publish(scope, 'kv_metrics', sampleLoad('w1', i)), true);
      const items = await got.waitFor(3);
      assert.deepEqual(
        items.map((e) => [e.publisher_id, e.sequence, e.topic, e.payload.kvUsedBlocks]),
        [
          ['worker-a', 1, 'kv_metrics', 1],
          ['worker-a', 2, 'kv_metrics', 2],
          ['worker-a', 3, 'kv_metrics', 3],
        ],
      );
      assert.deepEqual(items[0].payload, sampleLoad('w1', 1));
      assert.ok(items[0].published_at > 1_600_000_000_000, 'published_at is unix milliseconds');
    });

    it('keeps subjects apart and fans out to every subscriber until it unsubscribes', async () => {
      const scope = freshScope();
      const other = { ...scope, component: 'prefill' };
      const [pub, sub] = [await bus(), await bus()];
      const first = new Collector<EventEnvelope<LoadMetrics>>();
      const second = new Collector<EventEnvelope<LoadMetrics>>();
      const sync = new Collector<EventEnvelope>();
      const firstSub = await sub.subscribe(scope, 'kv_metrics', first.push);
      await sub.subscribe(scope, 'kv_metrics', second.push);
      await sub.subscribe(scope, 'active_sequences_events', sync.push);
      pub.publish(other, 'kv_metrics', sampleLoad('elsewhere', 9));
      pub.publish(scope, 'kv_metrics', sampleLoad('w1', 1));
      await first.waitFor(1);
      await firstSub.unsubscribe();
      pub.publish(scope, 'kv_metrics', sampleLoad('w1', 2));
      pub.publish(scope, 'active_sequences_events', { requestId: 'r1', kind: 'add' });
      await second.waitFor(2);
      await sync.waitFor(1);
      assert.deepEqual(
        first.items.map((e) => e.payload.kvUsedBlocks),
        [1],
      );
      assert.deepEqual(
        second.items.map((e) => e.payload.kvUsedBlocks),
        [1, 2],
      );
      assert.deepEqual(sync.items[0].payload, { requestId: 'r1', kind: 'add' });
    });

    it('refuses malformed payloads and illegal names at publish time', async () => {
      const b = await bus();
      const bad = { ...sampleLoad('w1', 1), kvUsedBlocks: -1 };
      assert.throws(() => b.publish(freshScope(), 'kv_metrics', bad), InvalidEventError);
      assert.throws(
        () => b.publish({ namespace: 'a.b', component: 'c' }, 'kv_metrics', sampleLoad('w', 1)),
        InvalidEventError,
      );
      const badKv = sampleKvEvent('w1', 0); // event ids start at 1
      await assert.rejects(b.publishKvEvent(freshScope(), badKv), InvalidEventError);
    });

    it('skips malformed messages on the wire and keeps delivering', async () => {
      const scope = freshScope();
      const subject = eventSubject(scope.namespace, scope.component, 'kv_metrics');
      const [pub, sub] = [await bus(), await bus()];
      const got = new Collector<EventEnvelope<LoadMetrics>>();
      await sub.subscribe(scope, 'kv_metrics', got.push);
      const valid = { publisher_id: 'x', sequence: 1, published_at: 1, topic: 'kv_metrics' as const };
      await fixture().injectRaw(subject, encoder.encode('this is not json'));
      await fixture().injectRaw(
        subject,
        encodeEnvelope({ ...valid, topic: 'kv-events', payload: sampleLoad('w', 1) }),
      );
      await fixture().injectRaw(subject, encodeEnvelope({ ...valid, payload: { workerId: 'w' } }));
      await fixture().injectRaw(subject, new Uint8Array([0xff, 0xfe, 0x00]));
      pub.publish(scope, 'kv_metrics', sampleLoad('w1', 7));
      const items = await got.waitFor(1);
      assert.equal(items[0].payload.kvUsedBlocks, 7);
      assert.equal(sub.stats().malformedSkipped, 4);
    });

    it('keeps delivering after a handler throws, one message at a time in order', async () => {
      const scope = freshScope();
      const [pub, sub] = [await bus(), await bus()];
      const seen: number[] = [];
      const done = new Collector<number>();
      let running = 0;
      await sub.subscribe(scope, 'kv_metrics', async (e) => {
        running++;
        assert.equal(running, 1, 'handlers never overlap');
        await new Promise((resolve) => setTimeout(resolve, 5));
        seen.push(e.payload.kvUsedBlocks);
        running--;
        done.push(e.payload.kvUsedBlocks);
        if (e.payload.kvUsedBlocks === 2) throw new Error('handler bug');
      });
      for (let i = 1; i <= 4; i++) pub.publish(scope, 'kv_metrics', sampleLoad('w1', i));
      await done.waitFor(4);
      assert.deepEqual(seen, [1, 2, 3, 4]);
      assert.equal(sub.stats().handlerErrors, 1);
    });

    it('replays the durable KV log from the start, from a sequence, or only new events', async () => {
      const scope = freshScope();
      const pub = await bus('worker-a');
      const acks = [];
      for (let id = 1; id <= 100; id++) acks.push(await pub.publishKvEvent(scope, sampleKvEvent('w1', id)));
      assert.deepEqual(
        acks.map((a) => a.streamSequence),
        Array.from({ length: 100 }, (_, i) => i + 1),
      );
      const reader = await bus();
      const all = new Collector<KvEventDelivery>();
      await reader.consumeKvEvents(scope, 'start', all.push);
      const items = await all.waitFor(100);
      assert.deepEqual(
        items.map((d) => d.envelope.payload.event.eventId),
        Array.from({ length: 100 }, (_, i) => i + 1),
      );
      assert.deepEqual(
        items.map((d) => d.streamSequence),
        acks.map((a) => a.streamSequence),
      );
      assert.deepEqual(items[41].envelope.payload, sampleKvEvent('w1', 42));
      assert.equal(items[99].envelope.sequence, 100);

      const tail = new Collector<KvEventDelivery>();
      await reader.consumeKvEvents(scope, { sequence: 98 }, tail.push);
      const fresh = new Collector<KvEventDelivery>();
      await reader.consumeKvEvents(scope, 'new', fresh.push);
      await pub.publishKvEvent(scope, sampleKvEvent('w1', 101));
      await tail.waitFor(4);
      await fresh.waitFor(1);
      await all.waitFor(101);
      assert.deepEqual(
        tail.items.map((d) => d.envelope.payload.event.eventId),
        [98, 99, 100, 101],
      );
      assert.deepEqual(
        fresh.items.map((d) => d.streamSequence),
        [101],
      );
    });

    it('does not mistake a restarted publisher reusing its id for a duplicate', async () => {
      const scope = freshScope();
      const first = await bus('worker-same');
      assert.equal((await first.publishKvEvent(scope, sampleKvEvent('w1', 1))).streamSequence, 1);
      await first.close();
      const again = await bus('worker-same'); // same id, its sequence starts at 1 again
      const ack = await again.publishKvEvent(scope, sampleKvEvent('w1', 1));
      assert.deepEqual(ack, { streamSequence: 2, duplicate: false });
    });

    it('shows durable KV events to live subscribers and skips malformed log entries', async () => {
      const scope = freshScope();
      const subject = eventSubject(scope.namespace, scope.component, 'kv-events');
      const [pub, sub] = [await bus(), await bus()];
      const live = new Collector<EventEnvelope<WorkerKvEvent>>();
      await sub.subscribe(scope, 'kv-events', live.push);
      await pub.publishKvEvent(scope, sampleKvEvent('w1', 1));
      await fixture().injectRaw(subject, encoder.encode('{"garbage": true}'));
      await pub.publishKvEvent(scope, sampleKvEvent('w1', 2));
      const replay = new Collector<KvEventDelivery>();
      const reader = await bus();
      await reader.consumeKvEvents(scope, 'start', replay.push);
      await replay.waitFor(2);
      await live.waitFor(2);
      assert.deepEqual(
        replay.items.map((d) => [d.streamSequence, d.envelope.payload.event.eventId]),
        [
          [1, 1],
          [3, 2],
        ],
      );
      assert.deepEqual(
        live.items.map((e) => e.payload.event.eventId),
        [1, 2],
      );
      assert.equal(reader.stats().malformedSkipped, 1);
    });

    it('refuses use after close', async () => {
      const b = await bus();
      await b.consumeKvEvents(freshScope(), 'start', () => {});
      await b.close();
      assert.throws(() => b.publish(freshScope(), 'kv_metrics', sampleLoad('w', 1)), EventBusClosedError);
      await assert.rejects(
        b.subscribe(freshScope(), 'kv_metrics', () => {}),
        EventBusClosedError,
      );
    });
  });
}
