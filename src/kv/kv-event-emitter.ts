/**
 * In-process KV event emitter: stamps each event with the worker's next event id (1, 2, 3, ...) and hands
 * it to every subscriber, synchronously and in order. Like a replication log's sequence numbers: a
 * subscriber that sees a gap knows it missed something. Publishing to the network is a subscriber's job
 * (worker/), not this one's.
 */
import type { KvCacheEvent, KvCacheEventData, KvEventSink } from '../protocols/kv-events.ts';
import { getLogger } from '../util/logger.ts';

const log = getLogger('kv');

export class KvEventEmitter {
  private lastId = 0;
  private readonly sinks = new Set<KvEventSink>();

  /** Id of the most recent event (0 before the first). */
  get lastEventId(): number {
    return this.lastId;
  }

  get numSubscribers(): number {
    return this.sinks.size;
  }

  /** Receive every event from now on. Returns the unsubscribe function. */
  subscribe(sink: KvEventSink): () => void {
    this.sinks.add(sink);
    return () => {
      this.sinks.delete(sink);
    };
  }

  /**
   * Stamp `data` with the next id and deliver it. A subscriber that throws is logged and skipped: the
   * cache's books are already updated, and one broken listener must not stop the others.
   */
  emit(data: KvCacheEventData): KvCacheEvent {
    const event: KvCacheEvent = { eventId: ++this.lastId, data };
    for (const sink of this.sinks) {
      try {
        sink(event);
      } catch (err) {
        log.error('KV event subscriber threw; event not delivered to it', { eventId: event.eventId, err });
      }
    }
    return event;
  }
}
