import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { asWorkerId } from '../protocols/ids.ts';
import type { SequenceHash, WorkerId } from '../protocols/ids.ts';
import { hashToWire } from '../protocols/kv-events.ts';
import { Mulberry32 } from '../util/prng.ts';
import { BlockIndex } from './block-index.ts';
import { removeWire, storeWire } from './block-index-wire.ts';
import { sequenceHashes, tokens } from './testing/router-kit.ts';

const hashes = sequenceHashes(tokens(0, 16 * 8)); // 8 blocks

describe('BlockIndex', () => {
  it('tracks more than 32 workers (multi-word masks) with per-worker depths', () => {
    const index = new BlockIndex();
    const ids = Array.from({ length: 70 }, (_, i) => asWorkerId(`w${i}`));
    for (const [i, id] of ids.entries()) index.store(id, hashes.slice(0, (i % 8) + 1));
    const depths = index.findMatches(hashes);
    assert.equal(depths.size, 70);
    for (const [i, id] of ids.entries()) assert.equal(depths.get(id), (i % 8) + 1, `depth of ${id}`);
  });

  it('reuses a departed worker slot without inheriting its blocks', () => {
    const index = new BlockIndex();
    const a = asWorkerId('a');
    const b = asWorkerId('b');
    index.store(a, hashes);
    index.removeWorker(a);
    index.store(b, hashes.slice(0, 1));
    assert.deepEqual(index.findMatches(hashes), new Map([[b, 1]]));
    assert.equal(index.numBlocks, 1);
  });

  it('counts a block once per worker however often it is stored', () => {
    const index = new BlockIndex();
    const a = asWorkerId('a');
    assert.equal(index.store(a, hashes.slice(0, 3)), 3);
    assert.equal(index.store(a, hashes.slice(0, 4)), 1);
    assert.equal(index.workerBlockCount(a), 4);
    assert.equal(index.remove(a, hashes), 4);
    assert.equal(index.numBlocks, 0);
  });

  it('agrees with a set-per-worker reference under random stores, removals, clears and departures', () => {
    // Small keys collide in the table's home slots and large ones use the high half: both paths of the
    // open addressing (probe runs, backward-shift deletion, growth) and the wire parser are exercised.
    const rng = new Mulberry32(12345);
    const keyPool: SequenceHash[] = Array.from(
      { length: 3000 },
      (_, i) =>
        (i % 3 === 0 ? BigInt(i) : (BigInt(i) * 0x9e3779b97f4a7c15n) & ((1n << 64n) - 1n)) as SequenceHash,
    );
    const workerIds = Array.from({ length: 40 }, (_, i) => asWorkerId(`w${i}`));
    const index = new BlockIndex();
    const reference = new Map<WorkerId, Set<SequenceHash>>();
    const pick = () => keyPool[rng.nextInt(keyPool.length)]!;
    for (let step = 0; step < 20_000; step++) {
      const workerId = workerIds[rng.nextInt(workerIds.length)]!;
      const held = reference.get(workerId) ?? new Set<SequenceHash>();
      reference.set(workerId, held);
      const roll = rng.nextFloat();
      if (roll < 0.5) {
        const batch = Array.from({ length: 1 + rng.nextInt(8) }, pick);
        const wire = rng.nextFloat() < 0.5;
        const added = wire ? storeWire(index, workerId, batch.map(hashToWire)) : index.store(workerId, batch);
        const expected = new Set(batch.filter((h) => !held.has(h))).size;
        for (const h of batch) held.add(h);
        assert.equal(added, expected);
      } else if (roll < 0.95) {
        const batch = [...new Set(Array.from({ length: 1 + rng.nextInt(8) }, pick))];
        const removed = removeWire(index, workerId, batch.map(hashToWire));
        assert.equal(removed, batch.filter((h) => held.delete(h)).length);
      } else if (roll < 0.98) {
        index.clearWorker(workerId);
        held.clear();
      } else {
        index.removeWorker(workerId);
        reference.delete(workerId);
      }
      if (step % 500 === 0) {
        const distinct = new Set([...reference.values()].flatMap((set) => [...set]));
        assert.equal(index.numBlocks, distinct.size, `distinct blocks at step ${step}`);
        for (const id of workerIds) {
          const set = reference.get(id);
          assert.equal(index.workerBlockCount(id), set?.size ?? 0);
          for (const h of keyPool.slice(0, 300)) assert.equal(index.holds(id, h), set?.has(h) ?? false);
        }
      }
    }
    // A chain walk: depths from the reference, for chains built of pool keys.
    for (let trial = 0; trial < 200; trial++) {
      const chain = Array.from({ length: 1 + rng.nextInt(6) }, pick);
      const expected = new Map<WorkerId, number>();
      for (const [id, set] of reference) {
        let depth = 0;
        while (depth < chain.length && set.has(chain[depth]!)) depth++;
        if (depth > 0) expected.set(id, depth);
      }
      assert.deepEqual(index.findMatches(chain), expected);
    }
  });
});
