/**
 * The edge where messages enter a process, shared by both backends: decode-or-skip, and call a handler
 * without letting it break the subscription (like a packet filter in front of a socket reader: bad input
 * is counted and dropped, good input is handed on one at a time).
 */
import type { EventEnvelope, EventTopic, TopicPayloads } from '../../protocols/events.ts';
import { eventSubject } from '../../protocols/events.ts';
import type { LogFields, Logger } from '../../util/logger.ts';
import { decodeEnvelope, previewBytes } from './codec.ts';
import { InvalidEventError } from './errors.ts';
import type { ComponentScope, EventBusStats } from './event-bus.ts';

/** `namespace.{ns}.component.{comp}.{topic}`, with an `InvalidEventError` for an illegal name. */
export function scopeSubject(scope: ComponentScope, topic: EventTopic): string {
  try {
    return eventSubject(scope.namespace, scope.component, topic);
  } catch (err) {
    throw new InvalidEventError((err as Error).message, { cause: err });
  }
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
export function decodeOrSkip<T extends EventTopic>(
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
export async function callHandler<A>(
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
