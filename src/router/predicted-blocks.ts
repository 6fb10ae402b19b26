/**
 * The predicted-block overlay: blocks the router has just sent to a worker, counted as soon-to-be-cached
 * there before the worker's KV events say so. Closes the blind spot between a routing decision and the
 * events that confirm it: without it, a second request sharing a prefix with one routed a millisecond ago
 * sees no overlap anywhere (the first one's `stored` events are still on the bus) and is sent elsewhere.
 *
 * Systems analogy: a write-through cache's "pending writes" table in front of a read replica. The replica
 * (the indexer) learns of a write only when the primary's log arrives; the client that issued the write
 * (the router) already knows, and answers reads from its pending table until the log catches up.
 *
 * An entry is (block hash, worker) with the requests that predicted it as owners. It leaves when:
 *   - a `stored` event (or a snapshot) from that worker confirms the block: the indexer holds it now;
 *   - every owner is gone: a request that FAILED (or was migrated away, or the worker left) drops its
 *     predictions at once: nothing was computed, or it died with the worker;
 *   - a request that ended normally RETIRES its predictions: its prompt was computed there, so its blocks
 *     are cached, and only their events lag (a reply can outrun the event bus). They stay until confirmed
 *     or until `graceMs` after the end, so a worker whose events never come cannot leak entries.
 */
import type { RequestId, SequenceHash, WorkerId } from '../protocols/ids.ts';

interface Prediction {
  workerId: WorkerId;
  /** Predicted hashes not yet confirmed by an event. */
  pending: Set<SequenceHash>;
}

interface Retired {
  requestId: RequestId;
  /** The prediction retired (a later route of the same id makes a new one, which this must not drop). */
  prediction: Prediction;
  expiresAt: number;
}

export interface PredictedBlocksStats {
  /** (hash, worker) entries predicted and not yet confirmed. */
  entries: number;
  /** Requests owning at least one entry, in flight or retired. */
  owners: number;
  /** Entries confirmed by events so far. */
  confirmed: number;
  /** Entries dropped unconfirmed (failure, expiry, worker gone). */
  dropped: number;
}

export class PredictedBlocks {
  private readonly byWorker = new Map<WorkerId, Map<SequenceHash, Set<RequestId>>>();
  private readonly byRequest = new Map<RequestId, Prediction>();
  /** Retired requests in end order; their expiry times grow, so the oldest is first. */
  private readonly retired: Retired[] = [];
  private retiredHead = 0;
  private counters = { confirmed: 0, dropped: 0 };

  constructor(
    private readonly graceMs: number,
    private readonly now: () => number,
  ) {}

  /** `requestId` was routed to `workerId`: its blocks `hashes[from..]` are about to be cached there. */
  predict(requestId: RequestId, workerId: WorkerId, hashes: readonly SequenceHash[], from: number): void {
    this.expire();
    this.drop(requestId); // a re-route of the same id replaces its earlier prediction
    if (from >= hashes.length) return;
    const table = this.table(workerId);
    const pending = new Set<SequenceHash>();
    for (let i = from; i < hashes.length; i++) {
      const hash = hashes[i]!;
      let owners = table.get(hash);
      if (owners === undefined) {
        owners = new Set();
        table.set(hash, owners);
      }
      owners.add(requestId);
      pending.add(hash);
    }
    this.byRequest.set(requestId, { workerId, pending });
  }

  /** Whether `workerId` is predicted to hold `hash`. */
  holds(workerId: WorkerId, hash: SequenceHash): boolean {
    return this.byWorker.get(workerId)?.has(hash) ?? false;
  }

  /** Whether any block is predicted on `workerId` (a cheap guard before walking). */
  hasAny(workerId: WorkerId): boolean {
    return (this.byWorker.get(workerId)?.size ?? 0) > 0;
  }

  /** Events from `workerId` stored these blocks: the indexer knows them now. */
  confirm(workerId: WorkerId, hashes: Iterable<SequenceHash>): void {
    const table = this.byWorker.get(workerId);
    if (table === undefined || table.size === 0) return;
    for (const hash of hashes) {
      const owners = table.get(hash);
      if (owners === undefined) continue;
      table.delete(hash);
      this.counters.confirmed++;
      for (const requestId of owners) {
        const prediction = this.byRequest.get(requestId);
        prediction?.pending.delete(hash);
        if (prediction?.pending.size === 0) this.byRequest.delete(requestId);
      }
    }
  }

  /** The request ended normally: keep its unconfirmed blocks until events confirm them or the grace ends. */
  retire(requestId: RequestId): void {
    this.expire();
    const prediction = this.byRequest.get(requestId);
    if (prediction === undefined) return;
    this.retired.push({ requestId, prediction, expiresAt: this.now() + this.graceMs });
  }

  /** The request failed, was migrated or cancelled before its prompt was computed: forget its blocks. */
  drop(requestId: RequestId): void {
    const prediction = this.byRequest.get(requestId);
    if (prediction === undefined) return;
    this.byRequest.delete(requestId);
    const table = this.byWorker.get(prediction.workerId);
    for (const hash of prediction.pending) {
      const owners = table?.get(hash);
      if (owners === undefined) continue;
      owners.delete(requestId);
      if (owners.size === 0) {
        table!.delete(hash);
        this.counters.dropped++;
      }
    }
  }

  /** The worker left the pool: nothing is predicted on it any more. */
  removeWorker(workerId: WorkerId): void {
    const table = this.byWorker.get(workerId);
    if (table === undefined) return;
    this.counters.dropped += table.size;
    this.byWorker.delete(workerId);
    for (const [requestId, prediction] of this.byRequest) {
      if (prediction.workerId === workerId) this.byRequest.delete(requestId);
    }
  }

  /** Drop retired predictions past their grace period (called on every change; cheap when none are). */
  expire(): void {
    if (this.retiredHead === this.retired.length) return;
    const now = this.now();
    while (this.retiredHead < this.retired.length && this.retired[this.retiredHead]!.expiresAt <= now) {
      const { requestId, prediction } = this.retired[this.retiredHead]!;
      if (this.byRequest.get(requestId) === prediction) this.drop(requestId);
      this.retiredHead++;
    }
    if (this.retiredHead > 1024 && this.retiredHead * 2 > this.retired.length) {
      this.retired.splice(0, this.retiredHead);
      this.retiredHead = 0;
    }
  }

  /** Whether `requestId` still owns predictions (in flight or retired). */
  owns(requestId: RequestId): boolean {
    return this.byRequest.has(requestId);
  }

  stats(): PredictedBlocksStats {
    let entries = 0;
    for (const table of this.byWorker.values()) entries += table.size;
    return { entries, owners: this.byRequest.size, ...this.counters };
  }

  private table(workerId: WorkerId): Map<SequenceHash, Set<RequestId>> {
    let table = this.byWorker.get(workerId);
    if (table === undefined) {
      table = new Map();
      this.byWorker.set(workerId, table);
    }
    return table;
  }
}
