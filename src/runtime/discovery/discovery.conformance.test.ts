import { mkdtemp, rm, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { type EtcdServer, startEtcd } from '../../infra/local-servers.ts';
import { leaseFromInstanceId } from '../names.ts';
import { runDiscoveryConformance } from './discovery.conformance.ts';
import { EtcdDiscovery } from './etcd-discovery.ts';
import { FileDiscovery } from './file-discovery.ts';
import { MemoryDiscovery, MemoryDiscoveryStore } from './memory-discovery.ts';

runDiscoveryConformance('memory', async () => {
  const store = new MemoryDiscoveryStore();
  return {
    backend: 'memory',
    eventWithinMs: 500,
    connect: async (opts) => new MemoryDiscovery(store, opts?.ttlSeconds),
    revokeExternally: async (client) => store.revokeLease(client.leaseId()),
  };
});

let fileDir: string | undefined;
after(async () => {
  if (fileDir) await rm(fileDir, { recursive: true, force: true });
});

runDiscoveryConformance('file', async () => {
  fileDir = await mkdtemp(join(tmpdir(), 'dhw-discovery-test-'));
  const dir = fileDir;
  return {
    backend: 'file',
    eventWithinMs: 2000,
    connect: (opts) => FileDiscovery.open({ dir, ttlSeconds: opts?.ttlSeconds ?? 10, pollIntervalMs: 50 }),
    revokeExternally: (client) => unlink(join(dir, 'leases', client.leaseId())),
  };
});

let etcd: EtcdServer | undefined;
after(async () => {
  await etcd?.stop();
});

runDiscoveryConformance('etcd', async () => {
  etcd = await startEtcd();
  const endpoint = etcd.endpoint;
  return {
    backend: 'etcd',
    eventWithinMs: 2000,
    connect: (opts) => EtcdDiscovery.connect({ endpoints: [endpoint], ttlSeconds: opts?.ttlSeconds ?? 10 }),
    revokeExternally: async (client) => {
      const res = await fetch(`${endpoint}/v3/lease/revoke`, {
        method: 'POST',
        body: JSON.stringify({ ID: leaseFromInstanceId(client.leaseId()) }),
      });
      if (res.status !== 200) throw new Error(`revoke failed: HTTP ${res.status}`);
    },
  };
});
