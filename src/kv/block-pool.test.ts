import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { LocalBlockHash, SequenceHash } from '../protocols/ids.ts';
import { hashToWire, type KvCacheEventData } from '../protocols/kv-events.ts';
import { chainBlockHash, hashBlockTokens } from '../tokens/block-hash.ts';
import { BlockPool, type FullBlock } from './block-pool.ts';
import type { KvBlock } from './kv-block.ts';

function makePool(numBlocks: number) {
  const events: KvCacheEventData[] = [];
  const pool = new BlockPool(numBlocks, true, (e) => events.push(e));
  return { pool, events };
}

/** FullBlock entries for `blocks` holding consecutive 4-token chunks of `tokens`, chained from no parent. */
function fullBlocks(blocks: KvBlock[], tokens: number[]): FullBlock[] {
  let parent: SequenceHash | null = null;
  return blocks.map((block, i) => {
    const localHash = hashBlockTokens(tokens, i * 4, 4);
    const blockHash = chainBlockHash(parent, localHash);
    parent = blockHash;
    return {
      block,
      blockHash,
      localHash,
      tokenIds: Uint32Array.from(tokens.slice(i * 4, i * 4 + 4)),
      depth: i,
    };
  });
}

describe('BlockPool', () => {
  it('hands out blocks from the head of the free queue with refCnt 1', () => {
    const { pool } = makePool(4);
    const got = pool.getNewBlocks(3);
    assert.deepEqual(
      got.map((b) => b.blockId),
      [0, 1, 2],
    );
    assert.ok(got.every((b) => b.refCnt === 1));
    assert.equal(pool.numFreeBlocks, 1);
    assert.throws(() => pool.getNewBlocks(2), /only 1 free/);
    pool.checkInvariants();
  });

  it('evicts cached blocks in LRU order: least recently freed first', () => {
    const { pool, events } = makePool(3);
    const tokens = Array.from({ length: 12 }, (_, i) => i);
    const [a, b, c] = pool.getNewBlocks(3) as [KvBlock, KvBlock, KvBlock];
    // Three independent one-block sequences, freed in the order b, c, a.
    const entries = [a, b, c].map((block, i) => fullBlocks([block], tokens.slice(i * 4, i * 4 + 4))[0]!);
    for (const e of entries) pool.cacheFullBlocks(null, [e]);
    pool.freeBlocks([b]);
    pool.freeBlocks([c]);
    pool.freeBlocks([a]);
    events.length = 0;
    const order = [pool.getNewBlocks(1)[0]!, pool.getNewBlocks(1)[0]!, pool.getNewBlocks(1)[0]!];
    assert.deepEqual(
      order.map((x) => x.blockId),
      [b.blockId, c.blockId, a.blockId],
    );
    assert.deepEqual(events, [
      { type: 'removed', blockHashes: [hashToWire(entries[1]!.blockHash)] },
      { type: 'removed', blockHashes: [hashToWire(entries[2]!.blockHash)] },
      { type: 'removed', blockHashes: [hashToWire(entries[0]!.blockHash)] },
    ]);
    assert.equal(pool.numCachedBlocks, 0);
    assert.equal(pool.counters.evictions, 3);
    pool.checkInvariants();
  });

  it('reuses blocks without a hash before evicting any cached block', () => {
    const { pool, events } = makePool(3);
    const [a, b, c] = pool.getNewBlocks(3) as [KvBlock, KvBlock, KvBlock];
    pool.cacheFullBlocks(null, fullBlocks([a], [1, 2, 3, 4]));
    pool.freeBlocks([a]); // cached → tail
    pool.freeBlocks([b, c]); // no hash → head
    events.length = 0;
    const taken = pool.getNewBlocks(2).map((x) => x.blockId);
    assert.deepEqual(new Set(taken), new Set([b.blockId, c.blockId]));
    assert.equal(events.length, 0, 'nothing cached was evicted');
    assert.equal(pool.numCachedBlocks, 1);
  });

  it('touch pins a free cached block (leaves the queue) and counts references', () => {
    const { pool } = makePool(2);
    const [a] = pool.getNewBlocks(1) as [KvBlock];
    pool.cacheFullBlocks(null, fullBlocks([a], [5, 6, 7, 8]));
    pool.freeBlocks([a]);
    assert.equal(pool.numFreeBlocks, 2);
    pool.touch([a]);
    pool.touch([a]);
    assert.equal(a.refCnt, 2);
    assert.equal(pool.numFreeBlocks, 1);
    pool.checkInvariants();
    pool.freeBlocks([a]);
    assert.equal(pool.numFreeBlocks, 1, 'still held by one user');
    pool.freeBlocks([a]);
    assert.equal(pool.numFreeBlocks, 2);
    assert.throws(() => pool.freeBlocks([a]), /refCnt 0/);
  });

  it('verifies a hit by tokens and parent: an equal hash with other content is a miss', () => {
    const { pool } = makePool(2);
    const [a, b] = pool.getNewBlocks(2) as [KvBlock, KvBlock];
    const [first, second] = fullBlocks([a, b], [1, 2, 3, 4, 5, 6, 7, 8]) as [FullBlock, FullBlock];
    pool.cacheFullBlocks(null, [first, second]);
    assert.equal(pool.lookup(first.blockHash, null, [1, 2, 3, 4], 0), a);
    assert.equal(pool.lookup(second.blockHash, first.blockHash, [0, 1, 2, 3, 4, 5, 6, 7, 8], 5), b);
    // A forged collision: same hash, different tokens. Must not return the block.
    assert.equal(pool.lookup(first.blockHash, null, [1, 2, 3, 9], 0), null);
    // Same hash and tokens, but claimed under another parent.
    assert.equal(pool.lookup(second.blockHash, 42n as SequenceHash, [5, 6, 7, 8], 0), null);
    assert.equal(pool.lookup(123n as SequenceHash, null, [1, 2, 3, 4], 0), null);
    assert.deepEqual(pool.counters, { lookups: 5, hits: 2, collisions: 2, evictions: 0 });
  });

  it('emits stored with the parent hash, block hashes and tokens; a twin of a cached prefix is skipped', () => {
    const { pool, events } = makePool(6);
    const tokens = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];
    const first = pool.getNewBlocks(3);
    const full = fullBlocks(first, tokens);
    pool.cacheFullBlocks(null, full.slice(0, 1));
    pool.cacheFullBlocks(full[0]!.blockHash, full.slice(1));
    assert.deepEqual(events, [
      {
        type: 'stored',
        parentHash: null,
        blocks: [
          {
            blockHash: hashToWire(full[0]!.blockHash),
            tokensHash: hashToWire(full[0]!.localHash),
            tokenIds: [1, 2, 3, 4],
          },
        ],
      },
      {
        type: 'stored',
        parentHash: hashToWire(full[0]!.blockHash),
        blocks: full.slice(1).map((f) => ({
          blockHash: hashToWire(f.blockHash),
          tokensHash: hashToWire(f.localHash),
          tokenIds: Array.from(f.tokenIds),
        })),
      },
    ]);
    // A second request computed the same first two blocks itself, then a new third block.
    events.length = 0;
    const twins = pool.getNewBlocks(3);
    const other = fullBlocks(twins, [1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 0]);
    pool.cacheFullBlocks(null, other);
    assert.equal(twins[0]!.isCached, false);
    assert.equal(twins[1]!.isCached, false);
    assert.equal(twins[2]!.blockHash, other[2]!.blockHash);
    assert.equal(twins[2]!.parentHash, full[1]!.blockHash);
    assert.deepEqual(events, [
      {
        type: 'stored',
        parentHash: hashToWire(full[1]!.blockHash),
        blocks: [
          {
            blockHash: hashToWire(other[2]!.blockHash),
            tokensHash: hashToWire(other[2]!.localHash),
            tokenIds: [0, 0, 0, 0],
          },
        ],
      },
    ]);
    assert.equal(pool.numCachedBlocks, 4);
    pool.checkInvariants();
  });

  it('resetPrefixCache refuses while blocks are in use, then clears and emits cleared', () => {
    const { pool, events } = makePool(2);
    const blocks = pool.getNewBlocks(2);
    pool.cacheFullBlocks(null, fullBlocks(blocks, [1, 2, 3, 4, 5, 6, 7, 8]));
    events.length = 0;
    assert.equal(pool.resetPrefixCache(), false);
    assert.deepEqual(events, []);
    pool.freeBlocks([...blocks].reverse());
    assert.equal(pool.resetPrefixCache(), true);
    assert.deepEqual(events, [{ type: 'cleared' }]);
    assert.equal(pool.numCachedBlocks, 0);
    assert.ok(blocks.every((b) => !b.isCached));
    assert.equal(pool.lookup(1n as SequenceHash, null, [1, 2, 3, 4], 0), null);
    pool.checkInvariants();
  });

  it('does nothing on cacheFullBlocks when prefix caching is off', () => {
    const events: KvCacheEventData[] = [];
    const pool = new BlockPool(2, false, (e) => events.push(e));
    const [a] = pool.getNewBlocks(1) as [KvBlock];
    pool.cacheFullBlocks(null, [
      {
        block: a,
        blockHash: 1n as SequenceHash,
        localHash: 1n as LocalBlockHash,
        tokenIds: new Uint32Array(4),
        depth: 0,
      },
    ]);
    assert.equal(a.isCached, false);
    assert.deepEqual(events, []);
  });
});
