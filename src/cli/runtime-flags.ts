/**
 * Flags that say how to reach the distributed runtime (discovery and the event plane), shared by
 * `dhw worker`, `dhw ls` and `dhw doctor` so they are spelled and defaulted the same way everywhere.
 * Defaults follow Dynamo's environment variables, so one `export` configures every command:
 *   ETCD_ENDPOINTS   etcd client URLs, comma-separated (default http://127.0.0.1:2379)
 *   NATS_SERVER      NATS URL (default nats://127.0.0.1:4222)
 */
import type { DiscoveryBackend, DiscoveryOptions } from '../runtime/discovery/index.ts';
import { numberFlag, type ParsedCommand, stringFlag, UsageError } from './args.ts';

export const DISCOVERY_FLAGS = {
  discovery: { type: 'string' as const, default: 'etcd', help: 'etcd | file | memory (service registry)' },
  'etcd-endpoints': {
    type: 'string' as const,
    help: 'etcd URLs, comma-separated (default: $ETCD_ENDPOINTS, else http://127.0.0.1:2379)',
  },
  'discovery-dir': {
    type: 'string' as const,
    help: 'directory for --discovery file (default: {tmpdir}/dhw-discovery)',
  },
};

export const EVENTS_FLAGS = {
  events: {
    type: 'string' as const,
    default: 'nats',
    help: 'nats | memory (event plane for KV events, load)',
  },
  'nats-server': {
    type: 'string' as const,
    help: 'NATS URL (default: $NATS_SERVER, else nats://127.0.0.1:4222)',
  },
};

export function discoveryBackendFlag(
  values: ParsedCommand['values'],
  allowed: readonly DiscoveryBackend[] = ['etcd', 'file', 'memory'],
): DiscoveryBackend {
  const backend = stringFlag(values, 'discovery') ?? 'etcd';
  if (!(allowed as readonly string[]).includes(backend)) {
    throw new UsageError(`--discovery must be ${allowed.join(' or ')}, got ${JSON.stringify(backend)}`);
  }
  return backend as DiscoveryBackend;
}

export function discoveryOptionsFromFlags(
  values: ParsedCommand['values'],
  allowed?: readonly DiscoveryBackend[],
): DiscoveryOptions {
  return {
    backend: discoveryBackendFlag(values, allowed),
    etcdEndpoints: stringFlag(values, 'etcd-endpoints'),
    fileDir: stringFlag(values, 'discovery-dir'),
    ttlSeconds: numberFlag(values, 'lease-ttl', { min: 1, integer: true }),
  };
}

export function eventsBackendFlag(values: ParsedCommand['values']): 'nats' | 'memory' {
  const backend = stringFlag(values, 'events') ?? 'nats';
  if (backend !== 'nats' && backend !== 'memory') {
    throw new UsageError(`--events must be nats or memory, got ${JSON.stringify(backend)}`);
  }
  return backend;
}
