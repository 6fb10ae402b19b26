/**
 * The event plane's contract: a message bus like Kafka/RabbitMQ, shrunk to what Dynamo needs.
 *
 * - `publish` / `subscribe`: fire-and-forget topics (load metrics, router replica sync). At most once: a
 *   message sent while the bus is disconnected is dropped, and the next one supersedes it.
 * - `publishKvEvent` / `consumeKvEvents`: the durable KV-event log of one component (a JetStream stream on
 *   NATS), like a Kafka topic: publishes are acknowledged and kept in order, and a consumer (a router that
 *   just restarted) replays it from the start or from a stream sequence to rebuild its index.
 *
 * Every message is wrapped in an `EventEnvelope` stamped by the bus (publisher id, per-subject sequence,
 * time) and validated where it enters a process: a malformed one is logged, counted and skipped; it never
 * reaches a handler and never stops a subscription. Handlers run one message at a time, in order; one that
 * throws is logged and the next message still comes.
 *
 * Two implementations run through one conformance suite: `MemoryEventBus` (one process, no server) and
 * `NatsEventBus` (nats-server with JetStream).
 */
import type { CoreEventTopic, EventEnvelope, EventTopic, TopicPayloads } from '../../protocols/events.ts';
import type { WorkerKvEvent } from '../../protocols/kv-events.ts';

/** Where events live: `namespace.{namespace}.component.{component}.*`. Names: letters, digits, `_`, `-`. */
export interface ComponentScope {
  namespace: string;
  component: string;
}

/** Receives one validated envelope. Returning a promise holds back the next message until it settles. */
export type EventHandler<T extends EventTopic> = (
  envelope: EventEnvelope<TopicPayloads[T]>,
) => void | Promise<void>;

/** One KV event read from the durable log. */
export interface KvEventDelivery {
  /** Position in the component's log (JetStream stream sequence), 1-based: resume with `from: {sequence: n + 1}`. */
  streamSequence: number;
  envelope: EventEnvelope<WorkerKvEvent>;
}

export type KvEventHandler = (delivery: KvEventDelivery) => void | Promise<void>;

/** Where a KV-event consumer starts: the whole log, a stream sequence (inclusive), or only new events. */
export type KvReplayFrom = 'start' | 'new' | { sequence: number };

export interface KvPublishAck {
  /** Position the event got in the log. */
  streamSequence: number;
  /** True when the log already had it (a retry of a publish that had landed; matched by message id). */
  duplicate: boolean;
}

export interface EventSubscription {
  /** Stop delivery; resolves once no handler is running. Idempotent. */
  unsubscribe(): Promise<void>;
}

export interface EventBusStats {
  /** Messages received that failed decoding or validation, and were skipped. */
  malformedSkipped: number;
  /** Fire-and-forget messages dropped because the bus was disconnected. */
  droppedWhileDisconnected: number;
  /** Handler calls that threw or rejected (logged, delivery went on). */
  handlerErrors: number;
}

export interface EventBus {
  /** `memory` or `nats`, for logs and tests. */
  readonly backend: 'memory' | 'nats';
  /** Stamped into every envelope this bus publishes. */
  readonly publisherId: string;

  /**
   * Fire-and-forget: returns at once, true if handed to the transport, false if dropped (disconnected).
   * Throws `InvalidEventError` when the payload fails the topic's schema (a bug in the caller).
   */
  publish<T extends CoreEventTopic>(scope: ComponentScope, topic: T, payload: TopicPayloads[T]): boolean;

  /**
   * Live messages of one topic from the moment this resolves (any publisher). No replay. A `kv-events`
   * subscription sees the durable log's new events too, without acknowledgement or replay.
   */
  subscribe<T extends EventTopic>(
    scope: ComponentScope,
    topic: T,
    handler: EventHandler<T>,
  ): Promise<EventSubscription>;

  /**
   * Append one KV event to the component's durable log. Calls are sent one at a time in call order, and
   * retried (idempotently) across a server outage until acknowledged or `EventPublishError` after the
   * bus's deadline. Throws `InvalidEventError` for a malformed event.
   */
  publishKvEvent(scope: ComponentScope, event: WorkerKvEvent): Promise<KvPublishAck>;

  /** Read the component's KV-event log in order, from `from`, then follow it live until unsubscribed. */
  consumeKvEvents(
    scope: ComponentScope,
    from: KvReplayFrom,
    handler: KvEventHandler,
  ): Promise<EventSubscription>;

  stats(): EventBusStats;

  /**
   * Call `listener` each time the connection to the server comes back after an outage (NATS only; a
   * memory bus is never disconnected). What was published meanwhile may have been dropped (core topics)
   * or may reach durable consumers late: a reader that must be current asks for a snapshot then.
   */
  onReconnect?(listener: () => void): void;

  /** Stop every subscription and release the connection. Later calls throw `EventBusClosedError`. */
  close(): Promise<void>;
}
