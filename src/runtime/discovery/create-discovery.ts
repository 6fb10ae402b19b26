/**
 * `createDiscovery(options)`: pick a backend, like choosing a DSN. Defaults follow Dynamo:
 *   backend        'etcd'
 *   etcdEndpoints  $ETCD_ENDPOINTS (comma-separated, Dynamo's variable), else http://127.0.0.1:2379
 *   fileDir        {os.tmpdir()}/dhw-discovery (shared by every process of the user)
 *   ttlSeconds     10
 */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_LEASE_TTL_SECONDS, type Discovery, type DiscoveryBackend } from './discovery.ts';
import { EtcdDiscovery } from './etcd-discovery.ts';
import type { EtcdSecurity } from './etcd-security.ts';
import { FileDiscovery } from './file-discovery.ts';
import { MemoryDiscovery, type MemoryDiscoveryStore, processDiscoveryStore } from './memory-discovery.ts';

export const DEFAULT_ETCD_ENDPOINT = 'http://127.0.0.1:2379';

export interface DiscoveryOptions {
  backend?: DiscoveryBackend;
  /** One URL, a comma-separated list, or an array. A bare host:port gets http://. */
  etcdEndpoints?: string | string[];
  fileDir?: string;
  ttlSeconds?: number;
  /** Memory backend: the store to join (default: one shared by the whole process). */
  memoryStore?: MemoryDiscoveryStore;
  /** etcd: bound on reaching etcd at start (default 3000 ms). */
  connectTimeoutMs?: number;
  /** etcd: deadline of each call (default 2000 ms). */
  requestTimeoutMs?: number;
  /** file: watch poll period (default 100 ms). */
  pollIntervalMs?: number;
  /** etcd: TLS (CA, client certificate) and RBAC user/password of a secured etcd (`dhw infra up --secure`). */
  etcdSecurity?: EtcdSecurity;
}

/** Endpoints from an option or $ETCD_ENDPOINTS, normalised to URLs without a trailing slash. */
export function resolveEtcdEndpoints(given?: string | string[], env = process.env): string[] {
  const raw = given ?? env.ETCD_ENDPOINTS ?? DEFAULT_ETCD_ENDPOINT;
  const list = (Array.isArray(raw) ? raw : raw.split(',')).map((e) => e.trim()).filter(Boolean);
  return list.map((e) => (/^https?:\/\//.test(e) ? e : `http://${e}`).replace(/\/+$/, ''));
}

export function defaultDiscoveryDir(): string {
  return join(tmpdir(), 'dhw-discovery');
}

export async function createDiscovery(options: DiscoveryOptions = {}): Promise<Discovery> {
  const ttlSeconds = options.ttlSeconds ?? DEFAULT_LEASE_TTL_SECONDS;
  switch (options.backend ?? 'etcd') {
    case 'etcd':
      return EtcdDiscovery.connect({
        endpoints: resolveEtcdEndpoints(options.etcdEndpoints),
        ttlSeconds,
        connectTimeoutMs: options.connectTimeoutMs,
        requestTimeoutMs: options.requestTimeoutMs,
        security: options.etcdSecurity,
      });
    case 'file':
      return FileDiscovery.open({
        dir: options.fileDir ?? defaultDiscoveryDir(),
        ttlSeconds,
        pollIntervalMs: options.pollIntervalMs,
      });
    case 'memory':
      return new MemoryDiscovery(options.memoryStore ?? processDiscoveryStore, ttlSeconds);
  }
}
