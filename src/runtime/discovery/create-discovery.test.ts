import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createDiscovery, resolveEtcdEndpoints } from './create-discovery.ts';
import { MemoryDiscoveryStore } from './memory-discovery.ts';

test('etcd endpoints: option, then ETCD_ENDPOINTS, then 127.0.0.1:2379; bare host:port gets http://', () => {
  assert.deepEqual(resolveEtcdEndpoints(undefined, {}), ['http://127.0.0.1:2379']);
  assert.deepEqual(resolveEtcdEndpoints(undefined, { ETCD_ENDPOINTS: 'http://a:1, b:2/' }), [
    'http://a:1',
    'http://b:2',
  ]);
  assert.deepEqual(resolveEtcdEndpoints(['https://x:3'], { ETCD_ENDPOINTS: 'http://a:1' }), ['https://x:3']);
});

test('memory backend: clients of one store see each other, another store is isolated', async () => {
  const store = new MemoryDiscoveryStore();
  const a = await createDiscovery({ backend: 'memory', memoryStore: store });
  const b = await createDiscovery({ backend: 'memory', memoryStore: store });
  const isolated = await createDiscovery({ backend: 'memory', memoryStore: new MemoryDiscoveryStore() });
  await a.put('/dynamo/x', 1);
  assert.equal(await b.get('/dynamo/x'), 1);
  assert.equal(await isolated.get('/dynamo/x'), undefined);
  await Promise.all([a.close(), b.close(), isolated.close()]);
});
