/**
 * Forwards the engine's KV cache events to the event plane, like a database's change-data-capture agent
 * shipping its write-ahead log to Kafka. The cache emits events synchronously inside an engine step; this
 * hands each one to the bus's durable `kv-events` log without blocking the step. The bus sends publishes
 * one at a time in call order, so the log keeps the cache's event-id order; a publish that finally fails
 * leaves a gap in the ids, which is how routers know to ask this worker for a snapshot (`kv_snapshot`).
 */
import type { WorkerId } from '../protocols/ids.ts';
import type { KvCacheEvent, KvEventSink } from '../protocols/kv-events.ts';
import type { ComponentScope, EventBus } from '../runtime/events/index.ts';
import type { Logger } from '../util/logger.ts';

/**
 * Where a worker's KV events come from: its engine's KvCacheManager, or (`--kv-events zmq://...`) a relay
 * of a vLLM engine's events (vllm-kv-events/). Both also answer kv_snapshot with their current blocks.
 */
export interface KvEventSource {
  events: { subscribe(sink: KvEventSink): () => void; readonly lastEventId: number };
  dumpCachedBlocks(): KvCacheEvent[];
}

export interface KvEventPublisherOptions {
  bus: EventBus;
  scope: ComponentScope;
  workerId: WorkerId;
  kv: KvEventSource;
  log: Logger;
  /** Called after each acknowledged publish (metrics). */
  onPublished?: (event: KvCacheEvent) => void;
}

export class KvEventPublisher {
  private unsubscribe: (() => void) | undefined;
  /** Settles after the latest publish settles (publishes complete in call order). */
  private tail: Promise<void> = Promise.resolve();
  private counts = { published: 0, failed: 0 };

  constructor(private readonly opts: KvEventPublisherOptions) {}

  get stats(): { published: number; failed: number } {
    return { ...this.counts };
  }

  start(): void {
    if (this.unsubscribe) return;
    this.unsubscribe = this.opts.kv.events.subscribe((event) => this.forward(event));
  }

  private forward(event: KvCacheEvent): void {
    const { bus, scope, workerId, log, onPublished } = this.opts;
    const sent = bus.publishKvEvent(scope, { workerId, event }).then(
      () => {
        this.counts.published++;
        onPublished?.(event);
      },
      (err: unknown) => {
        this.counts.failed++;
        log.error('KV event not published; routers will see a gap and ask for a snapshot', {
          eventId: event.eventId,
          error: err,
        });
      },
    );
    this.tail = sent;
  }

  /** Wait until every event emitted so far is acknowledged or failed, at most `timeoutMs`. */
  async flush(timeoutMs = 2000): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs);
    });
    try {
      return await Promise.race([this.tail.then(() => true as const), timedOut]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Stop forwarding new events and flush the ones in flight. */
  async stop(timeoutMs?: number): Promise<void> {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    if (!(await this.flush(timeoutMs))) {
      this.opts.log.warn('KV events still unacknowledged at shutdown', { ...this.counts });
    }
  }
}
