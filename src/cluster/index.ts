/**
 * The emulated cluster's public surface (see README.md): build and tear down N nodes as network namespaces,
 * run commands in them, cut and restore their links, and probe from inside them.
 */
export {
  type ClusterRef,
  type ClusterStatus,
  clusterStatus,
  type DownReport,
  downCluster,
  requireCluster,
  runInNode,
  type ServerHealth,
  type UpClusterOptions,
  upCluster,
} from './cluster.ts';
export { clusterUnavailableReason } from './commands.ts';
export { type DelayProxy, type DelayProxyOptions, startDelayProxy } from './delay-proxy.ts';
export { ClusterError } from './errors.ts';
export { DEFAULT_CLUSTER_NAME, nodeNamespace, parseNodeIndex } from './names.ts';
export {
  fetchInNode,
  type NodeFetchResult,
  nodeCommandLine,
  type RunInNodeOptions,
  spawnInNode,
  tcpProbeInNode,
} from './node-exec.ts';
export { type ClusterState, clusterEnv, DEFAULT_STATE_ROOT } from './state.ts';
export { type LinkState, readLinkState, setNodeLink, shapeLink } from './topology.ts';
