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
 */
import type { RequestId, SequenceHash, WorkerId } from '../protocols/ids.ts';

/** One (hash, worker) entry: how many unexpired retirements own it; `confirmed` once an event came. */
interface Entry {
  hash: SequenceHash;
  owners: number;
  confirmed: boolean;
}

interface Retired {
  requestId: RequestId;
  workerId: WorkerId;
  entries: Entry[];
  expiresAt: number;
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
  private readonly byWorker = new Map<WorkerId, Map<SequenceHash, Entry>>();
  /** Retirements in end order; their expiry times grow, so the oldest is first. */
  private retired: Retired[] = [];
  private retiredHead = 0;
  private counters = { confirmed: 0, dropped: 0 };

  constructor(
    private readonly graceMs: number,
    private readonly now: () => number,
  ) {}

  /**
   * `requestId` ended normally on `workerId`: `unconfirmed` are its blocks the indexer does not hold
   * there yet. They count as cached there until confirmed or `graceMs` from now.
   */
  retire(requestId: RequestId, workerId: WorkerId, unconfirmed: readonly SequenceHash[]): void {
    this.expire();
    if (unconfirmed.length === 0) return;
    const table = this.table(workerId);
    const entries = unconfirmed.map((hash) => {
      let entry = table.get(hash);
      if (entry === undefined) {
        entry = { hash, owners: 0, confirmed: false };
        table.set(hash, entry);
      }
      entry.owners++;
      return entry;
    });
    this.retired.push({ requestId, workerId, entries, expiresAt: this.now() + this.graceMs });
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
      const entry = table.get(hash);
      if (entry === undefined) continue;
      table.delete(hash);
      entry.confirmed = true;
      this.counters.confirmed++;
    }
  }

  /** The worker left the pool: nothing is predicted on it any more. */
  removeWorker(workerId: WorkerId): void {
    const table = this.byWorker.get(workerId);
    if (table === undefined) return;
    this.counters.dropped += table.size;
    for (const entry of table.values()) entry.confirmed = true; // settled: its retirements skip it
    this.byWorker.delete(workerId);
  }

  /** Drop retirements past their grace period (called on every change; cheap when none are due). */
  expire(): void {
    if (this.retiredHead === this.retired.length) return;
    const now = this.now();
    while (this.retiredHead < this.retired.length && this.retired[this.retiredHead]!.expiresAt <= now) {
      const { workerId, entries } = this.retired[this.retiredHead]!;
      const table = this.byWorker.get(workerId);
      for (const entry of entries) {
        if (entry.confirmed || --entry.owners > 0) continue;
        if (table?.get(entry.hash) === entry) table.delete(entry.hash);
        this.counters.dropped++;
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
    for (const table of this.byWorker.values()) entries += table.size;
    return { entries, retired: this.retired.length - this.retiredHead, ...this.counters };
  }

  private table(workerId: WorkerId): Map<SequenceHash, Entry> {
    let table = this.byWorker.get(workerId);
    if (table === undefined) {
      table = new Map();
      this.byWorker.set(workerId, table);
    }
    return table;
  }
}
