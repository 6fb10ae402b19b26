import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { asWorkerId, type WorkerId } from '../protocols/ids.ts';
import { hashToWire, isKvCacheEvent, type KvCacheEvent } from '../protocols/kv-events.ts';
import { KvIndexer } from './kv-indexer.ts';
import { removedEvent, sequenceHashes, storedEvent, tokens } from './testing/router-kit.ts';

const W1 = asWorkerId('w1');
const W2 = asWorkerId('w2');
const prompt = tokens(100, 64); // 4 full blocks
const hashes = sequenceHashes(prompt);

describe('KvIndexer', () => {
  it('indexes stored events and reports per-worker overlap depth', () => {
    const index = new KvIndexer();
    const e1 = storedEvent(1, prompt);
    assert.ok(isKvCacheEvent(e1), 'test events are valid wire events');
    assert.equal(index.applyEvent(W1, e1), 'applied');
    assert.equal(index.applyEvent(W2, storedEvent(1, prompt, 0, 2)), 'applied');
    assert.deepEqual(
      index.findMatches(hashes),
      new Map([
        [W1, 4],
        [W2, 2],
      ]),
    );
    assert.equal(index.workerBlockCount(W1), 4);
    assert.equal(index.workerBlockCount(W2), 2);
    assert.equal(index.stats().blocks, 4);
  });

  it('matches only the shared prefix of a diverging prompt', () => {
    const index = new KvIndexer();
    index.applyEvent(W1, storedEvent(1, prompt));
    const diverging = [...prompt.slice(0, 40), ...tokens(9000, 24)]; // equal for 2 full blocks + 8 tokens
    assert.deepEqual(index.findMatches(sequenceHashes(diverging)), new Map([[W1, 2]]));
    assert.deepEqual(index.findMatches(sequenceHashes(tokens(5000, 64))), new Map());
    assert.deepEqual(index.findMatches([]), new Map());
  });

  it('a later-block store extends the chain (parent known)', () => {
    const index = new KvIndexer();
    index.applyEvent(W1, storedEvent(1, prompt, 0, 2));
    index.applyEvent(W1, storedEvent(2, prompt, 2, 4));
    assert.equal(index.findMatches(hashes).get(W1), 4);
    assert.equal(index.stats().orphanStores, 0);
  });

  it('removed events cut the match at the first evicted block', () => {
    const index = new KvIndexer();
    index.applyEvent(W1, storedEvent(1, prompt));
    index.applyEvent(W2, storedEvent(1, prompt));
    index.applyEvent(W1, removedEvent(2, [hashes[3]!, hashes[2]!]));
    assert.deepEqual(
      index.findMatches(hashes),
      new Map([
        [W1, 2],
        [W2, 4],
      ]),
    );
    // Removing an unknown hash is harmless.
    index.applyEvent(W1, removedEvent(3, sequenceHashes(tokens(7000, 16))));
    assert.equal(index.workerBlockCount(W1), 2);
  });

  it('cleared drops every block of that worker only', () => {
    const index = new KvIndexer();
    index.applyEvent(W1, storedEvent(1, prompt));
    index.applyEvent(W2, storedEvent(1, prompt, 0, 1));
    index.applyEvent(W1, { eventId: 2, data: { type: 'cleared' } });
    assert.equal(index.workerBlockCount(W1), 0);
    assert.deepEqual(index.findMatches(hashes), new Map([[W2, 1]]));
    assert.equal(index.stats().blocks, 1, 'blocks nobody holds leave the tree');
  });

  it('removeWorker drops all of its blocks and its log position', () => {
    const index = new KvIndexer();
    index.applyEvent(W1, storedEvent(1, prompt));
    index.applyEvent(W2, storedEvent(1, prompt, 0, 3));
    index.removeWorker(W1);
    assert.deepEqual(index.findMatches(hashes), new Map([[W2, 3]]));
    assert.equal(index.stats().blocks, 3);
    assert.equal(index.lastEventId(W1), 0);
  });

  it('tolerates a stored event whose parent it never saw (orphan): inserted, reachable once the parent is', () => {
    const index = new KvIndexer();
    assert.equal(index.applyEvent(W1, storedEvent(1, prompt, 2, 4)), 'applied');
    assert.equal(index.stats().orphanStores, 1);
    assert.equal(index.workerBlockCount(W1), 2);
    assert.deepEqual(index.findMatches(hashes), new Map(), 'no match without blocks 0-1');
    index.applyEvent(W1, storedEvent(2, prompt, 0, 2));
    assert.equal(index.findMatches(hashes).get(W1), 4);
  });

  it('ignores duplicate and old event ids', () => {
    const index = new KvIndexer();
    index.applyEvent(W1, storedEvent(1, prompt, 0, 1));
    index.applyEvent(W1, storedEvent(2, prompt, 1, 2));
    assert.equal(index.applyEvent(W1, removedEvent(2, [hashes[1]!])), 'duplicate');
    assert.equal(index.applyEvent(W1, { eventId: 1, data: { type: 'cleared' } }), 'duplicate');
    assert.equal(index.findMatches(hashes).get(W1), 2);
    assert.equal(index.stats().duplicates, 2);
  });

  it('on a gap requests a snapshot, buffers, then rebuilds from the snapshot and replays newer events', () => {
    const requested: WorkerId[] = [];
    const index = new KvIndexer({ requestSnapshot: (w) => requested.push(w) });
    index.applyEvent(W1, storedEvent(1, prompt, 0, 1));
    // Events 2..4 are lost; 5 arrives: a gap.
    assert.equal(index.applyEvent(W1, storedEvent(5, tokens(3000, 32))), 'buffered');
    assert.deepEqual(requested, [W1]);
    assert.ok(index.isAwaitingSnapshot(W1));
    assert.equal(
      index.applyEvent(W1, removedEvent(6, sequenceHashes(tokens(3000, 32)).slice(1))),
      'buffered',
    );
    assert.deepEqual(requested, [W1], 'one request per gap');

    // The worker's dump as of event 4: all 4 blocks of `prompt`, one stored event per block, parents first.
    const dump: KvCacheEvent[] = hashes.map((h, i) => ({
      eventId: 4,
      data: {
        type: 'stored',
        parentHash: i === 0 ? null : hashToWire(hashes[i - 1]!),
        blocks: [{ blockHash: hashToWire(h), tokensHash: '0', tokenIds: prompt.slice(i * 16, (i + 1) * 16) }],
      },
    }));
    index.applySnapshot(W1, 4, dump);
    assert.equal(index.isAwaitingSnapshot(W1), false);
    assert.equal(index.findMatches(hashes).get(W1), 4);
    // Buffered 5 (store 2 blocks) and 6 (evict the second) were replayed on top.
    assert.equal(index.findMatches(sequenceHashes(tokens(3000, 32))).get(W1), 1);
    assert.equal(index.lastEventId(W1), 6);
    assert.equal(index.workerBlockCount(W1), 5);
    assert.equal(index.stats().snapshotsApplied, 1);
  });

  it('a snapshot replaces stale entries of that worker', () => {
    const index = new KvIndexer({ requestSnapshot: () => {} });
    index.applyEvent(W1, storedEvent(1, prompt));
    index.applyEvent(W1, storedEvent(9, tokens(500, 16))); // gap
    index.applySnapshot(W1, 9, [storedEvent(9, tokens(500, 16))]);
    assert.equal(index.findMatches(hashes).has(W1), false, 'blocks absent from the dump are gone');
    assert.equal(index.workerBlockCount(W1), 1);
  });

  it('a worker met mid-stream (first id > 1) is a gap from 0', () => {
    const requested: WorkerId[] = [];
    const index = new KvIndexer({ requestSnapshot: (w) => requested.push(w) });
    assert.equal(index.applyEvent(W2, storedEvent(57, prompt)), 'buffered');
    assert.deepEqual(requested, [W2]);
  });

  it('without a snapshot source a gap is applied best-effort', () => {
    const index = new KvIndexer();
    assert.equal(index.applyEvent(W1, storedEvent(3, prompt)), 'gap-applied');
    assert.equal(index.findMatches(hashes).get(W1), 4);
    assert.equal(index.stats().gaps, 1);
  });
});
