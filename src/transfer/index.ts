export {
  type AgentEndpoint,
  type AgentMetadata,
  agentMetadataKey,
  agentMetadataPrefix,
  NIXL_METADATA_ROOT,
  parseAgentMetadata,
} from './agent-metadata.ts';
export { AgentDirectory, fetchAgentMetadata, publishAgentMetadata } from './agent-directory.ts';
export {
  DEFAULT_TRANSFER_TIMEOUT_MS,
  type Notification,
  TransferAgent,
  type TransferAgentOptions,
  type TransferDescriptor,
  type TransferResult,
} from './agent.ts';
export {
  AgentMetadataError,
  BlockRangeError,
  LayoutMismatchError,
  PeerClosedError,
  TransferError,
  TransferProtocolError,
  TransferTimeoutError,
  UnknownAgentError,
  UnknownRegionError,
} from './errors.ts';
export {
  blockBytes,
  blockBytesPerTensor,
  checkLayoutsMatch,
  DTYPE_BYTES,
  describeLayout,
  type KvDtype,
  type KvLayout,
} from './layout.ts';
export { MemoryTransport } from './memory-transport.ts';
export { blockViews, type KvRegion, type KvTensor, type LayerRange, type RegionInfo } from './region.ts';
export { sweepStaleShmDirs } from './shm-sweep.ts';
export { ShmTransport, type ShmTransportOptions } from './shm-transport.ts';
export { StreamTransport, type StreamTransportOptions } from './stream-transport.ts';
export type {
  KvTransport,
  TransferCounters,
  TransferTarget,
  TransportKind,
  TransportListener,
} from './transport.ts';
