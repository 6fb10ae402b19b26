import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { asBlockId } from '../protocols/ids.ts';
import { FreeBlockQueue } from './free-block-queue.ts';
import { KvBlock } from './kv-block.ts';

const ids = (q: FreeBlockQueue) => [...q].map((b) => b.blockId as number);

describe('FreeBlockQueue', () => {
  it('keeps blocks in order, pops from the head, appends at the tail, prepends at the head', () => {
    const blocks = Array.from({ length: 5 }, (_, i) => new KvBlock(asBlockId(i)));
    const q = new FreeBlockQueue(blocks);
    assert.deepEqual(ids(q), [0, 1, 2, 3, 4]);
    assert.equal(q.popLeft().blockId, 0);
    q.append(blocks[0]!);
    assert.deepEqual(ids(q), [1, 2, 3, 4, 0]);
    q.remove(blocks[3]!);
    assert.deepEqual(ids(q), [1, 2, 4, 0]);
    assert.equal(q.contains(blocks[3]!), false);
    q.prepend(blocks[3]!);
    assert.deepEqual(ids(q), [3, 1, 2, 4, 0]);
    assert.equal(q.length, 5);
  });

  it('removes the first, last and only element, and refuses double inserts and empty pops', () => {
    const [a, b] = [new KvBlock(asBlockId(0)), new KvBlock(asBlockId(1))];
    const q = new FreeBlockQueue([a, b]);
    q.remove(a);
    q.remove(b);
    assert.equal(q.length, 0);
    assert.deepEqual(ids(q), []);
    assert.throws(() => q.popLeft(), /empty/);
    q.append(a);
    assert.throws(() => q.append(a), /already in the free queue/);
    assert.throws(() => q.remove(b), /not in the free queue/);
  });
});
