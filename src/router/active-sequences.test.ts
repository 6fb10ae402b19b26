import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { asRequestId, asWorkerId } from '../protocols/ids.ts';
import { ActiveSequences } from './active-sequences.ts';
import { BS, sequenceHashes, tokens } from './testing/router-kit.ts';

const W = asWorkerId('w1');
const system = tokens(0, 64); // 4 blocks shared by both requests
const promptA = [...system, ...tokens(1000, 40)]; // 104 tokens: 6 full blocks + 8
const promptB = [...system, ...tokens(2000, 32)]; // 96 tokens: 6 full blocks

describe('ActiveSequences', () => {
  it('counts shared prefix blocks once, partial blocks per request, and prefill until the first token', () => {
    const active = new ActiveSequences();
    const a = sequenceHashes(promptA);
    const b = sequenceHashes(promptB);
    active.add(asRequestId('a'), W, a, promptA.length, BS, 0);
    assert.deepEqual(active.counts(W), { requests: 1, prefillTokens: 104, blocks: 7 });
    assert.equal(active.newBlocks(W, b, promptB.length, BS), 2, 'B shares 4 blocks with A, no partial');
    active.add(asRequestId('b'), W, b, promptB.length, BS, 4); // 4 blocks cached: 32 tokens to prefill
    assert.deepEqual(active.counts(W), { requests: 2, prefillTokens: 136, blocks: 9 });
    active.markPrefillDone(asRequestId('a'));
    active.markPrefillDone(asRequestId('a'));
    assert.equal(active.counts(W).prefillTokens, 32);
    assert.equal(active.finish(asRequestId('a')), W);
    assert.deepEqual(active.counts(W), { requests: 1, prefillTokens: 32, blocks: 6 });
    active.finish(asRequestId('b'));
    assert.deepEqual(active.counts(W), { requests: 0, prefillTokens: 0, blocks: 0 });
    assert.equal(active.finish(asRequestId('b')), undefined, 'finishing twice is a no-op');
  });

  it('removeWorker returns the requests that were on it', () => {
    const active = new ActiveSequences();
    active.add(asRequestId('a'), W, [], 5, BS, 0);
    active.add(asRequestId('b'), asWorkerId('w2'), [], 5, BS, 0);
    assert.deepEqual(active.removeWorker(W), ['a']);
    assert.equal(active.size, 1);
    assert.equal(active.workerOf(asRequestId('b')), 'w2');
  });
});
