export {
  createDiscovery,
  DEFAULT_ETCD_ENDPOINT,
  type DiscoveryOptions,
  defaultDiscoveryDir,
  resolveEtcdEndpoints,
} from './create-discovery.ts';
export {
  DEFAULT_LEASE_TTL_SECONDS,
  type Discovery,
  type DiscoveryBackend,
  type DiscoveryEvent,
  type DiscoveryEventHandler,
  type DiscoveryWatch,
  type KeyValue,
  keepAliveIntervalMs,
} from './discovery.ts';
export { DiscoveryError, DiscoveryUnavailableError, LeaseLostError } from './errors.ts';
export { EtcdDiscovery, type EtcdDiscoveryOptions } from './etcd-discovery.ts';
export { EtcdGateway } from './etcd-gateway.ts';
export type { EtcdSecurity } from './etcd-security.ts';
export { FileDiscovery, type FileDiscoveryOptions } from './file-discovery.ts';
export { MemoryDiscovery, MemoryDiscoveryStore, processDiscoveryStore } from './memory-discovery.ts';
