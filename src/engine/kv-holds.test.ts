import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KvConfigError } from '../kv/index.ts';
import { asRequestId, type RequestId } from '../protocols/ids.ts';
import { KvHoldLedger } from './kv-holds.ts';
import type { KvTransferEvent } from './kv-transfer-events.ts';

function ledger(timeoutMs = 30_000) {
  const freed: RequestId[] = [];
  const events: KvTransferEvent[] = [];
  const holds = new KvHoldLedger({
    timeoutMs,
    free: (id) => freed.push(id),
    emit: (e) => events.push(e),
    workerId: 'w',
  });
  return { holds, freed, events };
}

const a = asRequestId('a');
const b = asRequestId('b');

describe('KvHoldLedger', () => {
  it('holds, counts, releases once, and frees through the callback', () => {
    const { holds, freed, events } = ledger();
    const before = Date.now();
    const expires = holds.hold(a, 3);
    holds.hold(b, 2);
    assert.ok(Number.isInteger(expires) && expires >= before + 30_000);
    assert.deepEqual([holds.size, holds.blocks, holds.has(a)], [2, 5, true]);
    assert.equal(holds.release(a), true);
    assert.equal(holds.release(a), false);
    assert.deepEqual([holds.size, holds.blocks, freed], [1, 2, [a]]);
    assert.equal(holds.releaseAll(), 1);
    assert.deepEqual(freed, [a, b]);
    assert.deepEqual(
      events.map((e) => [e.kind, e.requestId]),
      [
        ['held', 'a'],
        ['held', 'b'],
        ['released', 'a'],
        ['released', 'b'],
      ],
    );
  });

  it('a second hold under the same id releases the first (one block table per id)', () => {
    const { holds, freed } = ledger();
    holds.hold(a, 3);
    holds.hold(a, 4);
    assert.deepEqual([holds.size, holds.blocks, freed], [1, 4, [a]]);
    holds.releaseAll();
  });

  it('deadlines are whole ms; impossible timeouts are refused with the flag to check', () => {
    const { holds } = ledger(1.5);
    assert.ok(Number.isInteger(holds.hold(a, 1)));
    holds.releaseAll();
    for (const bad of [0, -1, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 31]) {
      assert.throws(
        () => ledger(bad),
        (err: Error) => err instanceof KvConfigError && /--kv-hold-timeout/.test(err.message),
      );
    }
  });
});
