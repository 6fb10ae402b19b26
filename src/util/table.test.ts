import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BenchArgError, positiveInt, positiveIntList } from './args.ts';
import { fmt, markdownTable } from './table.ts';

describe('markdownTable', () => {
  it('right-aligns numbers, left-aligns names and escapes pipes', () => {
    const table = markdownTable(
      [{ header: 'name', align: 'left' }, { header: 'tok/s' }],
      [
        ['a|b', fmt(12.345)],
        ['c', fmt(Number.NaN)],
      ],
    );
    assert.equal(table, '| name | tok/s |\n|---|---:|\n| a\\|b | 12.3 |\n| c | n/a |');
  });

  it('rejects a row with the wrong number of cells', () => {
    assert.throws(() => markdownTable([{ header: 'a' }], [['1', '2']]), RangeError);
  });
});

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
