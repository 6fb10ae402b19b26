import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_SAMPLING, type StoppingParams } from '../protocols/engine.ts';
import { asRequestId } from '../protocols/ids.ts';
import { computeBlockHashes } from '../tokens/block-hash.ts';
import { Sequence } from './sequence.ts';

const EOS = 2;

function seq(stopping: Partial<StoppingParams>, maxModelLen = 100): Sequence {
  return new Sequence({
    requestId: asRequestId('r'),
    promptTokenIds: [10, 11, 12],
    sampling: DEFAULT_SAMPLING,
    stopping: { maxTokens: 5, stopTokenIds: [EOS, 77], ignoreEos: false, ...stopping },
    eosTokenIds: [EOS],
    maxModelLen,
  });
}

describe('Sequence stop checks', () => {
  it('stops on a stop token, and reports stop over length on the last allowed token', () => {
    const s = seq({ maxTokens: 2 });
    assert.equal(s.appendToken(5), undefined);
    assert.equal(s.appendToken(EOS), 'stop');
    assert.equal(s.status, 'finished');
    assert.deepEqual(s.outputTokenIds, [5, EOS]);
    assert.deepEqual(s.promptTokenIds, [10, 11, 12]);
  });

  it('stops at max tokens with length', () => {
    const s = seq({ maxTokens: 3 });
    assert.deepEqual(
      [s.appendToken(4), s.appendToken(5), s.appendToken(6)],
      [undefined, undefined, 'length'],
    );
  });

  it('min tokens holds back a stop token', () => {
    const s = seq({ minTokens: 2 });
    assert.equal(s.appendToken(EOS), undefined);
    assert.equal(s.appendToken(EOS), 'stop');
  });

  it('ignoreEos skips EOS but not the stop ids the request added', () => {
    const s = seq({ ignoreEos: true, maxTokens: 10 });
    assert.equal(s.appendToken(EOS), undefined);
    assert.equal(s.appendToken(77), 'stop');
  });

  it('stops at the model length', () => {
    const s = seq({ maxTokens: 10 }, 5);
    assert.deepEqual([s.appendToken(4), s.appendToken(5)], [undefined, 'length']);
  });

  it('preemption resets computed tokens but keeps generated ones', () => {
    const s = seq({});
    s.numComputedTokens = 3;
    s.appendToken(9);
    s.preempt();
    assert.deepEqual(
      [s.status, s.numComputedTokens, s.numUncomputedTokens, s.numPreemptions],
      ['preempted', 0, 4, 1],
    );
  });
});

describe('Sequence block hashes', () => {
  const make = (prompt: number[], hashBlockSize?: number) =>
    new Sequence({
      requestId: asRequestId('h'),
      promptTokenIds: prompt,
      sampling: DEFAULT_SAMPLING,
      stopping: { maxTokens: 100, stopTokenIds: [], ignoreEos: false },
      maxModelLen: 1000,
      hashBlockSize,
    });

  it('hashes the prompt full blocks at once, then each block the output fills, equal to a fresh computation', () => {
    const s = make([5, 6, 7, 8, 9, 10, 11, 12, 13, 14], 4); // 2 full blocks + 2 tokens
    assert.deepEqual(s.blockHashes, computeBlockHashes(s.tokenIds, 4));
    assert.equal(s.blockHashes.sequence.length, 2);
    const first = s.blockHashes.sequence[0];
    for (let t = 0; t < 7; t++) {
      s.appendToken(40 + t);
      assert.deepEqual(s.blockHashes, computeBlockHashes(s.tokenIds, 4), `after ${s.numTokens} tokens`);
    }
    assert.equal(s.blockHashes.sequence.length, 4);
    assert.equal(s.blockHashes.sequence[0], first, 'earlier hashes are kept, not recomputed');
  });

  it('keeps its hashes through a preemption (its tokens are unchanged) and keeps none without a block size', () => {
    const s = make([1, 2, 3, 4, 5], 4);
    s.appendToken(6);
    const before = structuredClone(s.blockHashes);
    s.preempt();
    assert.deepEqual(s.blockHashes, before);
    const plain = make([1, 2, 3, 4, 5]);
    plain.appendToken(6);
    assert.deepEqual(plain.blockHashes, { local: [], sequence: [] });
  });
});

describe('Sequence.isDecoding', () => {
  it('is true only when the prompt is in the cache and one sampled token is left', () => {
    const s = seq({ maxTokens: 10 }); // prompt of 3
    const states: [number, boolean][] = [];
    const look = () => states.push([s.numUncomputedTokens, s.isDecoding]);
    look(); // waiting: the whole prompt
    s.numComputedTokens = 2;
    look(); // the prompt's last chunk is one token: still prefill
    s.numComputedTokens = 3;
    s.appendToken(5);
    look(); // first token sampled: decoding
    s.appendToken(6); // (as if the step that computed token 5 also sampled 6)
    s.numComputedTokens = 4;
    look();
    s.preempt();
    look(); // recompute from scratch
    s.numComputedTokens = 3;
    look(); // prompt recomputed, two generated tokens still to recompute: prefill work
    s.numComputedTokens = 4;
    look(); // caught up: decoding again
    assert.deepEqual(states, [
      [3, false],
      [1, false],
      [1, true],
      [1, true],
      [5, false],
      [2, false],
      [1, true],
    ]);
  });
});
