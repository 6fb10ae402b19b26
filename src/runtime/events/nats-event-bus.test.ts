/**
 * The event bus against a real nats-server (JetStream on) started on a free port with a temp data dir.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { jetstream } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { freePort, type NatsServer, startNats } from '../../infra/local-servers.ts';
import type { EventEnvelope } from '../../protocols/events.ts';
import type { LoadMetrics } from '../../protocols/kv-events.ts';
import { createEventBus } from './create-event-bus.ts';
import { EventBusUnavailableError } from './errors.ts';
import { runEventBusConformance } from './event-bus.conformance.ts';
import type { EventBus, KvEventDelivery } from './event-bus.ts';
import { NatsEventBus } from './nats-event-bus.ts';
import { Collector, freshScope, retryUntil, sampleKvEvent, sampleLoad } from './testing/event-bus-kit.ts';

let server: NatsServer;
let raw: NatsConnection;

before(async () => {
  server = await startNats();
  raw = await connect({ servers: server.url });
});
after(async () => {
  await raw?.close();
  await server?.stop();
});

runEventBusConformance('nats', () => ({
  createBus: (publisherId) => NatsEventBus.connect({ url: server.url, publisherId }),
  injectRaw: async (subject, data) => {
    if (subject.endsWith('.kv-events')) await jetstream(raw).publish(subject, data);
    else {
      raw.publish(subject, data);
      await raw.flush();
    }
  },
}));

describe('NatsEventBus', () => {
  it('a consumer started later replays all 100 KV events in order, also after a server restart', async () => {
    const scope = freshScope();
    const publisher = await createEventBus({
      backend: 'nats',
      natsServer: server.url,
      publisherId: 'worker-1',
    });
    for (let id = 1; id <= 100; id++) await publisher.publishKvEvent(scope, sampleKvEvent('worker-1', id));
    await publisher.close();

    const replayOnce = async () => {
      const router = await createEventBus({ backend: 'nats', natsServer: server.url });
      const got = new Collector<KvEventDelivery>();
      await router.consumeKvEvents(scope, 'start', got.push);
      try {
        const items = await got.waitFor(100);
        return items.map((d) => d.envelope.payload.event.eventId);
      } finally {
        await router.close();
      }
    };
    const expected = Array.from({ length: 100 }, (_, i) => i + 1);
    assert.deepEqual(await replayOnce(), expected);
    await server.restart(); // file storage: the stream survives
    assert.deepEqual(await replayOnce(), expected);
  });

  it('publishers and subscribers recover from a server restart', async () => {
    // Its own server with a data dir we own: stop() then restart() must find the JetStream data again.
    const dataDir = await mkdtemp(join(tmpdir(), 'dhw-events-test-'));
    const own = await startNats({ dataDir });
    const scope = freshScope();
    const publisher = await createEventBus({ backend: 'nats', natsServer: own.url, publisherId: 'worker-1' });
    const router = await createEventBus({ backend: 'nats', natsServer: own.url });
    try {
      const load = new Collector<EventEnvelope<LoadMetrics>>();
      const kv = new Collector<KvEventDelivery>();
      await router.subscribe(scope, 'kv_metrics', load.push);
      await router.consumeKvEvents(scope, 'start', kv.push);
      publisher.publish(scope, 'kv_metrics', sampleLoad('worker-1', 1));
      await publisher.publishKvEvent(scope, sampleKvEvent('worker-1', 1));
      await load.waitFor(1);
      await kv.waitFor(1);

      await own.stop();
      const duringOutage = publisher.publishKvEvent(scope, sampleKvEvent('worker-1', 2)); // retried until acked
      // Once the client has noticed, a load report is dropped at once (publish returns false).
      await retryUntil(
        () => {},
        () => !publisher.publish(scope, 'kv_metrics', sampleLoad('worker-1', 77)),
        'the publisher to notice the outage',
      );
      await own.restart();

      await retryUntil(
        () => publisher.publish(scope, 'kv_metrics', sampleLoad('worker-1', 2)),
        () => load.items.some((e) => e.payload.kvUsedBlocks === 2),
        'a load report published after the restart',
      );
      assert.equal((await duringOutage).streamSequence, 2);
      await publisher.publishKvEvent(scope, sampleKvEvent('worker-1', 3));
      await kv.waitFor(3, 15_000);
      assert.deepEqual(
        kv.items.map((d) => [d.streamSequence, d.envelope.payload.event.eventId]),
        [
          [1, 1],
          [2, 2],
          [3, 3],
        ],
      );
      assert.ok(
        !load.items.some((e) => e.payload.kvUsedBlocks === 77),
        'a core message refused during the outage never arrives',
      );
      assert.ok(publisher.stats().droppedWhileDisconnected >= 1);
    } finally {
      await Promise.all([publisher.close(), router.close()]);
      await own.stop();
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it('fails fast with a clear error when NATS is unreachable', async () => {
    const url = `nats://127.0.0.1:${await freePort()}`;
    const started = Date.now();
    await assert.rejects(createEventBus({ backend: 'nats', natsServer: url }), (err: Error) => {
      assert.ok(err instanceof EventBusUnavailableError);
      assert.match(err.message, new RegExp(`Cannot reach NATS at ${url}`));
      assert.match(err.message, /Is nats-server running\? Try: `dhw infra up`/);
      return true;
    });
    assert.ok(Date.now() - started < 10_000, 'bounded: no hang on an unreachable server');
  });

  it('honours NATS_SERVER when no URL is given', async () => {
    const saved = process.env.NATS_SERVER;
    process.env.NATS_SERVER = server.url;
    let bus: EventBus | undefined;
    try {
      bus = await createEventBus({ backend: 'nats' });
      assert.equal((bus as NatsEventBus).url, server.url);
    } finally {
      await bus?.close();
      if (saved === undefined) delete process.env.NATS_SERVER;
      else process.env.NATS_SERVER = saved;
    }
  });

  it('says so when the server has JetStream off', async () => {
    const plain = await startNats({ jetstream: false });
    try {
      await assert.rejects(createEventBus({ backend: 'nats', natsServer: plain.url }), (err: Error) => {
        assert.ok(err instanceof EventBusUnavailableError);
        assert.match(err.message, /JetStream is not available/);
        return true;
      });
    } finally {
      await plain.stop();
    }
  });
});
