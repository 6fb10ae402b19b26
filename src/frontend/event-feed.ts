/**
 * The frontend's side of the event plane: for every component that has workers, it tails the durable
 * KV-event log (from the start, so an index rebuilt after a restart is complete) and subscribes to load
 * reports, and hands each message to the router of the worker's model. When the router sees a gap in a
 * worker's event ids it asks for a snapshot; this calls the worker's `kv_snapshot` endpoint over the
 * request plane and applies the answer. Like a read replica's replication client: tail the log, and on a
 * hole fetch a base backup from the primary.
 *
 *   NATS kv-events  ─► isKvCacheEvent ─► router.applyKvEvent ─(gap)─► kv_snapshot ─► router.applySnapshot
 *   NATS kv_metrics ─► router.updateLoad (policies' load views and the router's busy check)
 */
import type { WorkerId } from '../protocols/ids.ts';
import { isKvCacheEvent, isLoadMetrics, type KvCacheEvent } from '../protocols/kv-events.ts';
import { isKvSnapshot, type KvSnapshot } from '../protocols/router.ts';
import { KV_SNAPSHOT_ENDPOINT } from '../protocols/worker-endpoints.ts';
import type { ComponentScope, EventBus, EventSubscription } from '../runtime/events/index.ts';
import type { RequestPlane } from '../runtime/request-plane/index.ts';
import { DhwError } from '../util/errors.ts';
import type { Logger } from '../util/logger.ts';
import type { ModelDeployment } from './model-deployment.ts';

/** Snapshot attempts per gap before giving up (the worker may be gone; discovery will say so). */
const SNAPSHOT_ATTEMPTS = 3;
const SNAPSHOT_RETRY_MS = 500;

/** A worker's answer to `kv_snapshot` was unusable. */
export class KvSnapshotError extends DhwError {}

export interface EventFeedOptions {
  bus: EventBus;
  plane: RequestPlane;
  /** The deployment a worker currently belongs to. */
  deploymentOf(workerId: WorkerId): ModelDeployment | undefined;
  log: Logger;
}

export interface EventFeedStats {
  kvEventsApplied: number;
  kvEventsInvalid: number;
  loadReports: number;
  snapshotsApplied: number;
  snapshotsFailed: number;
}

export class EventFeed {
  private readonly followed = new Map<string, Promise<EventSubscription[]>>();
  private closed = false;
  readonly stats: EventFeedStats = {
    kvEventsApplied: 0,
    kvEventsInvalid: 0,
    loadReports: 0,
    snapshotsApplied: 0,
    snapshotsFailed: 0,
  };

  constructor(private readonly options: EventFeedOptions) {}

  /** Follow one component's KV events and load reports (idempotent). */
  follow(scope: ComponentScope): Promise<void> {
    const key = `${scope.namespace}/${scope.component}`;
    let pending = this.followed.get(key);
    if (!pending) {
      pending = this.subscribe(scope);
      this.followed.set(key, pending);
      pending.catch((err) => {
        this.followed.delete(key);
        this.options.log.error('cannot follow the event plane: routing continues without KV events', {
          scope: key,
          error: err,
        });
      });
    }
    return pending.then(() => undefined);
  }

  /** Fetch a worker's KV state and hand it to its router (called by the router on an event gap). */
  requestSnapshot(deployment: ModelDeployment, workerId: WorkerId): void {
    void this.fetchSnapshot(deployment, workerId);
  }

  async close(): Promise<void> {
    this.closed = true;
    const all = await Promise.allSettled(this.followed.values());
    for (const result of all) {
      if (result.status === 'fulfilled') await Promise.all(result.value.map((s) => s.unsubscribe()));
    }
  }

  private async subscribe(scope: ComponentScope): Promise<EventSubscription[]> {
    const { bus, log } = this.options;
    const kv = await bus.consumeKvEvents(scope, 'start', ({ envelope }) => {
      const { workerId, event } = envelope.payload;
      this.applyKvEvent(workerId, event);
    });
    const load = await bus.subscribe(scope, 'kv_metrics', ({ payload }) => {
      if (!isLoadMetrics(payload)) return;
      const router = this.options.deploymentOf(payload.workerId)?.routerOf(payload.workerId);
      if (!router) return;
      this.stats.loadReports++;
      router.updateLoad(payload);
    });
    log.info('following the event plane', {
      scope: `${scope.namespace}.${scope.component}`,
      bus: bus.backend,
    });
    return [kv, load];
  }

  private applyKvEvent(workerId: WorkerId, event: KvCacheEvent): void {
    // The bus validated the envelope; check again here because the router trusts what it is given.
    if (!isKvCacheEvent(event)) {
      this.stats.kvEventsInvalid++;
      return;
    }
    // The worker's own pool: a prefill worker's events feed the prefill router, a decode worker's the other.
    const router = this.options.deploymentOf(workerId)?.routerOf(workerId);
    if (!router) return; // not (yet) a worker we route to: a later gap brings its state
    router.applyKvEvent(workerId, event);
    this.stats.kvEventsApplied++;
  }

  private async fetchSnapshot(deployment: ModelDeployment, workerId: WorkerId): Promise<void> {
    const log = this.options.log.child({ workerId, model: deployment.name });
    for (let attempt = 1; attempt <= SNAPSHOT_ATTEMPTS && !this.closed; attempt++) {
      const router = deployment.routerOf(workerId);
      const address = router?.addressOf(workerId);
      if (router === undefined || address === undefined) return; // the worker left: nothing to rebuild
      try {
        const snapshot = await this.callSnapshot(address, workerId);
        router.applySnapshot(snapshot);
        this.stats.snapshotsApplied++;
        log.info('KV snapshot fetched', {
          lastEventId: snapshot.lastEventId,
          events: snapshot.events.length,
        });
        return;
      } catch (err) {
        log.warn('KV snapshot failed', { attempt, error: err });
        await new Promise((resolve) => setTimeout(resolve, SNAPSHOT_RETRY_MS * attempt));
      }
    }
    this.stats.snapshotsFailed++;
  }

  /** The worker answers in chunks with one `lastEventId`; their events concatenate. */
  private async callSnapshot(address: string, workerId: WorkerId): Promise<KvSnapshot> {
    const events: KvCacheEvent[] = [];
    let lastEventId: number | undefined;
    for await (const chunk of this.options.plane.call(address, KV_SNAPSHOT_ENDPOINT, { workerId })) {
      if (!isKvSnapshot(chunk))
        throw new KvSnapshotError(`worker ${workerId} sent a malformed KV snapshot chunk`);
      lastEventId = chunk.lastEventId;
      events.push(...chunk.events);
    }
    if (lastEventId === undefined) throw new KvSnapshotError(`worker ${workerId} sent an empty KV snapshot`);
    return { workerId, lastEventId, events };
  }
}
