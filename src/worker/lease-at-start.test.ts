/**
 * A worker whose start blocks the event loop longer than its lease TTL (loading a model does) finds its
 * lease gone before it has put a key. It takes a lease again and registers, instead of failing its start
 * (a supervisor would restart it into the same loss forever): real etcd, an engine whose creation blocks.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type EtcdServer, startEtcd } from '../infra/local-servers.ts';
import { MockEngine } from '../mocker/index.ts';
import { createDiscovery, type Discovery } from '../runtime/discovery/index.ts';
import { MemoryEventBus } from '../runtime/events/index.ts';
import { defaultModelDir } from '../util/paths.ts';
import { freshNamespace } from './testing/worker-kit.ts';
import { Worker } from './worker.ts';
import type { WorkerOptions } from './worker-options.ts';

const TTL_S = 2;
let etcd: EtcdServer;
let observer: Discovery;
const workers: Worker[] = [];

before(async () => {
  etcd = await startEtcd();
  observer = await createDiscovery({ backend: 'etcd', etcdEndpoints: etcd.endpoint });
});
after(async () => {
  for (const w of workers) await w.stop({ drainMs: 0 }); // idempotent: a failed test's worker
  await observer?.close();
  await etcd?.stop();
});

/** Block the event loop like a model load: no timer (and so no keepalive) runs meanwhile. */
function blockEventLoop(ms: number): void {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    // busy: the point is that nothing else runs
  }
}

function options(namespace: string, role: WorkerOptions['role']): WorkerOptions {
  return {
    engine: {
      kind: 'custom',
      modelDir: defaultModelDir,
      create: async (workerId) => {
        // Longer than the TTL plus etcd's own expiry check (it expires leases on a ~500 ms tick).
        blockEventLoop(TTL_S * 1000 + 2500);
        return new MockEngine({ workerId, speedupRatio: 0 });
      },
    },
    role,
    namespace,
    discovery: { backend: 'etcd', etcdEndpoints: etcd.endpoint, ttlSeconds: TTL_S },
    runtime: { eventBus: new MemoryEventBus() },
    canaryIntervalMs: 0,
    systemPort: null,
  };
}

/** Keys under `prefix` that a live lease holds (each key's lease TTL as etcd reports it). */
async function liveKeys(prefix: string): Promise<string[]> {
  return (await observer.list(prefix)).map((kv) => kv.key);
}

for (const role of ['aggregated', 'prefill'] as const) {
  test(`${role}: the lease expires during the engine load; the worker takes a new one and registers`, {
    timeout: 60_000,
  }, async () => {
    const namespace = freshNamespace();
    const worker = await Worker.start(options(namespace, role));
    workers.push(worker);
    const instances = await liveKeys(`/dynamo/v1/instances/${namespace}/`);
    assert.equal(instances.length, 1, `one instance key: ${JSON.stringify(instances)}`);
    assert.ok(instances[0]!.endsWith(worker.workerId), instances[0]);
    assert.equal(worker.health().state, 'ready');
    if (role === 'prefill') {
      const agents = await liveKeys(`/dynamo/v1/`);
      assert.ok(
        agents.some((key) => key.includes(worker.workerId) && !key.includes('/instances/')),
        `the transfer agent's metadata is registered under the new lease: ${JSON.stringify(agents)}`,
      );
    }
    // The keys outlive several TTLs: the new lease is kept alive.
    await new Promise((resolve) => setTimeout(resolve, TTL_S * 1500));
    assert.equal((await liveKeys(`/dynamo/v1/instances/${namespace}/`)).length, 1);
    await worker.stop({ drainMs: 0 }); // the next test's blocking load must not starve this one's keepalives
  });
}
