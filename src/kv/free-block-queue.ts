/**
 * The free-block queue (vLLM's FreeKVCacheBlockQueue): an intrusive doubly linked list of blocks with
 * refCnt 0, in eviction order. Like an LRU list in a buffer pool: take from the head, give back to the
 * tail, and unlink from the middle in O(1) when a cached block is hit again (it is in use once more).
 *
 *   head ⇄ [b7] ⇄ [b3] ⇄ [b9] ⇄ ... ⇄ [b2] ⇄ tail        (sentinels; links live in the blocks)
 *          next to evict              most recently freed
 *
 * The links are fields of KvBlock, so no node objects are allocated and membership is a null check.
 */

import type { BlockId } from '../protocols/ids.ts';
import { assert } from '../util/errors.ts';
import { KvBlock } from './kv-block.ts';

const SENTINEL_ID = -1 as BlockId;

export class FreeBlockQueue {
  private readonly head = new KvBlock(SENTINEL_ID);
  private readonly tail = new KvBlock(SENTINEL_ID);
  private count = 0;

  /** Starts holding `blocks` in the given order (head first). */
  constructor(blocks: Iterable<KvBlock> = []) {
    this.head.nextFree = this.tail;
    this.tail.prevFree = this.head;
    for (const block of blocks) this.append(block);
  }

  get length(): number {
    return this.count;
  }

  contains(block: KvBlock): boolean {
    return block.prevFree !== null;
  }

  /** Take the block at the head (the next to evict). */
  popLeft(): KvBlock {
    const first = this.head.nextFree!;
    assert(first !== this.tail, 'popLeft on an empty free-block queue');
    this.remove(first);
    return first;
  }

  /** Unlink a block from anywhere in the queue. */
  remove(block: KvBlock): void {
    assert(this.contains(block), `block ${block.blockId} is not in the free queue`);
    block.prevFree!.nextFree = block.nextFree;
    block.nextFree!.prevFree = block.prevFree;
    block.prevFree = null;
    block.nextFree = null;
    this.count--;
  }

  /** Add at the tail: evicted last. */
  append(block: KvBlock): void {
    this.insertBefore(this.tail, block);
  }

  /** Add at the head: reused first. */
  prepend(block: KvBlock): void {
    this.insertBefore(this.head.nextFree!, block);
  }

  /** Blocks from head to tail (for invariant checks and tests). */
  *[Symbol.iterator](): IterableIterator<KvBlock> {
    for (let b = this.head.nextFree!; b !== this.tail; b = b.nextFree!) yield b;
  }

  private insertBefore(next: KvBlock, block: KvBlock): void {
    assert(!this.contains(block), `block ${block.blockId} is already in the free queue`);
    const prev = next.prevFree!;
    prev.nextFree = block;
    block.prevFree = prev;
    block.nextFree = next;
    next.prevFree = block;
    this.count++;
  }
}
