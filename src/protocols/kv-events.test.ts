import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  hashFromWire,
  hashToWire,
  isKvCacheEvent,
  isLoadMetrics,
  isWireHash,
  isWorkerKvEvent,
  type KvCacheEvent,
  type LoadMetrics,
} from './kv-events.ts';

const U64_MAX = (1n << 64n) - 1n;

describe('KV event wire format', () => {
  it('round-trips u64 hashes through decimal strings and JSON without losing bits', () => {
    for (const h of [0n, 1n, 2n ** 53n + 1n, 0x2d06800538d394c2n, U64_MAX]) {
      const wire = JSON.parse(JSON.stringify({ h: hashToWire(h) })).h;
      assert.equal(hashFromWire(wire), h);
    }
    for (const bad of ['', '-1', '01', '1.0', '0x10', (U64_MAX + 1n).toString(), 12]) {
      assert.equal(isWireHash(bad), false, String(bad));
    }
    assert.throws(() => hashFromWire('abc'), RangeError);
  });

  it('accepts the three event kinds and rejects malformed ones', () => {
    const good: KvCacheEvent[] = [
      {
        eventId: 1,
        data: {
          type: 'stored',
          parentHash: null,
          blocks: [{ blockHash: '5', tokensHash: '5', tokenIds: [1, 2] }],
        },
      },
      {
        eventId: 2,
        data: {
          type: 'stored',
          parentHash: '5',
          blocks: [{ blockHash: '7', tokensHash: '6', tokenIds: [] }],
        },
      },
      { eventId: 3, data: { type: 'removed', blockHashes: ['5', '7'] } },
      { eventId: 4, data: { type: 'cleared' } },
    ];
    for (const e of good) assert.ok(isKvCacheEvent(JSON.parse(JSON.stringify(e))), JSON.stringify(e));
    const bad: unknown[] = [
      null,
      { eventId: 0, data: { type: 'cleared' } },
      { eventId: 1.5, data: { type: 'cleared' } },
      { eventId: 1, data: { type: 'flushed' } },
      { eventId: 1, data: { type: 'removed', blockHashes: [5] } },
      { eventId: 1, data: { type: 'stored', parentHash: null, blocks: [] } },
      {
        eventId: 1,
        data: { type: 'stored', parentHash: 3, blocks: [{ blockHash: '1', tokensHash: '1', tokenIds: [] }] },
      },
      { eventId: 1, data: { type: 'stored', parentHash: null, blocks: [{ blockHash: '1', tokenIds: [1] }] } },
      {
        eventId: 1,
        data: {
          type: 'stored',
          parentHash: null,
          blocks: [{ blockHash: '1', tokensHash: '1', tokenIds: [-1] }],
        },
      },
    ];
    for (const e of bad) assert.equal(isKvCacheEvent(e), false, JSON.stringify(e));
    assert.ok(isWorkerKvEvent({ workerId: 'w1', event: good[3] }));
    assert.equal(isWorkerKvEvent({ event: good[3] }), false);
  });

  it('validates load metrics', () => {
    const m = {
      workerId: 'w1',
      activeDecodeBlocks: 10,
      activePrefillTokens: 300,
      kvUsedBlocks: 12,
      kvTotalBlocks: 100,
      numWaiting: 1,
      numRunning: 3,
      gpuCacheUsagePerc: 0.12,
    } as LoadMetrics;
    assert.ok(isLoadMetrics(m));
    assert.equal(isLoadMetrics({ ...m, kvUsedBlocks: -1 }), false);
    assert.equal(isLoadMetrics({ ...m, gpuCacheUsagePerc: 12 }), false);
    const { numRunning: _, ...missing } = m;
    assert.equal(isLoadMetrics(missing), false);
  });
});
