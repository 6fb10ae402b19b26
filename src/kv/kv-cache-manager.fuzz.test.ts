/**
 * 10,000 random scheduler operations (admit, chunked prefill, decode, finish, cancel, preempt, reset) over
 * many requests, checking the KV books after every one. A shadow copy of the KV memory (what token each
 * slot holds) proves that a prefix hit really points at blocks holding that prefix, and a mirror built
 * only from the event stream (as a router would) must equal the manager's cache dump at every step. Each
 * request owns its block hashes, extended as its tokens grow (as the engine's sequence does); they must
 * equal a fresh computation over its tokens at every step.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { asRequestId, type BlockId, type RequestId } from '../protocols/ids.ts';
import type { KvCacheEvent } from '../protocols/kv-events.ts';
import { appendBlockHashes, type BlockHashes, computeBlockHashes } from '../tokens/block-hash.ts';
import { Mulberry32 } from '../util/prng.ts';
import { KvCacheManager } from './kv-cache-manager.ts';

const NUM_BLOCKS = 32;
const BS = 4;
const NUM_OPS = 10_000;
const MAX_LIVE = 10;

/** mulberry32: small, seeded, good enough to drive a test. */
function prng(seed: number): () => number {
  const generator = new Mulberry32(seed);
  return () => generator.nextFloat();
}

interface Req {
  id: RequestId;
  tokens: number[];
  /** The request's own hashes of its full blocks, extended on every append, never recomputed. */
  hashes: BlockHashes;
  numComputed: number;
  running: boolean;
  decoded: number;
}

describe('KvCacheManager under 10,000 random operations', () => {
  it('keeps its books balanced after every operation and leaks nothing', (t) => {
    const rand = prng(20240601);
    const int = (n: number) => Math.floor(rand() * n);
    const pick = <T>(xs: T[]): T | undefined => (xs.length === 0 ? undefined : xs[int(xs.length)]);

    const events: KvCacheEvent[] = [];
    const kv = new KvCacheManager({
      numBlocks: NUM_BLOCKS,
      blockSize: BS,
      enablePrefixCaching: true,
      events: (e) => events.push(e),
    });
    const shadow = Array.from({ length: NUM_BLOCKS }, () => new Int32Array(BS).fill(-1)); // (numBlocks, blockSize)
    const mirror = new Set<string>(); // the router's view, built from events only
    let nextEventId = 1;
    const prefixes = Array.from({ length: 6 }, () => Array.from({ length: 4 + int(16) }, () => int(20)));
    const live: Req[] = [];
    let nextReq = 0;
    const tally = {
      hashedBlocks: 0,
      admitted: 0,
      refused: 0,
      hitTokens: 0,
      preempted: 0,
      evictions: 0,
      resets: 0,
      ops: 0,
    };

    const writeKv = (r: Req, upTo: number) => {
      const table = kv.getBlockTable(r.id);
      for (let pos = r.numComputed; pos < upTo; pos++)
        shadow[table[Math.floor(pos / BS)]!]![pos % BS] = r.tokens[pos]!;
      r.numComputed = upTo;
      kv.cacheBlocks(r.id, hashed(r), r.numComputed);
    };
    const hashed = (r: Req) => ({ tokenIds: r.tokens, blockHashes: r.hashes });
    const drop = (r: Req) => {
      kv.free(r.id);
      live.splice(live.indexOf(r), 1);
    };

    const ops: [number, () => void][] = [
      [
        12,
        () => {
          if (live.length >= MAX_LIVE) return;
          const suffix = Array.from({ length: 1 + int(12) }, () => int(20));
          const tokens = [...(pick(prefixes) ?? []), ...suffix];
          const hashes = computeBlockHashes(tokens, BS);
          live.push({ id: asRequestId(`r${nextReq++}`), tokens, hashes, numComputed: 0, running: false, decoded: 0 });
        },
      ],
      [
        20,
        () => {
          const r = pick(live.filter((x) => !x.running));
          if (!r) return;
          const hit = kv.getComputedBlocks(hashed(r));
          assert.equal(hit.numComputedTokens % BS, 0);
          assert.ok(hit.numComputedTokens < r.tokens.length, 'a hit never covers every token');
          hit.blocks.forEach((b, i) => {
            assert.deepEqual(
              Array.from(shadow[b]!),
              r.tokens.slice(i * BS, (i + 1) * BS),
              `block ${b} content`,
            );
          });
          const freeBefore = kv.numFreeBlocks();
          const fresh = kv.allocateSlots(r.id, r.tokens.length, hit.blocks);
          if (fresh === null) {
            tally.refused++;
            assert.equal(kv.numFreeBlocks(), freeBefore);
            assert.deepEqual(kv.getBlockTable(r.id), []);
            return;
          }
          tally.admitted++;
          tally.hitTokens += hit.numComputedTokens;
          r.running = true;
          r.numComputed = hit.numComputedTokens;
        },
      ],
      [
        45,
        () => {
          const r = pick(live.filter((x) => x.running));
          if (!r) return;
          if (r.numComputed < r.tokens.length) {
            writeKv(r, Math.min(r.tokens.length, r.numComputed + 1 + int(8))); // a prefill chunk
            return;
          }
          if (kv.allocateSlots(r.id, r.tokens.length + 1) === null) {
            kv.free(r.id); // preempted: back to waiting, recomputed later
            r.running = false;
            r.numComputed = 0;
            tally.preempted++;
            return;
          }
          r.tokens.push(int(20));
          tally.hashedBlocks += appendBlockHashes(r.hashes, r.tokens, BS);
          assert.deepEqual(r.hashes, computeBlockHashes(r.tokens, BS), `${r.id}'s own hashes are fresh`);
          r.decoded++;
          writeKv(r, r.tokens.length);
        },
      ],
      [
        8,
        () => {
          const r = pick(live.filter((x) => x.running && x.decoded > 0));
          if (r) drop(r);
        },
      ],
      [
        6,
        () => {
          const r = pick(live);
          if (r) drop(r); // cancel: waiting, mid-prefill or decoding
        },
      ],
      [
        1,
        () => {
          const expected = kv.stats().activeBlocks === 0;
          assert.equal(kv.resetPrefixCache(), expected);
          if (expected) tally.resets++;
        },
      ],
    ];
    const totalWeight = ops.reduce((s, [w]) => s + w, 0);

    const check = () => {
      kv.checkInvariants(); // refCnt ≥ 0, free ⇔ refCnt 0, refCnt = number of tables holding the block
      const held = new Set<BlockId>();
      for (const r of live) {
        const table = kv.getBlockTable(r.id);
        if (r.running)
          assert.ok(table.length * BS >= r.tokens.length, `${r.id} has slots for all its tokens`);
        else assert.equal(table.length, 0);
        for (const b of table) held.add(b);
      }
      const { activeBlocks } = kv.stats();
      assert.equal(activeBlocks, held.size);
      assert.equal(kv.numFreeBlocks() + activeBlocks, NUM_BLOCKS);
      for (; nextEventId <= events.length; nextEventId++) {
        const { eventId, data } = events[nextEventId - 1]!;
        assert.equal(eventId, nextEventId);
        if (data.type === 'stored') {
          for (const b of data.blocks) {
            assert.ok(!mirror.has(b.blockHash), 'a hash is stored once');
            mirror.add(b.blockHash);
          }
        } else if (data.type === 'removed') {
          tally.evictions += data.blockHashes.length;
          for (const h of data.blockHashes) assert.ok(mirror.delete(h), 'removed hash was stored');
        } else {
          mirror.clear();
        }
      }
      const dumped = kv.dumpCachedBlocks().flatMap((e) => (e.data.type === 'stored' ? e.data.blocks : []));
      assert.equal(dumped.length, mirror.size);
      for (const b of dumped) assert.ok(mirror.has(b.blockHash));
    };

    for (let step = 0; step < NUM_OPS; step++) {
      let roll = int(totalWeight);
      const op = ops.find(([w]) => (roll -= w) < 0)!;
      op[1]();
      tally.ops++;
      check();
    }
    for (const r of [...live]) drop(r);
    check();
    assert.equal(kv.numFreeBlocks(), NUM_BLOCKS, 'no leaked blocks');
    assert.equal(kv.stats().activeBlocks, 0);

    // The run must have exercised the interesting paths, or it proves little.
    t.diagnostic(`tally ${JSON.stringify(tally)} stats ${JSON.stringify(kv.stats())}`);
    assert.ok(tally.admitted > 300, `admitted ${tally.admitted}`);
    assert.ok(tally.refused > 0, 'some admissions found no room');
    assert.ok(tally.preempted > 0, 'some decodes ran out of blocks');
    assert.ok(tally.hitTokens > 0, 'some prefixes were reused');
    assert.ok(tally.evictions > 0, 'some cached blocks were evicted');
    assert.ok(tally.resets > 0, 'the cache was reset at least once');
    assert.ok(tally.hashedBlocks > 0, 'some decodes filled a block, extending its owner hashes');
  });
});
