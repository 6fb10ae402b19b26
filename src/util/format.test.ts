import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatBytes, formatMs } from './format.ts';

test('formatBytes: bytes as-is, then three significant digits in binary units', () => {
  assert.equal(formatBytes(0), '0 B');
  assert.equal(formatBytes(1023), '1023 B');
  assert.equal(formatBytes(6144), '6.00 KiB');
  assert.equal(formatBytes(9_908_624), '9.45 MiB');
  assert.equal(formatBytes(150 * 1024 ** 3), '150 GiB');
  assert.equal(formatBytes(2 * 1024 ** 4), '2.00 TiB');
});

test('formatMs: two decimals below 10 ms, one below 100 ms, none above', () => {
  assert.equal(formatMs(1.234), '1.23 ms');
  assert.equal(formatMs(12.34), '12.3 ms');
  assert.equal(formatMs(1234.5), '1235 ms');
});
