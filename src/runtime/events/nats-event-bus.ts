/**
 * The event bus on a real nats-server, like a Kafka client with one producer and many consumers:
 *
 *   publish(kv_metrics)  ──core NATS──▶ namespace.dynamo.component.backend.kv_metrics ──▶ subscribers
 *   publishKvEvent       ──JetStream──▶ stream DYN_dynamo_backend_KV (file) ──ordered consumer──▶ router
 *
 * Outages: the connection reconnects forever. Core publishes made while disconnected are dropped and
 * counted (a load report is superseded by the next one; buffering stale ones would only replay old news).
 * KV-event publishes are queued in call order and retried until the server acknowledges them (or the
 * deadline passes); each carries a `Nats-Msg-Id` of `{publisher_id}:{nonce}:{sequence}`, so a retry of a
 * publish that did land is recognised as a duplicate instead of stored twice (the per-bus nonce keeps a
 * restarted publisher that reuses its id, sequence 1 again, from being taken for a duplicate). Core
 * subscriptions are resent by nats.js on reconnect; ordered consumers recreate themselves after the last
 * sequence they delivered.
 */
import { randomBytes } from 'node:crypto';
import {
  DeliverPolicy,
  type JetStreamClient,
  type JetStreamManager,
  jetstream,
  jetstreamManager,
} from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { CoreEventTopic, EventTopic, TopicPayloads } from '../../protocols/events.ts';
import type { WorkerKvEvent } from '../../protocols/kv-events.ts';
import { getLogger } from '../../util/logger.ts';
import { EnvelopeStamper, randomPublisherId } from './codec.ts';
import {
  BusCounters,
  deliver,
  encodeForPublish,
  replaySequence,
  SubscriptionSet,
  scopeSubject,
} from './delivery.ts';
import { EventBusClosedError, EventBusUnavailableError, EventPublishError } from './errors.ts';
import type {
  ComponentScope,
  EventBus,
  EventBusStats,
  EventHandler,
  EventSubscription,
  KvEventDelivery,
  KvEventHandler,
  KvPublishAck,
  KvReplayFrom,
} from './event-bus.ts';
import { DEFAULT_KV_STREAM_LIMITS, ensureKvStream, type KvStreamLimits } from './kv-stream.ts';
import { ConnectionState, connectNats, type NatsConnectOptions } from './nats-connection.ts';

const log = getLogger('events');

export interface NatsEventBusOptions extends Partial<NatsConnectOptions> {
  url: string;
  publisherId?: string;
  kvStreamLimits?: Partial<KvStreamLimits>;
  /** How long `publishKvEvent` keeps retrying through an outage before it rejects. Default 30 s. */
  kvPublishDeadlineMs?: number;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export class NatsEventBus implements EventBus {
  readonly backend = 'nats' as const;
  private readonly js: JetStreamClient;
  private readonly stamper: EnvelopeStamper;
  private readonly counters = new BusCounters();
  private readonly subscriptions = new SubscriptionSet();
  private readonly streams = new Map<string, Promise<string>>();
  private readonly kvLimits: KvStreamLimits;
  private kvPublishChain: Promise<unknown> = Promise.resolve();
  /** Tells this bus's message ids from a previous process that used the same publisher id. */
  private readonly busNonce = randomBytes(4).toString('hex');
  private closed = false;

  private constructor(
    private readonly nc: NatsConnection,
    private readonly jsm: JetStreamManager,
    private readonly state: ConnectionState,
    readonly url: string,
    readonly publisherId: string,
    private readonly options: NatsEventBusOptions,
  ) {
    this.js = jetstream(nc);
    this.stamper = new EnvelopeStamper(publisherId);
    this.kvLimits = { ...DEFAULT_KV_STREAM_LIMITS, ...options.kvStreamLimits };
  }

  /** Connect (failing fast with `EventBusUnavailableError`) and check that JetStream is enabled. */
  static async connect(options: NatsEventBusOptions): Promise<NatsEventBus> {
    const publisherId = options.publisherId ?? randomPublisherId();
    const nc = await connectNats({ ...options, name: options.name ?? `dhw-${publisherId}` });
    let jsm: JetStreamManager;
    try {
      jsm = await jetstreamManager(nc, { timeout: 5000 });
    } catch (err) {
      await nc.close();
      throw new EventBusUnavailableError(
        `NATS at ${options.url} answers but JetStream is not available (${(err as Error).message}). ` +
          'Start nats-server with JetStream on: `nats-server -js -sd DIR` (`dhw infra up` does).',
        { cause: err },
      );
    }
    const state = new ConnectionState(nc, log, options.url);
    return new NatsEventBus(nc, jsm, state, options.url, publisherId, options);
  }

  publish<T extends CoreEventTopic>(scope: ComponentScope, topic: T, payload: TopicPayloads[T]): boolean {
    const { subject, data } = this.encode(scope, topic, payload);
    if (!this.state.connected) {
      this.counters.droppedWhileDisconnected++;
      return false;
    }
    this.nc.publish(subject, data);
    return true;
  }

  async subscribe<T extends EventTopic>(
    scope: ComponentScope,
    topic: T,
    handler: EventHandler<T>,
  ): Promise<EventSubscription> {
    this.assertOpen();
    const subject = scopeSubject(scope, topic);
    const sub = this.nc.subscribe(subject);
    let stopped = false;
    const loop = async () => {
      for await (const msg of sub) {
        if (stopped) break;
        await deliver(topic, msg.data, handler, this.counters, log, { subject });
      }
    };
    void loop().catch((err) => log.error('subscription stopped', { subject, err }));
    await this.nc.flush(); // the server knows our interest before we return
    return this.subscriptions.track(() => {
      stopped = true;
      sub.unsubscribe();
    });
  }

  async publishKvEvent(scope: ComponentScope, event: WorkerKvEvent): Promise<KvPublishAck> {
    // Runs synchronously up to `return`: the event takes its place in the queue at call time.
    const { subject, data, sequence } = this.encode(scope, 'kv-events', event);
    const msgID = `${this.publisherId}:${this.busNonce}:${sequence}`;
    const result = this.kvPublishChain.then(() => this.publishDurably(scope, subject, data, msgID));
    this.kvPublishChain = result.catch(() => undefined);
    return result;
  }

  async consumeKvEvents(
    scope: ComponentScope,
    from: KvReplayFrom,
    handler: KvEventHandler,
  ): Promise<EventSubscription> {
    this.assertOpen();
    const subject = scopeSubject(scope, 'kv-events');
    const stream = await this.ensureStream(scope);
    const consumer = await this.js.consumers.get(stream, orderedConsumerStart(from));
    const messages = await consumer.consume();
    let stopped = false;
    const loop = async () => {
      for await (const msg of messages) {
        if (stopped) break;
        const context = { subject, streamSequence: msg.seq };
        const handle = (envelope: KvEventDelivery['envelope']) =>
          handler({ streamSequence: msg.seq, envelope });
        await deliver('kv-events', msg.data, handle, this.counters, log, context);
      }
    };
    void loop().catch((err) => log.error('KV event consumer stopped', { subject, err }));
    return this.subscriptions.track(async () => {
      stopped = true;
      await messages.close();
    });
  }

  stats(): EventBusStats {
    return this.counters.snapshot();
  }

  onReconnect(listener: () => void): void {
    this.state.onReconnect(listener);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.subscriptions.unsubscribeAll();
    await this.nc.close();
    await this.state.done;
  }

  private encode<T extends EventTopic>(scope: ComponentScope, topic: T, payload: TopicPayloads[T]) {
    this.assertOpen();
    return encodeForPublish(this.stamper, scope, topic, payload);
  }

  /** One KV event, retried with backoff until acknowledged, the deadline passes, or the bus closes. */
  private async publishDurably(
    scope: ComponentScope,
    subject: string,
    data: Uint8Array,
    msgID: string,
  ): Promise<KvPublishAck> {
    const deadline = Date.now() + (this.options.kvPublishDeadlineMs ?? 30_000);
    let backoffMs = 50;
    for (let attempt = 1; ; attempt++) {
      if (this.closed)
        throw new EventBusClosedError(`event bus closed before KV event ${msgID} was acknowledged`);
      try {
        await this.ensureStream(scope);
        const timeout = Math.max(100, Math.min(1000, deadline - Date.now()));
        const ack = await this.js.publish(subject, data, { msgID, timeout });
        if (attempt > 1) log.info('KV event published after retries', { subject, msgID, attempt });
        return { streamSequence: ack.seq, duplicate: ack.duplicate };
      } catch (err) {
        if (Date.now() + backoffMs >= deadline || this.closed) {
          throw new EventPublishError(
            `KV event ${msgID} on ${subject} was not acknowledged by JetStream at ${this.url} after ` +
              `${attempt} attempts: ${(err as Error).message}. Check that nats-server is up with -js.`,
            { cause: err },
          );
        }
        if (attempt === 1) log.warn('KV event publish failed; retrying', { subject, msgID, err });
        await sleep(backoffMs);
        backoffMs = Math.min(backoffMs * 2, 1000);
      }
    }
  }

  /** The component's stream name, created once per bus (retried after a failure). */
  private ensureStream(scope: ComponentScope): Promise<string> {
    const key = `${scope.namespace}\u0000${scope.component}`;
    let pending = this.streams.get(key);
    if (!pending) {
      pending = ensureKvStream(this.jsm, scope, this.kvLimits);
      pending.catch(() => this.streams.delete(key));
      this.streams.set(key, pending);
    }
    return pending;
  }

  private assertOpen(): void {
    if (this.closed) throw new EventBusClosedError('this event bus was closed; create a new one');
  }
}

/** Ordered-consumer options for a replay start point. */
function orderedConsumerStart(from: KvReplayFrom) {
  if (from === 'start') return { deliver_policy: DeliverPolicy.All };
  if (from === 'new') return { deliver_policy: DeliverPolicy.New };
  return { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: replaySequence(from) };
}
