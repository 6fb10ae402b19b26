import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KvConfigError } from './errors.ts';
import { parseByteSize } from './sizes.ts';

describe('parseByteSize', () => {
  it('reads binary and decimal units and plain numbers', () => {
    assert.equal(parseByteSize('512MiB'), 512 * 1024 * 1024);
    assert.equal(parseByteSize('1GiB'), 1073741824);
    assert.equal(parseByteSize('1e9'), 1_000_000_000);
    assert.equal(parseByteSize('800MB'), 800_000_000);
    assert.equal(parseByteSize('64Ki'), 65536);
    assert.equal(parseByteSize('2g'), 2e9);
    assert.equal(parseByteSize('1.5GiB'), 1.5 * 2 ** 30);
    assert.equal(parseByteSize(' 4096 '), 4096);
    assert.equal(parseByteSize('100B'), 100);
    assert.equal(parseByteSize('0.5KB'), 500);
    assert.equal(parseByteSize('1TiB'), 2 ** 40);
  });

  it('rounds fractional bytes down', () => {
    assert.equal(parseByteSize('1.9'), 1);
  });

  it('rejects what it cannot read, saying which forms work', () => {
    for (const bad of ['', 'MiB', '12 parsecs', '-5MiB', '1,000', '1e400', 'Infinity', '0x10']) {
      assert.throws(() => parseByteSize(bad), KvConfigError, bad);
    }
    assert.throws(() => parseByteSize('lots'), /e\.g\. 512MiB, 1GiB, 800MB, 1e9/);
  });
});
