/**
 * The predicted-block overlay's second half: blocks of requests that ENDED on a worker before the
 * worker's KV events for them arrived. (The first half, blocks of requests still in flight, is the
 * router's in-flight ledger, `active-sequences.ts`, which already keeps every in-flight request's block
 * hashes per worker; the router reads both when it extends the indexer's match, `Router.route`.)
 *
 * Why keep them: a request that ended normally had its prompt computed, so its blocks are cached on that
 * worker; only their `stored` events lag (a reply can outrun the event bus). Without this table the
 * user's follow-up, sent the moment the reply ends, sees no overlap anywhere and lands elsewhere.
 *
 * Systems analogy: a write-through cache's "pending writes" table in front of a read replica: the replica
 * (the indexer) learns of a write only when the primary's log arrives; the client that issued the write
 * (the router) answers reads from its pending table until the log catches up.
 *
 * An entry is (block hash, worker), counting the ended requests that left it. It leaves when a `stored`
 * event (or a snapshot) from that worker confirms it, when its worker leaves the pool, or `graceMs` after
 * the last of its requests ended, so a worker whose events never come cannot leak entries. A request that
 * failed (or was migrated away, or cancelled before its first token) leaves nothing here.
 *
 * Storage: (hash, worker) → entry id in a typed-array table (`block-ref-counts.ts`, keyed by the hash's
 * 32-bit halves and a worker tag), entries in parallel arrays: no BigInt `Map` key on the routing path
 * (`holds`, `expire`) or when a request ends (`retire`).
 */

import type { RequestId, SequenceHash, WorkerId } from '../protocols/ids.ts';
import type { KvCacheEvent } from '../protocols/kv-events.ts';
import { BlockRefCounts } from './block-ref-counts.ts';
import { HashHalves } from './hash-halves.ts';

interface Retired {
  requestId: RequestId;
  workerId: WorkerId;
  /** Entry ids this retirement owns one reference to. */
  ids: number[];
  expiresAt: number;
}

interface WorkerEntries {
  /** Tag of this worker's keys in the table (never reused: a worker that left and came back is new). */
  tag: number;
  /** Entries in the table for it (unconfirmed, unexpired). */
  count: number;
}

export interface PredictedBlocksStats {
  /** (hash, worker) entries waiting for their events. */
  entries: number;
  /** Ended requests whose grace period is still running. */
  retired: number;
  /** Entries confirmed by events so far. */
  confirmed: number;
  /** Entries expired unconfirmed or gone with their worker. */
  dropped: number;
}

export class PredictedBlocks {
  private readonly workers = new Map<WorkerId, WorkerEntries>();
  /** (hash halves, worker tag) → entry id, for entries not yet confirmed. */
  private readonly table = new BlockRefCounts();
  private nextTag = 1;
  // Entries by id (id 0 unused): key, how many unexpired retirements own it, confirmed (out of the table).
  private readonly entryLo: number[] = [0];
  private readonly entryHi: number[] = [0];
  private readonly entryTag: number[] = [0];
  private readonly owners: number[] = [0];
  private readonly confirmed: boolean[] = [false];
  private readonly freeIds: number[] = [];
  /** Retirements in end order; their expiry times grow, so the oldest is first. */
  private retired: Retired[] = [];
  private retiredHead = 0;
  private counters = { confirmed: 0, dropped: 0 };
  /** Entries in the table over all workers: `hasAny` answers without a lookup while it is 0. */
  private live = 0;
  private readonly halves = new HashHalves();

  constructor(
    private readonly graceMs: number,
    private readonly now: () => number,
  ) {}

  /**
   * Whether an ended request's blocks are kept at all: with a grace of 0 they would expire at the next
   * `expire`, which every read runs first, so no decision could see them (the router skips `retire`).
   */
  get retains(): boolean {
    return this.graceMs > 0;
  }

  /**
   * `requestId` ended normally on `workerId`: `unconfirmed` are its blocks the indexer does not hold
   * there yet. They count as cached there until confirmed or `graceMs` from now.
   */
  retire(requestId: RequestId, workerId: WorkerId, unconfirmed: readonly SequenceHash[]): void {
    this.expire();
    if (unconfirmed.length === 0) return;
    const worker = this.worker(workerId);
    const ids: number[] = [];
    for (const hash of unconfirmed) {
      const h = this.halves.one(hash);
      const lo = h[0]!;
      const hi = h[1]!;
      let id = this.table.get(lo, hi, worker.tag);
      if (id === 0) {
        id = this.newEntry(lo, hi, worker.tag);
        this.table.set(lo, hi, worker.tag, id);
        worker.count++;
        this.live++;
      }
      this.owners[id]!++;
      ids.push(id);
    }
    this.retired.push({ requestId, workerId, ids, expiresAt: this.now() + this.graceMs });
  }

  /** Whether `workerId` is predicted to hold `hash`. */
  holds(workerId: WorkerId, hash: SequenceHash): boolean {
    const worker = this.workers.get(workerId);
    if (worker === undefined || worker.count === 0) return false;
    const h = this.halves.one(hash);
    return this.table.get(h[0]!, h[1]!, worker.tag) !== 0;
  }

  /** Whether any block is predicted on `workerId` (a cheap guard before walking). */
  hasAny(workerId: WorkerId): boolean {
    return this.live > 0 && (this.workers.get(workerId)?.count ?? 0) > 0;
  }

  /**
   * A KV event from `workerId`: the blocks a `stored` event adds are confirmed. The hashes (BigInt) are parsed
   * only when something is predicted there: the common case is nothing.
   */
  confirmStored(workerId: WorkerId, event: KvCacheEvent): void {
    if (event.data.type !== 'stored' || !this.hasAny(workerId)) return;
    this.confirm(
      workerId,
      event.data.blocks.map((b) => BigInt(b.blockHash) as SequenceHash),
    );
  }

  /** Events from `workerId` stored these blocks: the indexer knows them now. */
  confirm(workerId: WorkerId, hashes: Iterable<SequenceHash>): void {
    const worker = this.workers.get(workerId);
    if (worker === undefined || worker.count === 0) return;
    for (const hash of hashes) {
      const h = this.halves.one(hash);
      const lo = h[0]!;
      const hi = h[1]!;
      const id = this.table.get(lo, hi, worker.tag);
      if (id === 0) continue;
      this.table.delete(lo, hi, worker.tag);
      worker.count--;
      this.live--;
      this.confirmed[id] = true;
      this.counters.confirmed++;
    }
  }

  /** The worker left the pool: nothing is predicted on it any more. */
  removeWorker(workerId: WorkerId): void {
    const worker = this.workers.get(workerId);
    if (worker === undefined) return;
    this.counters.dropped += worker.count;
    this.live -= worker.count;
    // Rare (a departure): scan the live entries. Settled entries stay until their retirements expire.
    for (let id = 1; id < this.owners.length; id++) {
      if (this.owners[id] === 0 || this.confirmed[id] || this.entryTag[id] !== worker.tag) continue;
      this.table.delete(this.entryLo[id]!, this.entryHi[id]!, worker.tag);
      this.confirmed[id] = true;
    }
    this.workers.delete(workerId);
  }

  /** Drop retirements past their grace period (called on every change; cheap when none are due). */
  expire(): void {
    if (this.retiredHead === this.retired.length) return;
    const now = this.now();
    while (this.retiredHead < this.retired.length && this.retired[this.retiredHead]!.expiresAt <= now) {
      const { workerId, ids } = this.retired[this.retiredHead]!;
      for (const id of ids) {
        if (--this.owners[id]! > 0) continue;
        if (!this.confirmed[id]) {
          // Unconfirmed with no owner left: it is the table's entry for its key (a newer entry for the
          // same key exists only after this one was confirmed or its worker left).
          this.table.delete(this.entryLo[id]!, this.entryHi[id]!, this.entryTag[id]!);
          const worker = this.workers.get(workerId);
          if (worker !== undefined && worker.tag === this.entryTag[id]) {
            worker.count--;
            this.live--;
          }
          this.counters.dropped++;
        }
        this.freeIds.push(id);
      }
      this.retiredHead++;
    }
    if (this.retiredHead === this.retired.length) {
      this.retired = [];
      this.retiredHead = 0;
    }
  }

  stats(): PredictedBlocksStats {
    let entries = 0;
    for (const worker of this.workers.values()) entries += worker.count;
    return { entries, retired: this.retired.length - this.retiredHead, ...this.counters };
  }

  private newEntry(lo: number, hi: number, tag: number): number {
    const id = this.freeIds.pop() ?? this.owners.length;
    this.entryLo[id] = lo;
    this.entryHi[id] = hi;
    this.entryTag[id] = tag;
    this.owners[id] = 0;
    this.confirmed[id] = false;
    return id;
  }

  private worker(workerId: WorkerId): WorkerEntries {
    let worker = this.workers.get(workerId);
    if (worker === undefined) {
      worker = { tag: this.nextTag++, count: 0 };
      this.workers.set(workerId, worker);
    }
    return worker;
  }
}
