import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { KvCacheEvent } from '../protocols/kv-events.ts';
import { KvEventEmitter } from './kv-event-emitter.ts';

describe('KvEventEmitter', () => {
  it('numbers events 1, 2, 3 ... and delivers each to every subscriber in order', () => {
    const emitter = new KvEventEmitter();
    assert.equal(emitter.lastEventId, 0);
    const a: KvCacheEvent[] = [];
    const b: number[] = [];
    emitter.subscribe((e) => a.push(e));
    const unsubscribe = emitter.subscribe((e) => b.push(e.eventId));
    emitter.emit({ type: 'cleared' });
    emitter.emit({ type: 'removed', blockHashes: ['1'] });
    unsubscribe();
    const third = emitter.emit({ type: 'cleared' });
    assert.deepEqual(
      a.map((e) => e.eventId),
      [1, 2, 3],
    );
    assert.deepEqual(a[1], { eventId: 2, data: { type: 'removed', blockHashes: ['1'] } });
    assert.deepEqual(b, [1, 2]);
    assert.equal(third.eventId, 3);
    assert.equal(emitter.lastEventId, 3);
    assert.equal(emitter.numSubscribers, 1);
  });

  it('counts events with no subscriber, so ids stay per-worker monotonic', () => {
    const emitter = new KvEventEmitter();
    emitter.emit({ type: 'cleared' });
    const seen: number[] = [];
    emitter.subscribe((e) => seen.push(e.eventId));
    emitter.emit({ type: 'cleared' });
    assert.deepEqual(seen, [2]);
  });

  it('a throwing subscriber does not stop delivery to the others', () => {
    const emitter = new KvEventEmitter();
    const seen: number[] = [];
    emitter.subscribe(() => {
      throw new Error('subscriber bug');
    });
    emitter.subscribe((e) => seen.push(e.eventId));
    emitter.emit({ type: 'cleared' });
    assert.deepEqual(seen, [1]);
  });
});
