import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_SAMPLING, type StoppingParams } from '../protocols/engine.ts';
import { asRequestId } from '../protocols/ids.ts';
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
