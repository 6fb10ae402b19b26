/**
 * The approximate KV index for routers without KV events (docs/design-notes.md#approximate-mode): it remembers
 * its own routing decisions ("I sent prefix P to worker w, so w probably caches it") for a TTL. Like a
 * CDN that assumes an edge holds an object for a while after it served it, without asking the edge.
 *
 * Entries are (worker, block) pairs with an expiry. The TTL is constant, so each worker's entries expire
 * in insertion order: a Map per worker (insertion-ordered, refreshed by delete + set) is its expiry queue,
 * and pruning only ever looks at the front. Past `maxEntries`, the globally oldest entries go first.
 */
import type { SequenceHash, WorkerId } from '../protocols/ids.ts';
import { BlockIndex } from './block-index.ts';

export interface ApproxKvIndexOptions {
  ttlMs: number;
  maxEntries: number;
  now: () => number;
}

export class ApproxKvIndex {
  readonly blocks = new BlockIndex();
  /** Per worker: block → expiry time (ms), in expiry order. */
  private readonly expiries = new Map<WorkerId, Map<SequenceHash, number>>();
  private entries = 0;
  /**
   * No entry expires before this (a lower bound: the earliest front after the last prune, or a record
   * since); entries are recorded in expiry order per worker, so a front only ever moves later.
   */
  private earliestExpiry = Number.POSITIVE_INFINITY;
  /** `pruneExpired`'s scratch (it runs once per decision, over every worker). */
  private readonly expired: SequenceHash[] = [];

  constructor(private readonly options: ApproxKvIndexOptions) {}

  get size(): number {
    return this.entries;
  }

  /** Remember that `workerId` now holds `hashes` (a decision just sent that prefix there). */
  record(workerId: WorkerId, hashes: readonly SequenceHash[]): void {
    const expiresAt = this.options.now() + this.options.ttlMs;
    this.earliestExpiry = Math.min(this.earliestExpiry, expiresAt);
    let queue = this.expiries.get(workerId);
    if (queue === undefined) this.expiries.set(workerId, (queue = new Map()));
    for (const hash of hashes) {
      if (queue.delete(hash)) this.entries--;
      queue.set(hash, expiresAt);
      this.entries++;
    }
    this.blocks.store(workerId, hashes);
    this.evictOverCap();
  }

  /** Per-worker overlap of `hashes` among unexpired entries. */
  findMatches(hashes: readonly SequenceHash[]): Map<WorkerId, number> {
    this.pruneExpired();
    return this.blocks.findMatches(hashes);
  }

  /**
   * `findMatches` without allocating (the routing path): one walk, then `matchedDepth` per worker until
   * the next walk.
   */
  matchDepths(hashes: readonly SequenceHash[]): void {
    this.pruneExpired();
    this.blocks.matchDepths(hashes);
  }

  /** `workerId`'s overlap in the last `matchDepths` walk (0 when it holds none of it). */
  matchedDepth(workerId: WorkerId): number {
    return this.blocks.depthAt(this.blocks.slotOf(workerId));
  }

  workerBlockCount(workerId: WorkerId): number {
    return this.blocks.workerBlockCount(workerId);
  }

  removeWorker(workerId: WorkerId): void {
    this.entries -= this.expiries.get(workerId)?.size ?? 0;
    this.expiries.delete(workerId);
    this.blocks.removeWorker(workerId);
  }

  /** Drop every entry whose TTL has passed (one comparison while none has: it runs per decision). */
  pruneExpired(): void {
    const now = this.options.now();
    if (now < this.earliestExpiry) return;
    const expired = this.expired;
    let earliest = Number.POSITIVE_INFINITY;
    for (const [workerId, queue] of this.expiries) {
      expired.length = 0;
      for (const [hash, expiresAt] of queue) {
        if (expiresAt > now) {
          earliest = Math.min(earliest, expiresAt);
          break;
        }
        expired.push(hash);
      }
      this.drop(workerId, queue, expired);
    }
    expired.length = 0;
    this.earliestExpiry = earliest;
  }

  /**
   * Drop the globally oldest entries until the cap holds. In batches: the worker whose front expires first
   * gives up every entry older than the next worker's front at once (one scan of the workers per batch, not
   * per entry: a record() of a long prompt over the cap evicts ~1,000 entries, and a scan per entry made
   * kv-approx replays several times slower than the other policies). Same entries, same order as one at a
   * time: ties go to the worker met first, as the single-entry scan did.
   */
  private evictOverCap(): void {
    let excess = this.entries - this.options.maxEntries;
    while (excess > 0) {
      let oldest: { workerId: WorkerId; queue: Map<SequenceHash, number> } | undefined;
      let oldestAt = Number.POSITIVE_INFINITY;
      let nextAt = Number.POSITIVE_INFINITY; // the earliest front among the other workers
      let nextComesFirst = false; // that worker precedes `oldest` in iteration order (it wins ties)
      for (const [workerId, queue] of this.expiries) {
        const front = queue.values().next();
        if (front.done) continue;
        if (front.value < oldestAt) {
          nextAt = oldestAt;
          nextComesFirst = oldest !== undefined;
          oldestAt = front.value;
          oldest = { workerId, queue };
        } else if (front.value < nextAt) {
          nextAt = front.value;
          nextComesFirst = false;
        }
      }
      if (oldest === undefined) return;
      const batch: SequenceHash[] = [];
      for (const [hash, expiresAt] of oldest.queue) {
        if (batch.length >= excess || expiresAt > nextAt || (expiresAt === nextAt && nextComesFirst)) break;
        batch.push(hash);
      }
      this.drop(oldest.workerId, oldest.queue, batch);
      excess -= batch.length;
    }
  }

  private drop(workerId: WorkerId, queue: Map<SequenceHash, number>, hashes: readonly SequenceHash[]): void {
    if (hashes.length === 0) return;
    for (const hash of hashes) queue.delete(hash);
    this.entries -= hashes.length;
    this.blocks.remove(workerId, hashes);
  }
}
