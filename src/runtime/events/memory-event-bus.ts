/**
 * In-process event bus: what `npm start` uses when no NATS server is configured. Like a loopback
 * interface, it behaves as the network would (messages are encoded to bytes, decoded and validated on
 * delivery, and delivered asynchronously) but nothing leaves the process.
 *
 * A `MemoryBroker` plays nats-server: subjects fan out to subscribers, and each `*.kv-events` subject also
 * appends to an in-memory log, as a JetStream stream captures its subject. Buses built on one broker see
 * each other's messages; `defaultMemoryBroker` is the one shared by everything in the process.
 */
import type { CoreEventTopic, EventTopic, TopicPayloads } from '../../protocols/events.ts';
import type { WorkerKvEvent } from '../../protocols/kv-events.ts';
import { getLogger } from '../../util/logger.ts';
import { EnvelopeStamper, randomPublisherId } from './codec.ts';
import {
  BusCounters,
  deliver,
  encodeForPublish,
  replaySequence,
  SerialQueue,
  SubscriptionSet,
  scopeSubject,
} from './delivery.ts';
import { EventBusClosedError } from './errors.ts';
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

const log = getLogger('events');

type RawListener = (data: Uint8Array, sequence: number) => void;

/** The in-process "server": subject → subscribers, durable subject → log. */
export class MemoryBroker {
  private readonly listeners = new Map<string, Set<RawListener>>();
  private readonly logs = new Map<string, Uint8Array[]>();
  private readonly logListeners = new Map<string, Set<RawListener>>();

  /** Deliver raw bytes on a subject (and append to its log when durable). Returns the log sequence, or 0. */
  publishRaw(subject: string, data: Uint8Array): number {
    let sequence = 0;
    if (isDurableSubject(subject)) {
      const entries = this.logFor(subject);
      entries.push(data);
      sequence = entries.length;
      for (const listener of this.logListeners.get(subject) ?? []) listener(data, sequence);
    }
    for (const listener of this.listeners.get(subject) ?? []) listener(data, sequence);
    return sequence;
  }

  listen(subject: string, listener: RawListener): () => void {
    return addTo(this.listeners, subject, listener);
  }

  /** Replay the log from `fromSequence` (1-based, inclusive) synchronously, then follow appends. */
  follow(subject: string, fromSequence: number, listener: RawListener): () => void {
    const entries = this.logFor(subject);
    for (let seq = Math.max(1, fromSequence); seq <= entries.length; seq++) listener(entries[seq - 1], seq);
    return addTo(this.logListeners, subject, listener);
  }

  /** Number of entries in a durable subject's log. */
  logLength(subject: string): number {
    return this.logs.get(subject)?.length ?? 0;
  }

  private logFor(subject: string): Uint8Array[] {
    let entries = this.logs.get(subject);
    if (!entries) {
      entries = [];
      this.logs.set(subject, entries);
    }
    return entries;
  }
}

function isDurableSubject(subject: string): boolean {
  return subject.endsWith('.kv-events');
}

function addTo(map: Map<string, Set<RawListener>>, subject: string, listener: RawListener): () => void {
  let set = map.get(subject);
  if (!set) {
    set = new Set();
    map.set(subject, set);
  }
  set.add(listener);
  return () => {
    set.delete(listener);
  };
}

/** Shared by every memory bus in this process unless one is given its own broker. */
export const defaultMemoryBroker = new MemoryBroker();

export interface MemoryEventBusOptions {
  broker?: MemoryBroker;
  publisherId?: string;
}

export class MemoryEventBus implements EventBus {
  readonly backend = 'memory' as const;
  readonly publisherId: string;
  readonly broker: MemoryBroker;
  private readonly stamper: EnvelopeStamper;
  private readonly counters = new BusCounters();
  private readonly subscriptions = new SubscriptionSet();
  private closed = false;

  constructor(options: MemoryEventBusOptions = {}) {
    this.broker = options.broker ?? defaultMemoryBroker;
    this.publisherId = options.publisherId ?? randomPublisherId();
    this.stamper = new EnvelopeStamper(this.publisherId);
  }

  publish<T extends CoreEventTopic>(scope: ComponentScope, topic: T, payload: TopicPayloads[T]): boolean {
    this.sendEnvelope(scope, topic, payload);
    return true;
  }

  async subscribe<T extends EventTopic>(
    scope: ComponentScope,
    topic: T,
    handler: EventHandler<T>,
  ): Promise<EventSubscription> {
    this.assertOpen();
    const subject = scopeSubject(scope, topic);
    const queue = new SerialQueue();
    const stopListening = this.broker.listen(subject, (data) => {
      queue.push(() => deliver(topic, data, handler, this.counters, log, { subject }));
    });
    return this.track(queue, stopListening);
  }

  async publishKvEvent(scope: ComponentScope, event: WorkerKvEvent): Promise<KvPublishAck> {
    const sequence = this.sendEnvelope(scope, 'kv-events', event);
    return { streamSequence: sequence, duplicate: false };
  }

  async consumeKvEvents(
    scope: ComponentScope,
    from: KvReplayFrom,
    handler: KvEventHandler,
  ): Promise<EventSubscription> {
    this.assertOpen();
    const subject = scopeSubject(scope, 'kv-events');
    const start = replayStart(from, this.broker.logLength(subject));
    const queue = new SerialQueue();
    const stopFollowing = this.broker.follow(subject, start, (data, streamSequence) => {
      const handle = (envelope: KvEventDelivery['envelope']) => handler({ streamSequence, envelope });
      queue.push(() => deliver('kv-events', data, handle, this.counters, log, { subject, streamSequence }));
    });
    return this.track(queue, stopFollowing);
  }

  stats(): EventBusStats {
    return this.counters.snapshot();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.subscriptions.unsubscribeAll();
  }

  /** Validate, stamp, encode and hand to the broker. Returns the log sequence (0 for core subjects). */
  private sendEnvelope<T extends EventTopic>(
    scope: ComponentScope,
    topic: T,
    payload: TopicPayloads[T],
  ): number {
    this.assertOpen();
    const { subject, data } = encodeForPublish(this.stamper, scope, topic, payload);
    return this.broker.publishRaw(subject, data);
  }

  private track(queue: SerialQueue, stop: () => void): EventSubscription {
    return this.subscriptions.track(() => {
      stop();
      queue.stop();
    });
  }

  private assertOpen(): void {
    if (this.closed) throw new EventBusClosedError('this event bus was closed; create a new one');
  }
}

/** First log sequence to deliver for `from`, given the log's current length. */
export function replayStart(from: KvReplayFrom, logLength: number): number {
  if (from === 'start') return 1;
  if (from === 'new') return logLength + 1;
  return replaySequence(from);
}
