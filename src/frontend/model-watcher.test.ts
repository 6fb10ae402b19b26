/**
 * ModelWatcher's prefill pool (disaggregated serving), on in-memory discovery: workers whose card says
 * `modelType: 'prefill'` join their model's prefill router; the model is served (list / find / instances)
 * only while it has a decode/aggregated worker; prefill workers that arrive first wait; every worker
 * leaving is handled in its own pool, and the deployment goes when both pools are empty.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { InstanceId, InstanceInfo, ModelCard } from '../protocols/discovery.ts';
import { asWorkerId } from '../protocols/ids.ts';
import { MemoryDiscovery, MemoryDiscoveryStore } from '../runtime/discovery/index.ts';
import { InMemoryRequestPlane } from '../runtime/request-plane/index.ts';
import { instanceKey, modelCardKey } from '../runtime/names.ts';
import { getLogger } from '../util/logger.ts';
import { defaultModelDir } from '../util/paths.ts';
import { ModelDeployment } from './model-deployment.ts';
import { ModelWatcher } from './model-watcher.ts';
import { eventually, quietLogs } from './testing/frontend-kit.ts';

quietLogs();

const NAMESPACE = 'watchtest';

function cardOf(modelType: ModelCard['modelType'], blockSize = 4): ModelCard {
  return {
    displayName: 'fortune-llama',
    modelType,
    tokenizer: { kind: 'model-dir', path: defaultModelDir },
    contextLength: 1024,
    kvCacheBlockSize: blockSize,
    totalKvBlocks: 100,
    maxNumSeqs: 8,
    maxNumBatchedTokens: 256,
  };
}

/** Register a worker the way `dhw worker` does: its instance record and its model card, same key tail. */
async function register(discovery: MemoryDiscovery, id: string, card: ModelCard, port: number) {
  const component = card.modelType === 'prefill' ? 'prefill' : 'backend';
  const endpoint = { namespace: NAMESPACE, component, endpoint: 'generate' };
  const instance: InstanceInfo = {
    ...endpoint,
    instanceId: id as InstanceId,
    transport: { tcp: `127.0.0.1:${port}` },
  };
  await discovery.put(instanceKey(endpoint, id as InstanceId), instance);
  await discovery.put(modelCardKey(endpoint, id as InstanceId), card);
  return {
    remove: async () => {
      await discovery.delete(instanceKey(endpoint, id as InstanceId));
      await discovery.delete(modelCardKey(endpoint, id as InstanceId));
    },
  };
}

/** Discovery delivers watch events asynchronously: wait for the state, then for the watcher's queue. */
async function settled(watcher: ModelWatcher, check: () => boolean): Promise<void> {
  await eventually(check, 'the watcher to apply discovery events');
  await watcher.idle();
}

async function startWatcher(discovery: MemoryDiscovery) {
  const added: { workerId: string; component: string }[] = [];
  const watcher = await ModelWatcher.start({
    discovery,
    namespace: NAMESPACE,
    log: getLogger('frontend'),
    createDeployment: (card) =>
      ModelDeployment.create({
        card,
        plane: new InMemoryRequestPlane(),
        router: { router: 'kv', decisionLog: 'off' },
        migrationLimit: 0,
        requestSnapshot: () => {},
        log: getLogger('frontend'),
      }),
    onWorkerAdded: (_deployment, workerId, instance) =>
      added.push({ workerId, component: instance.component }),
  });
  return { watcher, added };
}

test('prefill workers wait unserved until a decode worker arrives, then join the prefill router', async () => {
  const discovery = new MemoryDiscovery(new MemoryDiscoveryStore());
  const { watcher, added } = await startWatcher(discovery);
  const prefill = await register(discovery, 'a1', cardOf('prefill'), 9001);
  await settled(watcher, () => watcher.deploymentOf(asWorkerId('a1')) !== undefined);

  const pending = watcher.deploymentOf(asWorkerId('a1'));
  assert.ok(pending, 'the prefill worker has a deployment (its KV events and load must land somewhere)');
  assert.equal(pending.prefillRouter.size, 1);
  assert.equal(pending.router.size, 0);
  assert.deepEqual(watcher.list(), [], 'not served with prefill workers only');
  assert.equal(watcher.find('fortune-llama'), undefined);
  assert.deepEqual(watcher.instances(), []);
  assert.deepEqual(watcher.prefillInstances(), [], 'listed only once the model is served');
  assert.deepEqual(added, [{ workerId: 'a1', component: 'prefill' }], 'its component is followed at once');

  const decode = await register(discovery, 'b1', cardOf('chat'), 9002);
  await settled(watcher, () => watcher.list().length === 1);
  const served = watcher.find('fortune-llama');
  assert.equal(served, pending, 'the same deployment, now served');
  assert.deepEqual(
    watcher.list().map((d) => d.name),
    ['fortune-llama'],
  );
  assert.equal(served?.routerOf(asWorkerId('a1')), served?.prefillRouter);
  assert.equal(served?.routerOf(asWorkerId('b1')), served?.router);
  assert.deepEqual(watcher.instances(), [{ id: 'b1', address: '127.0.0.1:9002', model: 'fortune-llama' }]);
  assert.deepEqual(watcher.prefillInstances(), [
    { id: 'a1', address: '127.0.0.1:9001', model: 'fortune-llama' },
  ]);

  // The last decode worker leaves: unserved again, the prefill worker stays in its pool.
  await decode.remove();
  await settled(watcher, () => watcher.list().length === 0);
  assert.deepEqual(watcher.list(), []);
  assert.equal(watcher.deploymentOf(asWorkerId('a1')), pending);
  assert.equal(pending.prefillRouter.size, 1);

  // The prefill worker leaves too: the deployment is gone.
  await prefill.remove();
  await settled(watcher, () => watcher.deploymentOf(asWorkerId('a1')) === undefined);
  await register(discovery, 'b2', cardOf('chat'), 9003);
  await settled(watcher, () => watcher.list().length === 1);
  const fresh = watcher.find('fortune-llama');
  assert.ok(fresh && fresh !== pending, 'a new deployment for the next worker');
  assert.equal(fresh.prefillRouter.size, 0);
  await watcher.close();
  await discovery.close();
});

test('a prefill worker leaving or with a mismatched block size touches only the prefill pool', async () => {
  const discovery = new MemoryDiscovery(new MemoryDiscoveryStore());
  const { watcher } = await startWatcher(discovery);
  await register(discovery, 'b1', cardOf('chat'), 9002);
  await register(discovery, 'a2', cardOf('prefill', 8), 9004); // wrong block size: refused
  const p1 = await register(discovery, 'a1', cardOf('prefill'), 9001); // applied after a2 (events in order)
  await settled(watcher, () => (watcher.find('fortune-llama')?.prefillRouter.size ?? 0) === 1);
  const model = watcher.find('fortune-llama');
  assert.ok(model);
  assert.deepEqual(
    model.prefillRouter.workers.map((w) => w.workerId),
    ['a1'],
  );
  assert.equal(watcher.deploymentOf(asWorkerId('a2')), undefined, 'the mismatched worker is not routed to');

  await p1.remove();
  await settled(watcher, () => model.prefillRouter.size === 0);
  assert.equal(model.prefillRouter.size, 0);
  assert.equal(model.router.size, 1);
  assert.equal(watcher.find('fortune-llama'), model, 'still served by its decode worker');
  await watcher.close();
  await discovery.close();
});
