import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isWildcardHost, resolveAdvertiseHost } from './advertise-host.ts';

test('the advertised host is the bind host unless given; a wildcard bind needs one', () => {
  assert.equal(resolveAdvertiseHost('127.0.0.1', undefined, 'worker'), '127.0.0.1');
  assert.equal(resolveAdvertiseHost('10.77.0.2', undefined, 'worker'), '10.77.0.2');
  assert.equal(resolveAdvertiseHost('0.0.0.0', '10.77.0.3', 'worker'), '10.77.0.3');
  assert.equal(resolveAdvertiseHost('127.0.0.1', 'proxy.local', 'worker'), 'proxy.local');
  assert.throws(() => resolveAdvertiseHost('0.0.0.0', undefined, 'worker'), /add --advertise-host ADDR/);
  assert.throws(() => resolveAdvertiseHost('::', undefined, 'worker'), /every interface/);
  assert.throws(() => resolveAdvertiseHost('10.77.0.2', '0.0.0.0', 'worker'), /nobody can dial/);
  assert.ok(isWildcardHost('0.0.0.0') && !isWildcardHost('127.0.0.1'));
});
