/**
 * A consistent-hashing ring with virtual nodes (Karger et al. 1997), as in memcached clients, Envoy's
 * ring_hash and HAProxy's `hash-type consistent`. Each worker owns `virtualNodes` points on a 64-bit ring;
 * a key belongs to the first point clockwise from it. Adding or removing a worker moves only the keys
 * next to its points (about 1/n of them), so prefix affinity survives pool changes.
 *
 *   positions: BigUint64Array (points)   sorted ascending
 *   owners:    WorkerId[]     (points)   owners[i] owns positions[i]
 */
import type { WorkerId } from '../protocols/ids.ts';
import { xxh3Seeded } from '../tokens/block-hash.ts';

const encoder = new TextEncoder();

export class ConsistentHashRing {
  private readonly members = new Set<WorkerId>();
  private positions = new BigUint64Array(0);
  private owners: WorkerId[] = [];

  constructor(private readonly virtualNodes = 100) {}

  get size(): number {
    return this.members.size;
  }

  has(workerId: WorkerId): boolean {
    return this.members.has(workerId);
  }

  add(workerId: WorkerId): void {
    if (this.members.has(workerId)) return;
    this.members.add(workerId);
    this.rebuild();
  }

  remove(workerId: WorkerId): void {
    if (this.members.delete(workerId)) this.rebuild();
  }

  /**
   * Distinct workers in ring order starting at the owner of `key`: the owner first, then the fallbacks a
   * bounded-load walk would try. Stops early when `visit` returns true.
   */
  walk(key: bigint, visit: (workerId: WorkerId) => boolean): void {
    const n = this.positions.length;
    if (n === 0) return;
    const seen = new Set<WorkerId>();
    const start = this.firstAtOrAfter(key);
    for (let step = 0; step < n && seen.size < this.members.size; step++) {
      const owner = this.owners[(start + step) % n]!;
      if (seen.has(owner)) continue;
      seen.add(owner);
      if (visit(owner)) return;
    }
  }

  /** The worker owning `key`, or undefined for an empty ring. */
  ownerOf(key: bigint): WorkerId | undefined {
    return this.owners.length === 0 ? undefined : this.owners[this.firstAtOrAfter(key) % this.owners.length];
  }

  private firstAtOrAfter(key: bigint): number {
    let lo = 0;
    let hi = this.positions.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.positions[mid]! < key) lo = mid + 1;
      else hi = mid;
    }
    return lo; // may equal length: wraps to 0
  }

  private rebuild(): void {
    const points: { position: bigint; owner: WorkerId }[] = [];
    for (const workerId of this.members) {
      for (let v = 0; v < this.virtualNodes; v++) {
        points.push({ position: xxh3Seeded(encoder.encode(`${workerId}#${v}`)), owner: workerId });
      }
    }
    points.sort((a, b) => (a.position < b.position ? -1 : a.position > b.position ? 1 : 0));
    this.positions = BigUint64Array.from(points, (p) => p.position);
    this.owners = points.map((p) => p.owner);
  }
}
