/**
 * The second half of Lab 2.2: the same registration through the project's Discovery client
 * (`src/runtime/discovery`), which does what we just did by hand: one lease per process, keys under it,
 * keepalives every TTL/3, a prefix watch with a snapshot, and a lease revoke on graceful close. Like moving
 * from `curl` against the Consul API to the Consul agent.
 */
import { performance } from 'node:perf_hooks';
import type { InstanceInfo } from '../../../src/protocols/discovery.ts';
import { createDiscovery, type DiscoveryEvent } from '../../../src/runtime/discovery/index.ts';
import { INSTANCES_ROOT, instanceKey } from '../../../src/runtime/names.ts';
import { note } from '../../lib/lab-kit.ts';
import type { Etcdctl } from '../../lib/etcdctl.ts';
import type { WatchLog } from '../../lib/watch-log.ts';

const ENDPOINT_ID = { namespace: 'dynamo', component: 'backend', endpoint: 'generate' };
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function registerWithDiscovery(
  endpoint: string,
  ttlSeconds: number,
  etcdctl: Etcdctl,
  log: WatchLog,
): Promise<void> {
  note(`createDiscovery({ backend: 'etcd', etcdEndpoints: '${endpoint}', ttlSeconds: ${ttlSeconds} })`);
  const discovery = await createDiscovery({ backend: 'etcd', etcdEndpoints: endpoint, ttlSeconds });
  const seen: DiscoveryEvent[] = [];
  const watcher = await createDiscovery({ backend: 'etcd', etcdEndpoints: endpoint, ttlSeconds });
  try {
    // A second client plays the frontend: it watches the instance prefix (snapshot, then changes).
    const watch = await watcher.watch(INSTANCES_ROOT, (event) => {
      seen.push(event);
      note(`    [Discovery watch] ${event.type.toUpperCase()} ${event.key}`);
    });
    note(`frontend's watch on ${INSTANCES_ROOT}: ${watch.initial.length} instances at start`);

    const instanceId = discovery.leaseId();
    const key = instanceKey(ENDPOINT_ID, instanceId);
    const info: InstanceInfo = {
      ...ENDPOINT_ID,
      instanceId,
      transport: { tcp: '127.0.0.1:9998' },
      pid: process.pid,
    };
    await discovery.put(key, info);
    note(`discovery.put(instanceKey(...), info)  → lease ${instanceId} is also the instance id`);
    await log.waitFor('PUT', key, 5000);
    etcdctl.run(['lease', 'timetolive', instanceId, '--keys']);

    const waitMs = ttlSeconds * 1250;
    await sleep(waitMs);
    etcdctl.run(['get', '--prefix', INSTANCES_ROOT, '--keys-only']);
    note(
      `still registered after ${(waitMs / 1000).toFixed(1)} s > TTL ${ttlSeconds} s: the client renews the lease ` +
        `every ${((ttlSeconds * 1000) / 3 / 1000).toFixed(2)} s (TTL/3, so two lost keepalives are survivable).`,
    );

    const closing = performance.now();
    await discovery.close();
    const deleted = await log.waitFor('DELETE', key, 5000);
    note(
      `discovery.close() revoked the lease: DELETE reached the etcdctl watch ${(deleted.at - closing).toFixed(1)} ms ` +
        'later. A graceful shutdown does not wait for the TTL; only a crash does.',
    );
    await sleep(100);
    note(`the Discovery watch saw: ${seen.map((e) => e.type).join(', ')}`);
    await watch.close();
  } finally {
    await discovery.close();
    await watcher.close();
  }
}
