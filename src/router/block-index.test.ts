import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { asWorkerId } from '../protocols/ids.ts';
import { BlockIndex } from './block-index.ts';
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
});
