import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  instanceIdFromLease,
  instanceKey,
  instancesPrefix,
  leaseFromInstanceId,
  modelCardKey,
  modelCardsPrefix,
  parseDiscoveryKey,
} from './names.ts';

const ep = { namespace: 'dynamo', component: 'backend', endpoint: 'generate' };

test('instance id is the lease id in hex, and back', () => {
  assert.equal(instanceIdFromLease('7587881972618000000'), '694d9273a77c7680');
  assert.equal(instanceIdFromLease(255n), 'ff');
  assert.equal(leaseFromInstanceId('694d9273a77c7680'), '7587881972618000000');
  assert.equal(instanceIdFromLease('18446744073709551615'), 'ffffffffffffffff');
  assert.throws(() => instanceIdFromLease('0'), RangeError);
  assert.throws(() => leaseFromInstanceId('0x12'), RangeError);
});

test('keys follow /dynamo/v1/{instances|mdc}/{ns}/{component}/{endpoint}/{instance}', () => {
  assert.equal(instanceKey(ep, 'abc123'), '/dynamo/v1/instances/dynamo/backend/generate/abc123');
  assert.equal(modelCardKey(ep, 'abc123'), '/dynamo/v1/mdc/dynamo/backend/generate/abc123');
});

test('prefixes end in a slash at every depth so one name never matches a longer one', () => {
  assert.equal(instancesPrefix(), '/dynamo/v1/instances/');
  assert.equal(instancesPrefix({ namespace: 'dynamo' }), '/dynamo/v1/instances/dynamo/');
  assert.equal(
    modelCardsPrefix({ namespace: 'dynamo', component: 'backend' }),
    '/dynamo/v1/mdc/dynamo/backend/',
  );
  assert.equal(instancesPrefix(ep), '/dynamo/v1/instances/dynamo/backend/generate/');
  assert.ok(
    !instanceKey({ ...ep, component: 'backend2' }, '1').startsWith(
      instancesPrefix({ namespace: 'dynamo', component: 'backend' }),
    ),
  );
});

test('names outside [A-Za-z0-9_-] are rejected with the offending part named', () => {
  assert.throws(() => instanceKey({ ...ep, component: 'back/end' }, '1'), /component must match/);
  assert.throws(() => instanceKey({ ...ep, namespace: 'a.b' }, '1'), /namespace must match/);
  assert.throws(() => instanceKey(ep, 'XYZ'), /instance id/);
});

test('parseDiscoveryKey inverts the key builders and rejects other keys', () => {
  assert.deepEqual(parseDiscoveryKey(modelCardKey(ep, 'ff01')), {
    kind: 'model-card',
    ...ep,
    instanceId: 'ff01',
  });
  assert.deepEqual(parseDiscoveryKey(instanceKey(ep, 'ff01')), {
    kind: 'instance',
    ...ep,
    instanceId: 'ff01',
  });
  assert.equal(parseDiscoveryKey('/dynamo/v1/instances/dynamo/backend/ff01'), undefined);
  assert.equal(parseDiscoveryKey('/other/v1/mdc/a/b/c/ff'), undefined);
});
