import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BenchArgError, positiveInt, positiveIntList } from './args.ts';

describe('bench args', () => {
  it('parses positive integers and sorted, de-duplicated lists', () => {
    assert.equal(positiveInt('max-tokens', '64'), 64);
    assert.deepEqual(positiveIntList('concurrency', '4, 1,2,4'), [1, 2, 4]);
  });

  it('names the flag when a value is unusable', () => {
    assert.throws(() => positiveInt('max-tokens', '0'), BenchArgError);
    assert.throws(() => positiveIntList('concurrency', '1,x'), /--concurrency/);
    assert.throws(() => positiveIntList('concurrency', ''), /--concurrency/);
  });
});
