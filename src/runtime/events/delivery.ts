/**
 * The edges where messages leave and enter a process, shared by both backends: validate-stamp-encode on
 * publish; decode-or-skip, and call a handler without letting it break the subscription, on delivery (like
 * a packet filter in front of a socket reader: bad input is counted and dropped, good input is handed on
 * one at a time); and the subscriptions a bus must stop when it closes.
 */
import type { EventEnvelope, EventTopic, TopicPayloads } from '../../protocols/events.ts';
import { eventSubject, isTopicPayload } from '../../protocols/events.ts';
import type { LogFields, Logger } from '../../util/logger.ts';
import { decodeEnvelope, type EnvelopeStamper, encodeEnvelope, previewBytes } from './codec.ts';
import { InvalidEventError } from './errors.ts';
import type { ComponentScope, EventBusStats, EventSubscription, KvReplayFrom } from './event-bus.ts';

/** `namespace.{ns}.component.{comp}.{topic}`, with an `InvalidEventError` for an illegal name. */
export function scopeSubject(scope: ComponentScope, topic: EventTopic): string {
  try {
    return eventSubject(scope.namespace, scope.component, topic);
  } catch (err) {
    throw new InvalidEventError((err as Error).message, { cause: err });
  }
}

/** An outgoing message: validated, stamped with the publisher's next sequence, encoded for its subject. */
export function encodeForPublish<T extends EventTopic>(
  stamper: EnvelopeStamper,
  scope: ComponentScope,
  topic: T,
  payload: TopicPayloads[T],
): { subject: string; data: Uint8Array; sequence: number } {
  const subject = scopeSubject(scope, topic);
  if (!isTopicPayload(topic, payload)) {
    throw new InvalidEventError(`refusing to publish a malformed "${topic}" payload on ${subject}`);
  }
  const envelope = stamper.stamp(subject, topic, payload);
  return { subject, data: encodeEnvelope(envelope), sequence: envelope.sequence };
}

/** The 1-based log sequence a `{ sequence }` replay starts at, checked. */
export function replaySequence(from: Exclude<KvReplayFrom, 'start' | 'new'>): number {
  if (!Number.isSafeInteger(from.sequence) || from.sequence < 1) {
    throw new InvalidEventError(`replay sequence must be an integer ≥ 1, got ${from.sequence}`);
  }
  return from.sequence;
}

/** Mutable counters behind `EventBus.stats()`. */
export class BusCounters implements EventBusStats {
  malformedSkipped = 0;
  droppedWhileDisconnected = 0;
  handlerErrors = 0;

  snapshot(): EventBusStats {
    return {
      malformedSkipped: this.malformedSkipped,
      droppedWhileDisconnected: this.droppedWhileDisconnected,
      handlerErrors: this.handlerErrors,
    };
  }
}

/** Decode one received message; on failure log a warning, count it, and return undefined. */
function decodeOrSkip<T extends EventTopic>(
  topic: T,
  data: Uint8Array,
  counters: BusCounters,
  log: Logger,
  context: LogFields,
): EventEnvelope<TopicPayloads[T]> | undefined {
  const result = decodeEnvelope(topic, data);
  if (result.ok) return result.envelope;
  counters.malformedSkipped++;
  log.warn('skipping malformed event message', {
    ...context,
    reason: result.reason,
    data: previewBytes(data),
  });
  return undefined;
}

/** Run a handler; a throw or rejection is logged and counted, never propagated. */
async function callHandler<A>(
  handler: (arg: A) => void | Promise<void>,
  arg: A,
  counters: BusCounters,
  log: Logger,
  context: LogFields,
): Promise<void> {
  try {
    await handler(arg);
  } catch (err) {
    counters.handlerErrors++;
    log.error('event handler threw; continuing with the next message', { ...context, err });
  }
}

/**
 * One received message, start to end: decode it (or count and skip it), then hand the envelope to
 * `handle` (a throw is counted and logged). `context` goes on every log line (subject, stream sequence).
 */
export async function deliver<T extends EventTopic>(
  topic: T,
  data: Uint8Array,
  handle: (envelope: EventEnvelope<TopicPayloads[T]>) => void | Promise<void>,
  counters: BusCounters,
  log: Logger,
  context: LogFields,
): Promise<void> {
  const envelope = decodeOrSkip(topic, data, counters, log, context);
  if (envelope) await callHandler(handle, envelope, counters, log, context);
}

/**
 * A bus's live subscriptions, so `close()` can stop them all. `unsubscribe()` runs `stop` once (later
 * calls return the same promise) and forgets the subscription when it is done.
 */
export class SubscriptionSet {
  private readonly live = new Set<EventSubscription>();

  track(stop: () => void | Promise<void>): EventSubscription {
    let done: Promise<void> | undefined;
    const subscription: EventSubscription = {
      unsubscribe: () => {
        done ??= (async () => {
          try {
            await stop();
          } finally {
            this.live.delete(subscription);
          }
        })();
        return done;
      },
    };
    this.live.add(subscription);
    return subscription;
  }

  async unsubscribeAll(): Promise<void> {
    await Promise.all([...this.live].map((s) => s.unsubscribe()));
  }
}

/**
 * Runs queued jobs one at a time in order (a single-consumer work queue). A job that throws does not stop
 * the queue. `stop()` drops jobs that have not started.
 */
export class SerialQueue {
  private tail: Promise<void> = Promise.resolve();
  private stopped = false;

  push(job: () => Promise<void>): void {
    this.tail = this.tail.then(() => (this.stopped ? undefined : job())).catch(() => undefined);
  }

  stop(): void {
    this.stopped = true;
  }
}
