/**
 * Wire schema of the event plane's envelope (docs/design-notes.md#event-plane): every message on the event
 * bus, whatever its
 * topic, travels as `{publisher_id, sequence, published_at, topic, payload}`, like a syslog/CloudEvents
 * header around a body. The header says who sent it and in which order; the payload is one of the
 * topic's own types (KV events, load metrics, ...), validated separately.
 *
 * Subjects follow Dynamo: `namespace.{ns}.component.{comp}.{topic}`. Field names are snake_case because
 * they are Dynamo's; payloads keep this project's camelCase (see kv-events.ts).
 */
import { isLoadMetrics, isWorkerKvEvent, type LoadMetrics, type WorkerKvEvent } from './kv-events.ts';

/** The event plane's topics. `kv-events` is durable (JetStream); the others are fire-and-forget. */
export const EVENT_TOPICS = ['kv-events', 'kv_metrics', 'active_sequences_events'] as const;
export type EventTopic = (typeof EVENT_TOPICS)[number];
/** Topics published fire-and-forget (core NATS): a lost message is superseded by the next one. */
export type CoreEventTopic = Exclude<EventTopic, 'kv-events'>;

/** A router replica's change to its active-sequence table; its schema belongs to router/ (any JSON object). */
export type ActiveSequencesEvent = { readonly [key: string]: unknown };

/** Which payload type each topic carries. */
export interface TopicPayloads {
  'kv-events': WorkerKvEvent;
  kv_metrics: LoadMetrics;
  active_sequences_events: ActiveSequencesEvent;
}

export interface EventEnvelope<P = unknown> {
  /** Who published: a worker / router instance id (any non-empty string). */
  publisher_id: string;
  /** 1, 2, 3, ... per publisher and subject: a gap means a lost message. */
  sequence: number;
  /** Unix time in milliseconds when the publisher sent it. */
  published_at: number;
  topic: EventTopic;
  payload: P;
}

/** Namespace and component names: one subject token each, also legal in JetStream stream names. */
const NAME_PATTERN = /^[A-Za-z0-9_-]+$/;

export function isEventName(value: unknown): value is string {
  return typeof value === 'string' && NAME_PATTERN.test(value);
}

export function isEventTopic(value: unknown): value is EventTopic {
  return typeof value === 'string' && (EVENT_TOPICS as readonly string[]).includes(value);
}

/** `namespace.{ns}.component.{comp}.{topic}`. Names must pass `isEventName` (no dots, no wildcards). */
export function eventSubject(namespace: string, component: string, topic: EventTopic): string {
  if (!isEventName(namespace) || !isEventName(component)) {
    throw new RangeError(
      `namespace and component must match ${NAME_PATTERN} (letters, digits, _ and -), got ` +
        `${JSON.stringify(namespace)} / ${JSON.stringify(component)}`,
    );
  }
  return `namespace.${namespace}.component.${component}.${topic}`;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isActiveSequencesEvent(value: unknown): value is ActiveSequencesEvent {
  return isRecord(value);
}

const PAYLOAD_GUARDS: { [T in EventTopic]: (value: unknown) => value is TopicPayloads[T] } = {
  'kv-events': isWorkerKvEvent,
  kv_metrics: isLoadMetrics,
  active_sequences_events: isActiveSequencesEvent,
};

/** Whether `payload` is a valid payload for `topic`. */
export function isTopicPayload<T extends EventTopic>(
  topic: T,
  payload: unknown,
): payload is TopicPayloads[T] {
  return PAYLOAD_GUARDS[topic](payload);
}

/** The envelope's header fields are well formed (the payload is checked with `isTopicPayload`). */
export function isEventEnvelope(value: unknown): value is EventEnvelope<unknown> {
  return (
    isRecord(value) &&
    typeof value.publisher_id === 'string' &&
    value.publisher_id.length > 0 &&
    typeof value.sequence === 'number' &&
    Number.isSafeInteger(value.sequence) &&
    value.sequence >= 1 &&
    typeof value.published_at === 'number' &&
    Number.isFinite(value.published_at) &&
    value.published_at >= 0 &&
    isEventTopic(value.topic) &&
    'payload' in value
  );
}
