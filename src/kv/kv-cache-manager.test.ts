import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { asRequestId, type LocalBlockHash, type SequenceHash } from '../protocols/ids.ts';
import { hashToWire, isKvCacheEvent, type KvCacheEvent, type KvStoredData } from '../protocols/kv-events.ts';
import { computeBlockHashes } from '../tokens/block-hash.ts';
import { KvConfigError } from './errors.ts';
import { hashTokens } from './hashed-tokens.ts';
import { KvCacheManager } from './kv-cache-manager.ts';

const BS = 4;
const range = (from: number, n: number) => Array.from({ length: n }, (_, i) => from + i);

function makeManager(numBlocks: number, enablePrefixCaching = true) {
  const events: KvCacheEvent[] = [];
  const kv = new KvCacheManager({
    numBlocks,
    blockSize: BS,
    enablePrefixCaching,
    events: (e) => events.push(e),
  });
  return { kv, events };
}

/** Admit, "compute" the whole prompt, cache it: what a scheduler does for a one-shot prefill. */
/** Request ids of the tests below. */
const [A, B, C, X, Y] = ['a', 'b', 'c', 'x', 'y'].map(asRequestId);

function prefill(kv: KvCacheManager, name: string, tokens: number[]) {
  const id = asRequestId(name);
  const hit = kv.getComputedBlocks(hashTokens(tokens, BS));
  const fresh = kv.allocateSlots(id, tokens.length, hit.blocks);
  assert.ok(fresh !== null, `no room for ${id}`);
  kv.cacheBlocks(id, hashTokens(tokens, BS), tokens.length);
  return hit;
}

describe('KvCacheManager', () => {
  it('allocates ceil(tokens / blockSize) blocks and grows by one block every blockSize tokens', () => {
    const { kv } = makeManager(8);
    assert.deepEqual(kv.allocateSlots(A, 6), [0, 1]);
    assert.deepEqual(kv.allocateSlots(A, 7), []);
    assert.deepEqual(kv.allocateSlots(A, 8), []);
    assert.deepEqual(kv.allocateSlots(A, 9), [2]);
    assert.deepEqual(kv.getBlockTable(A), [0, 1, 2]);
    assert.equal(kv.numFreeBlocks(), 5);
    assert.equal(kv.usage(), 3 / 8);
    kv.checkInvariants();
  });

  it('returns null and changes nothing when blocks run out', () => {
    const { kv } = makeManager(4);
    kv.allocateSlots(A, 12);
    assert.equal(kv.allocateSlots(B, 8), null);
    assert.deepEqual(kv.getBlockTable(B), []);
    assert.equal(kv.numFreeBlocks(), 1);
    assert.equal(kv.allocateSlots(A, 17), null);
    assert.deepEqual(kv.getBlockTable(A), [0, 1, 2]);
    kv.checkInvariants();
  });

  it('serves a prefix hit after free: same blocks, whole blocks only, never all tokens', () => {
    const { kv } = makeManager(16);
    const prompt = range(100, 10); // 2 full blocks + 2 tokens
    assert.deepEqual(prefill(kv, 'a', prompt), { blocks: [], numComputedTokens: 0 });
    const tableA = [...kv.getBlockTable(A)];
    kv.free(A);

    const hit = kv.getComputedBlocks(hashTokens(prompt, BS));
    assert.deepEqual(hit, { blocks: tableA.slice(0, 2), numComputedTokens: 8 });
    // A longer prompt with the same start hits the same two blocks.
    assert.deepEqual(kv.getComputedBlocks(hashTokens([...prompt, 1, 2, 3], BS)).blocks, tableA.slice(0, 2));
    // Exactly two full blocks: the last token must be computed, so only one block comes from cache.
    assert.deepEqual(kv.getComputedBlocks(hashTokens(prompt.slice(0, 8), BS)), {
      blocks: tableA.slice(0, 1),
      numComputedTokens: 4,
    });
    assert.deepEqual(kv.getComputedBlocks(hashTokens(prompt.slice(0, 4), BS)), {
      blocks: [],
      numComputedTokens: 0,
    });
    assert.deepEqual(kv.getComputedBlocks(hashTokens([], BS)), { blocks: [], numComputedTokens: 0 });
    // A different first token shares nothing, even though later blocks have equal tokens.
    assert.deepEqual(kv.getComputedBlocks(hashTokens([0, ...prompt.slice(1)], BS)).blocks, []);

    const fresh = kv.allocateSlots(B, prompt.length, hit.blocks);
    assert.deepEqual(kv.getBlockTable(B).slice(0, 2), tableA.slice(0, 2));
    assert.equal(fresh!.length, 1);
    assert.deepEqual(kv.stats(), {
      hits: 3,
      queries: 7,
      hitTokens: 8 + 8 + 4,
      queryTokens: 10 + 10 + 13 + 8 + 4 + 0 + 10,
      numCachedBlocks: 2,
      activeBlocks: 3,
    });
    kv.checkInvariants();
  });

  it('shares cached blocks between live requests by reference', () => {
    const { kv } = makeManager(8);
    const prompt = range(0, 9);
    prefill(kv, 'a', prompt);
    const hit = prefill(kv, 'b', prompt);
    assert.equal(hit.numComputedTokens, 8);
    assert.deepEqual(kv.getBlockTable(B).slice(0, 2), kv.getBlockTable(A).slice(0, 2));
    assert.equal(kv.stats().activeBlocks, 4, '2 shared + 1 each');
    kv.free(A);
    assert.equal(kv.stats().activeBlocks, 3, 'shared blocks still held by b');
    kv.checkInvariants();
    kv.free(B);
    kv.free(B); // idempotent
    assert.equal(kv.numFreeBlocks(), 8);
    kv.checkInvariants();
  });

  it('counts idle cached prefix blocks against capacity, and never evicts them for the same request', () => {
    const { kv } = makeManager(4);
    const prompt = range(0, 13); // 3 full blocks + 1 token
    prefill(kv, 'a', prompt);
    kv.free(A);
    const hit = kv.getComputedBlocks(hashTokens(prompt, BS));
    assert.equal(hit.blocks.length, 3);
    // 3 idle cached + 2 new = 5 > 4 free
    assert.equal(kv.allocateSlots(B, 17, hit.blocks), null);
    assert.equal(kv.numFreeBlocks(), 4);
    // 3 idle cached + 1 new = 4: fits, and the new block is not one of the prefix blocks
    const fresh = kv.allocateSlots(B, 13, hit.blocks)!;
    assert.equal(fresh.length, 1);
    assert.ok(!hit.blocks.includes(fresh[0]!));
    assert.deepEqual(kv.getBlockTable(B), [...hit.blocks, ...fresh]);
    kv.checkInvariants();
  });

  it('evicts the deepest block of a freed prefix first, keeping the shallower ones reusable', () => {
    const { kv, events } = makeManager(4);
    const prompt = range(0, 12); // exactly 3 full blocks
    prefill(kv, 'a', prompt);
    const tableA = [...kv.getBlockTable(A)];
    const hashes = computeBlockHashes(prompt, BS).sequence;
    kv.free(A); // the 4th block never had a hash; it is reused first
    events.length = 0;
    kv.allocateSlots(X, 8); // two blocks: the free hashless one, then A's deepest
    assert.deepEqual(
      events.map((e) => e.data),
      [{ type: 'removed', blockHashes: [hashToWire(hashes[2]!)] }],
    );
    assert.deepEqual(kv.getComputedBlocks(hashTokens([...prompt, 99], BS)).blocks, tableA.slice(0, 2));
    kv.allocateSlots(Y, 4);
    assert.deepEqual(events.at(-1)!.data, { type: 'removed', blockHashes: [hashToWire(hashes[1]!)] });
    assert.deepEqual(kv.getComputedBlocks(hashTokens([...prompt, 99], BS)).blocks, tableA.slice(0, 1));
  });

  it('emits stored events with monotonic ids and a parent chain across decode steps', () => {
    const { kv, events } = makeManager(8);
    const tokens = range(10, 6);
    kv.allocateSlots(A, tokens.length);
    kv.cacheBlocks(A, hashTokens(tokens, BS), 6); // block 0 full
    for (let t = 0; t < 6; t++) {
      // decode: one more slot, one more token; block 1 fills at 8 tokens, block 2 at 12
      kv.allocateSlots(A, tokens.length + 1);
      tokens.push(50 + t);
      kv.cacheBlocks(A, hashTokens(tokens, BS), tokens.length);
    }
    const seq = computeBlockHashes(tokens, BS).sequence.map(hashToWire);
    assert.deepEqual(
      events.map((e) => e.eventId),
      [1, 2, 3],
    );
    assert.ok(events.every(isKvCacheEvent));
    const stored = events.map((e) => e.data as KvStoredData);
    assert.deepEqual(
      stored.map((d) => [d.parentHash, d.blocks.map((b) => b.blockHash)]),
      [
        [null, [seq[0]]],
        [seq[0], [seq[1]]],
        [seq[1], [seq[2]]],
      ],
    );
    assert.deepEqual(stored[2]!.blocks[0]!.tokenIds, tokens.slice(8, 12));
  });

  it('caches a chunked prefill block by block, only full computed blocks', () => {
    const { kv, events } = makeManager(8);
    const prompt = range(0, 11);
    kv.allocateSlots(A, prompt.length);
    kv.cacheBlocks(A, hashTokens(prompt, BS), 3);
    assert.equal(events.length, 0);
    kv.cacheBlocks(A, hashTokens(prompt, BS), 9);
    kv.cacheBlocks(A, hashTokens(prompt, BS), 9); // nothing new
    kv.cacheBlocks(A, hashTokens(prompt, BS), 11);
    assert.equal(events.length, 1);
    assert.equal((events[0]!.data as KvStoredData).blocks.length, 2);
    assert.equal(kv.stats().numCachedBlocks, 2);
  });

  it('caches and looks up blocks under the hashes the request carries, never hashing tokens itself', () => {
    const { kv, events } = makeManager(8);
    const tokenIds = range(0, 9); // 2 full blocks + 1 token
    // Stand-in hashes, unlike anything XXH3 gives: the cache must use them as they are.
    const blockHashes = {
      local: [11n, 12n] as LocalBlockHash[],
      sequence: [21n, 22n] as SequenceHash[],
    };
    kv.allocateSlots(A, tokenIds.length);
    kv.cacheBlocks(A, { tokenIds, blockHashes }, tokenIds.length);
    assert.deepEqual(
      events.map((e) => e.data),
      [
        {
          type: 'stored',
          parentHash: null,
          blocks: [
            { blockHash: '21', tokensHash: '11', tokenIds: [0, 1, 2, 3] },
            { blockHash: '22', tokensHash: '12', tokenIds: [4, 5, 6, 7] },
          ],
        },
      ],
    );
    kv.free(A);
    assert.equal(kv.getComputedBlocks({ tokenIds, blockHashes }).numComputedTokens, 8);
    // The same tokens under the real hashes name other blocks: nothing cached under them.
    assert.equal(kv.getComputedBlocks(hashTokens(tokenIds, BS)).numComputedTokens, 0);
  });

  it('refuses hashes that do not cover every full block at its block size', () => {
    const { kv } = makeManager(8);
    const tokenIds = range(0, 9);
    kv.allocateSlots(A, tokenIds.length);
    const atOtherSize = hashTokens(tokenIds, 2); // 4 hashes for 2 full blocks of 4
    assert.throws(() => kv.getComputedBlocks(atOtherSize), /4 block hashes for 2 full blocks of 4 tokens/);
    assert.throws(() => kv.cacheBlocks(A, atOtherSize, 9), /owner must hash every full block/);
    const stale = hashTokens(tokenIds.slice(0, 7), BS); // one block behind: tokens appended, not hashed
    assert.throws(() => kv.cacheBlocks(A, { ...stale, tokenIds }, 9), /1 block hashes for 2 full blocks/);
  });

  it('resetPrefixCache: refused while in use; then forgets everything and emits cleared', () => {
    const { kv, events } = makeManager(8);
    const prompt = range(0, 9);
    prefill(kv, 'a', prompt);
    assert.equal(kv.resetPrefixCache(), false);
    kv.free(A);
    assert.equal(kv.resetPrefixCache(), true);
    assert.deepEqual(events.at(-1), { eventId: 2, data: { type: 'cleared' } });
    assert.deepEqual(kv.getComputedBlocks(hashTokens(prompt, BS)).blocks, []);
    assert.equal(kv.stats().numCachedBlocks, 0);
    assert.deepEqual(kv.dumpCachedBlocks(), []);
  });

  it('dumps the cache as stored events equal to what the event stream built up', () => {
    const { kv, events } = makeManager(12);
    const shared = range(0, 8);
    prefill(kv, 'a', [...shared, 1, 2, 3, 4, 5]);
    prefill(kv, 'b', [...shared, 9, 9, 9, 9, 9]);
    kv.free(A);
    kv.allocateSlots(C, 4 * 8); // evicts a's own cached block
    assert.equal(events.at(-1)!.data.type, 'removed');
    // Replay the stream into a set of hashes, as a router's indexer would.
    const live = new Set<string>();
    for (const { data } of events) {
      if (data.type === 'stored') for (const b of data.blocks) live.add(b.blockHash);
      if (data.type === 'removed') for (const h of data.blockHashes) assert.ok(live.delete(h));
    }
    const dump = kv.dumpCachedBlocks();
    assert.ok(dump.every(isKvCacheEvent));
    assert.ok(dump.every((e) => e.eventId === events.at(-1)!.eventId));
    const dumped = dump.flatMap((e) => (e.data as KvStoredData).blocks.map((b) => b.blockHash));
    assert.deepEqual(new Set(dumped), live);
    // Parents come before children.
    const seen = new Set<string>();
    for (const e of dump) {
      const d = e.data as KvStoredData;
      if (d.parentHash !== null && live.has(d.parentHash)) assert.ok(seen.has(d.parentHash));
      for (const b of d.blocks) seen.add(b.blockHash);
    }
  });

  it('with prefix caching off: no hits, no hashes, no events', () => {
    const { kv, events } = makeManager(8, false);
    const prompt = range(0, 9);
    prefill(kv, 'a', prompt);
    kv.free(A);
    assert.deepEqual(kv.getComputedBlocks(hashTokens(prompt, BS)), { blocks: [], numComputedTokens: 0 });
    assert.deepEqual(events, []);
    assert.equal(kv.stats().numCachedBlocks, 0);
  });

  it('keeps working when a subscriber throws', () => {
    const kv = new KvCacheManager({
      numBlocks: 4,
      blockSize: BS,
      enablePrefixCaching: true,
      events: () => {
        throw new Error('broken subscriber');
      },
    });
    const seen: number[] = [];
    kv.events.subscribe((e) => seen.push(e.eventId));
    prefill(kv, 'a', range(0, 5));
    assert.deepEqual(seen, [1]);
    kv.checkInvariants();
  });

  it('sizes the pool from a memory budget and rejects bad configurations', () => {
    assert.equal(KvCacheManager.blocksForMemory(512 * 2 ** 20, 2 ** 20), 512);
    assert.equal(KvCacheManager.blocksForMemory(1000, 300), 3);
    assert.throws(() => KvCacheManager.blocksForMemory(100, 300), KvConfigError);
    assert.throws(() => KvCacheManager.blocksForMemory(100, 0), KvConfigError);
    assert.throws(
      () => new KvCacheManager({ numBlocks: 0, blockSize: 4, enablePrefixCaching: true }),
      KvConfigError,
    );
    assert.throws(
      () => new KvCacheManager({ numBlocks: 4, blockSize: 0, enablePrefixCaching: true }),
      KvConfigError,
    );
  });
});
