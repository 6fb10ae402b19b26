import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
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
