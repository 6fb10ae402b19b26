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

  constructor(private readonly options: ApproxKvIndexOptions) {}

  get size(): number {
    return this.entries;
  }

  /** Remember that `workerId` now holds `hashes` (a decision just sent that prefix there). */
  record(workerId: WorkerId, hashes: readonly SequenceHash[]): void {
    const expiresAt = this.options.now() + this.options.ttlMs;
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

  workerBlockCount(workerId: WorkerId): number {
    return this.blocks.workerBlockCount(workerId);
  }

  removeWorker(workerId: WorkerId): void {
    this.entries -= this.expiries.get(workerId)?.size ?? 0;
    this.expiries.delete(workerId);
    this.blocks.removeWorker(workerId);
  }

  /** Drop every entry whose TTL has passed. */
  pruneExpired(): void {
    const now = this.options.now();
    for (const [workerId, queue] of this.expiries) {
      const expired: SequenceHash[] = [];
      for (const [hash, expiresAt] of queue) {
        if (expiresAt > now) break;
        expired.push(hash);
      }
      this.drop(workerId, queue, expired);
    }
  }

  private evictOverCap(): void {
    while (this.entries > this.options.maxEntries) {
      let oldest: { workerId: WorkerId; queue: Map<SequenceHash, number>; hash: SequenceHash } | undefined;
      let oldestAt = Number.POSITIVE_INFINITY;
      for (const [workerId, queue] of this.expiries) {
        const front = queue.entries().next();
        if (!front.done && front.value[1] < oldestAt) {
          oldestAt = front.value[1];
          oldest = { workerId, queue, hash: front.value[0] };
        }
      }
      if (oldest === undefined) return;
      this.drop(oldest.workerId, oldest.queue, [oldest.hash]);
    }
  }

  private drop(workerId: WorkerId, queue: Map<SequenceHash, number>, hashes: readonly SequenceHash[]): void {
    if (hashes.length === 0) return;
    for (const hash of hashes) queue.delete(hash);
    this.entries -= hashes.length;
    this.blocks.remove(workerId, hashes);
  }
}
