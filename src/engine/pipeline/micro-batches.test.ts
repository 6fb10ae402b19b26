import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { splitIntoMicroBatches } from './micro-batches.ts';

const entries = (...tokens: number[]) => tokens.map((numNewTokens, i) => ({ id: i, numNewTokens }));
const ids = (groups: { id: number }[][]) => groups.map((g) => g.map((e) => e.id));

describe('splitIntoMicroBatches', () => {
  it('cuts contiguous groups of about equal token counts, keeping every entry once and in order', () => {
    assert.deepEqual(ids(splitIntoMicroBatches(entries(1, 1, 1, 1), 2)), [
      [0, 1],
      [2, 3],
    ]);
    assert.deepEqual(ids(splitIntoMicroBatches(entries(30, 1, 1, 1, 1), 2)), [[0], [1, 2, 3, 4]]);
    const many = entries(5, 3, 8, 1, 1, 2, 9, 4);
    const groups = splitIntoMicroBatches(many, 3);
    assert.equal(groups.length, 3);
    assert.deepEqual(groups.flat(), many);
  });

  it('never makes an empty group: m is capped by the number of sequences', () => {
    assert.deepEqual(ids(splitIntoMicroBatches(entries(4, 4), 4)), [[0], [1]]);
    assert.deepEqual(ids(splitIntoMicroBatches(entries(100, 1, 1), 3)), [[0], [1], [2]]);
    assert.deepEqual(ids(splitIntoMicroBatches(entries(7), 1)), [[0]]);
    assert.deepEqual(splitIntoMicroBatches([], 2), []);
  });
});
