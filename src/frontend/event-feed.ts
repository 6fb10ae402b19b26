/**
 * The frontend's side of the event plane: for every component that has workers, it tails the durable
 * KV-event log and subscribes to load reports, and hands each message to the router of the worker's
 * model. When the router sees a gap in a worker's event ids it asks for a snapshot; this calls the
 * worker's `kv_snapshot` endpoint over the request plane and applies the answer. Like a read replica's
 * replication client: tail the log, and on a hole fetch a base backup from the primary.
 *
 *   NATS kv-events  ─► isKvCacheEvent ─► router.applyKvEvent ─(gap)─► kv_snapshot ─► router.applySnapshot
 *   NATS kv_metrics ─► router.updateLoad (policies' load views and the router's busy check)
 *
 * Joining (`kvReplay`): 'snapshot' (the frontend's default) tails only events from now and asks each
 * worker for a snapshot as it joins the pool: the cost of joining is one dump per worker (its live cache,
 * bounded by its KV size), not the whole log (every block ever stored and evicted, up to the stream's
 * retention). 'start' replays the log from its first event (the log must still hold it all).
 *
 * Reconnecting: after a NATS outage the old JetStream consumer may take a heartbeat timeout (tens of
 * seconds) to notice it must recreate itself, and events published meanwhile arrive late. So on the bus's
 * reconnect the feed starts a fresh consumer from "now" and asks every worker for a snapshot: the index
 * is current once the snapshots land (milliseconds after the server is back), and events after them flow
 * through the new consumer (those the snapshot already covers are dropped as duplicates by event id).
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
/** After a reconnect, how long snapshots wait for the new KV consumers before being asked anyway. */
const CONSUMER_WAIT_MS = 1000;

/** A worker's answer to `kv_snapshot` was unusable. */
export class KvSnapshotError extends DhwError {}

export interface EventFeedOptions {
  bus: EventBus;
  plane: RequestPlane;
  /** The deployment a worker currently belongs to. */
  deploymentOf(workerId: WorkerId): ModelDeployment | undefined;
  /** How a router gets the state of a worker it meets: 'snapshot' (tail from now) or 'start' (default). */
  kvReplay?: 'start' | 'snapshot';
  log: Logger;
}

export interface EventFeedStats {
  kvEventsApplied: number;
  kvEventsInvalid: number;
  loadReports: number;
  snapshotsApplied: number;
  snapshotsFailed: number;
  /** Snapshots asked for without a gap: a worker joining (kvReplay 'snapshot') or a reconnect. */
  resyncs: number;
  /** Reconnects to the event plane after an outage. */
  reconnects: number;
}

export class EventFeed {
  private readonly followed = new Map<string, Promise<EventSubscription[]>>();
  /** The current KV-event consumer per followed component (replaced after a reconnect). */
  private readonly kvConsumers = new Map<string, { scope: ComponentScope; sub: EventSubscription }>();
  private readonly kvGenerations = new Map<string, number>();
  /** Workers announced through `workerAdded`, to resync after a reconnect. */
  private readonly workers = new Map<WorkerId, ModelDeployment>();
  private readonly kvReplay: 'start' | 'snapshot';
  private closed = false;
  readonly stats: EventFeedStats = {
    kvEventsApplied: 0,
    kvEventsInvalid: 0,
    loadReports: 0,
    snapshotsApplied: 0,
    snapshotsFailed: 0,
    resyncs: 0,
    reconnects: 0,
  };

  constructor(private readonly options: EventFeedOptions) {
    this.kvReplay = options.kvReplay ?? 'start';
    options.bus.onReconnect?.(() => void this.resyncAfterReconnect());
  }

  /**
   * A worker joined `deployment`: follow its component and, when tailing from now ('snapshot'), ask it for
   * its state (after the consumer is up, so nothing between the dump and the tail is missed).
   */
  async workerAdded(deployment: ModelDeployment, workerId: WorkerId, scope: ComponentScope): Promise<void> {
    this.workers.set(workerId, deployment);
    await this.follow(scope);
    if (this.kvReplay === 'snapshot') this.resync(deployment, workerId);
  }

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
    const kv = await this.consumeKv(scope, this.kvReplay === 'snapshot' ? 'new' : 'start');
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
    return [{ unsubscribe: () => kv.unsubscribe() }, load];
  }

  /** Tail one component's KV events from `from`, as its current consumer (an older one goes quiet). */
  private async consumeKv(scope: ComponentScope, from: 'start' | 'new'): Promise<EventSubscription> {
    const key = `${scope.namespace}/${scope.component}`;
    const generation = (this.kvGenerations.get(key) ?? 0) + 1;
    this.kvGenerations.set(key, generation);
    const sub = await this.options.bus.consumeKvEvents(scope, from, ({ envelope }) => {
      if (this.kvGenerations.get(key) !== generation) return; // replaced after a reconnect
      const { workerId, event } = envelope.payload;
      this.applyKvEvent(workerId, event);
    });
    this.kvConsumers.set(key, { scope, sub });
    return { unsubscribe: async () => (this.kvConsumers.get(key)?.sub ?? sub).unsubscribe() };
  }

  private resync(deployment: ModelDeployment, workerId: WorkerId): void {
    if (deployment.routerOf(workerId)?.resync(workerId)) this.stats.resyncs++;
  }

  /**
   * The bus is back: new consumers from now, then a snapshot of every worker (see the module comment).
   * The snapshots wait for the new consumers at most `CONSUMER_WAIT_MS`: a server restarted without its
   * data has no stream until a worker publishes again; events a late consumer misses show as a gap, which
   * asks for another snapshot.
   */
  private async resyncAfterReconnect(): Promise<void> {
    if (this.closed) return;
    this.stats.reconnects++;
    const started = Date.now();
    const consumers = [...this.kvConsumers].map(([key, { scope, sub }]) => {
      void sub.unsubscribe().catch(() => undefined);
      return this.recreateConsumer(key, scope);
    });
    const timer = new Promise((resolve) => setTimeout(resolve, CONSUMER_WAIT_MS).unref());
    await Promise.race([Promise.all(consumers), timer]);
    let resynced = 0;
    for (const [workerId, deployment] of this.workers) {
      if (!deployment.hasWorker(workerId)) {
        this.workers.delete(workerId);
        continue;
      }
      this.resync(deployment, workerId);
      resynced++;
    }
    this.options.log.warn('event plane reconnected: KV events tailed from now, workers asked for snapshots', {
      workers: resynced,
      components: this.kvConsumers.size,
      ms: Date.now() - started,
    });
  }

  private async recreateConsumer(key: string, scope: ComponentScope): Promise<void> {
    for (let attempt = 1; !this.closed; attempt++) {
      try {
        await this.consumeKv(scope, 'new');
        return;
      } catch (err) {
        // JetStream may still be recovering its streams right after a server restart.
        if (attempt === 1 || attempt % 10 === 0)
          this.options.log.warn('KV consumer not recreated after reconnect; retrying', {
            scope: key,
            attempt,
            error: err,
          });
        await new Promise((resolve) => setTimeout(resolve, Math.min(1000, 100 * attempt)));
      }
    }
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
    deployment.routerOf(workerId)?.abandonSnapshot(workerId);
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
