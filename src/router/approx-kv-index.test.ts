import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { asWorkerId, type SequenceHash, type WorkerId } from '../protocols/ids.ts';
import { createRng } from '../util/prng.ts';
import { ApproxKvIndex } from './approx-kv-index.ts';

const h = (n: number) => BigInt(n) as SequenceHash;

/** The cap as first written: drop the single globally oldest entry (first worker on ties), one at a time. */
class OneAtATime {
  readonly queues = new Map<WorkerId, Map<SequenceHash, number>>();
  size = 0;

  constructor(
    private readonly ttlMs: number,
    private readonly maxEntries: number,
  ) {}

  record(now: number, w: WorkerId, hashes: SequenceHash[]): void {
    let q = this.queues.get(w);
    if (q === undefined) this.queues.set(w, (q = new Map()));
    for (const hash of hashes) {
      if (q.delete(hash)) this.size--;
      q.set(hash, now + this.ttlMs);
      this.size++;
    }
    while (this.size > this.maxEntries) {
      let oldest: Map<SequenceHash, number> | undefined;
      let at = Number.POSITIVE_INFINITY;
      for (const queue of this.queues.values()) {
        const front = queue.values().next();
        if (!front.done && front.value < at) [at, oldest] = [front.value, queue];
      }
      oldest!.delete(oldest!.keys().next().value!);
      this.size--;
    }
  }
}

describe('ApproxKvIndex cap', () => {
  it('evicts in batches exactly the entries one-at-a-time eviction drops, ties included', () => {
    const rng = createRng(5);
    const workers = [0, 1, 2, 3].map((k) => asWorkerId(`w${k}`));
    let now = 0;
    const index = new ApproxKvIndex({ ttlMs: 1e9, maxEntries: 300, now: () => now });
    const reference = new OneAtATime(1e9, 300);
    for (let step = 0; step < 400; step++) {
      if (rng.nextFloat() < 0.7) now += 1; // else the same ms as the last record: equal expiries across workers
      const w = workers[rng.nextInt(workers.length)]!;
      const start = rng.nextInt(500);
      const hashes = Array.from({ length: 1 + rng.nextInt(120) }, (_, i) => h(start + i));
      index.record(w, hashes);
      reference.record(now, w, hashes);
      assert.equal(index.size, reference.size);
    }
    for (const w of workers) {
      const kept = [...(reference.queues.get(w)?.keys() ?? [])];
      assert.equal(index.workerBlockCount(w), kept.length, w);
      for (const hash of kept) assert.equal(index.blocks.holds(w, hash), true, `${w} keeps ${hash}`);
    }
  });
});
