/**
 * The transport of router replica sync (`--router-replica-sync`, router/replica-sync.ts): several
 * frontends in front of one pool tell each other what they send where, so that each router's in-flight
 * ledger counts every frontend's requests and two frontends do not pile onto the worker each believes idle.
 * Like nginx instances sharing their upstream connection counters through a `zone` in shared memory, but
 * across machines: each router's ledger changes go on the event plane's `active_sequences_events` topic of
 * the worker's component (one subject per component, so per model), fire-and-forget, and every other
 * frontend applies them (Dynamo's AddRequest / MarkPrefillCompleted / Free).
 *
 *   router.onSequenceChange ─► publish(active_sequences_events) ─► peer: router.applyPeerChange
 *
 * A message lost in a NATS outage leaves a peer's request counted until its TTL (router option
 * `peerRequestTtlMs`) or its worker leaves; a lost `add` only means it is not counted.
 */
import type { WorkerId } from '../protocols/ids.ts';
import {
  type Router,
  type SequenceChange,
  sequenceChangeFromWire,
  sequenceChangeToWire,
} from '../router/index.ts';
import type { ComponentScope, EventBus, EventSubscription } from '../runtime/events/index.ts';
import type { Logger } from '../util/logger.ts';

export interface ReplicaSyncOptions {
  bus: EventBus;
  /** The router whose pool holds `workerId` (a peer's change is applied there). */
  routerOf(workerId: WorkerId): Router | undefined;
  log: Logger;
}

export interface ReplicaSyncStats {
  /** Own ledger changes published. */
  published: number;
  /** Own changes not sent: the bus was disconnected, or the worker's component is not known yet. */
  unsent: number;
  /** Peers' changes applied to a router. */
  applied: number;
  /** Peers' changes ignored: a worker not in this frontend's pools, or a request it never saw added. */
  ignored: number;
  /** Messages on the topic that were not a valid change. */
  invalid: number;
}

export class RouterReplicaSync {
  private readonly scopes = new Map<WorkerId, ComponentScope>();
  private readonly followed = new Map<string, Promise<EventSubscription>>();
  readonly stats: ReplicaSyncStats = { published: 0, unsent: 0, applied: 0, ignored: 0, invalid: 0 };

  constructor(private readonly options: ReplicaSyncOptions) {}

  /** The id peers see on this frontend's changes (the bus's publisher id). */
  get replicaId(): string {
    return this.options.bus.publisherId;
  }

  /** Publish every change of `router`'s own ledger. */
  attach(router: Router): void {
    router.onSequenceChange((change) => this.publish(change));
  }

  /** `workerId` lives in `scope`: publish its changes there, and hear peers' changes of that component. */
  follow(scope: ComponentScope, workerId: WorkerId): Promise<void> {
    this.scopes.set(workerId, scope);
    const key = `${scope.namespace}/${scope.component}`;
    let pending = this.followed.get(key);
    if (!pending) {
      pending = this.options.bus.subscribe(scope, 'active_sequences_events', ({ publisher_id, payload }) =>
        this.applyPeer(publisher_id, payload),
      );
      this.followed.set(key, pending);
      pending.catch((err) => {
        this.followed.delete(key);
        this.options.log.error('router replica sync cannot subscribe: peers’ requests are not counted', {
          scope: key,
          error: err,
        });
      });
    }
    return pending.then(() => undefined);
  }

  async close(): Promise<void> {
    const all = await Promise.allSettled(this.followed.values());
    for (const result of all) if (result.status === 'fulfilled') await result.value.unsubscribe();
  }

  private publish(change: SequenceChange): void {
    const scope = this.scopes.get(change.workerId);
    if (
      scope === undefined ||
      !this.options.bus.publish(scope, 'active_sequences_events', toPayload(change))
    ) {
      this.stats.unsent++;
      return;
    }
    this.stats.published++;
  }

  private applyPeer(replicaId: string, payload: unknown): void {
    if (replicaId === this.replicaId) return; // our own change, already in our ledger
    const change = sequenceChangeFromWire(payload);
    if (change === undefined) {
      this.stats.invalid++;
      return;
    }
    const router = this.options.routerOf(change.workerId);
    if (router?.applyPeerChange(replicaId, change)) this.stats.applied++;
    else this.stats.ignored++;
  }
}

function toPayload(change: SequenceChange): { readonly [key: string]: unknown } {
  return { ...sequenceChangeToWire(change) };
}
