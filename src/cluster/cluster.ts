/**
 * `dhw cluster up|down|status` without the printing: N emulated nodes (network namespaces on one bridge, links
 * shaped with tc) with etcd and NATS in node 0, recorded in a state dir so later invocations find them.
 * Like `kind create cluster` for our stack: real kernel networking, one machine.
 */
import type { ChildProcess } from 'node:child_process';
import { stopPid } from '../infra/server-process.ts';
import { type LinkSpec, parseLinkSpec } from '../util/link-spec.ts';
import { assertClusterCapable } from './commands.ts';
import { ClusterError } from './errors.ts';
import {
  checkClusterName,
  checkSubnet,
  DEFAULT_CLUSTER_NAME,
  DEFAULT_SUBNET,
  MAX_NODES,
  nodeAddress,
} from './names.ts';
import { namespacePids, type RunInNodeOptions, spawnInNode } from './node-exec.ts';
import { etcdHealthy, natsHealthy, startControlPlane } from './servers.ts';
import {
  type ClusterState,
  clusterEnv,
  clusterStateDir,
  DEFAULT_STATE_ROOT,
  readClusterState,
  removeClusterState,
  writeClusterState,
} from './state.ts';
import {
  clusterNamespaces,
  createNetwork,
  deleteNetwork,
  type LinkState,
  readLinkState,
} from './topology.ts';

export interface ClusterRef {
  /** Default "dhw" (namespaces dhw-n0.., dhw-br). */
  name?: string;
  /** Where cluster.json, etcd/NATS data and logs live. Default /run/dhw. */
  stateRoot?: string;
}

export interface UpClusterOptions extends ClusterRef {
  nodes: number;
  /** "RATE[,LATENCY]" as tc writes it, e.g. "1gbit,2ms"; undefined = unshaped links. */
  link?: string;
  /** First three octets of the /24, default 10.77.0. */
  subnet?: string;
  /** Every link's MTU, default 1500. */
  mtu?: number;
  /** Start etcd and NATS in node 0 (default true). */
  controlPlane?: boolean;
}

function resolveRef(ref: ClusterRef): { name: string; stateRoot: string } {
  return {
    name: checkClusterName(ref.name ?? DEFAULT_CLUSTER_NAME),
    stateRoot: ref.stateRoot ?? DEFAULT_STATE_ROOT,
  };
}

function parseLink(spec: string | undefined): ({ spec: string } & LinkSpec) | undefined {
  if (spec === undefined) return undefined;
  try {
    return { spec, ...parseLinkSpec(spec) };
  } catch (err) {
    throw new ClusterError((err as Error).message, { cause: err });
  }
}

/** Build the cluster; on any failure tear down what was made and rethrow. */
export async function upCluster(options: UpClusterOptions): Promise<ClusterState> {
  const { name, stateRoot } = resolveRef(options);
  if (!Number.isInteger(options.nodes) || options.nodes < 1 || options.nodes > MAX_NODES) {
    throw new ClusterError(`--nodes must be an integer from 1 to ${MAX_NODES}, got ${options.nodes}`);
  }
  const mtu = options.mtu ?? 1500;
  if (!Number.isInteger(mtu) || mtu < 576 || mtu > 65535) {
    throw new ClusterError(`--mtu must be an integer from 576 to 65535, got ${mtu}`);
  }
  const link = parseLink(options.link);
  const subnet = checkSubnet(options.subnet ?? DEFAULT_SUBNET);
  await assertClusterCapable();
  const state: ClusterState = {
    name,
    nodes: options.nodes,
    subnet,
    addresses: Array.from({ length: options.nodes }, (_, i) => nodeAddress(subnet, i)),
    mtu,
    link,
    createdAt: new Date().toISOString(),
  };
  await createNetwork({
    cluster: name,
    nodes: options.nodes,
    subnet,
    mtu,
    rateBytesPerSecond: link?.bytesPerSecond,
  });
  try {
    await removeClusterState(stateRoot, name); // stale data from an earlier cluster of this name
    await writeClusterState(stateRoot, state);
    if (options.controlPlane ?? true) {
      Object.assign(state, await startControlPlane(state, clusterStateDir(stateRoot, name)));
      await writeClusterState(stateRoot, state);
    }
  } catch (err) {
    await downCluster({ name, stateRoot });
    throw err;
  }
  return state;
}

/** The recorded state of a running cluster, or a ClusterError saying to run `dhw cluster up`. */
export function requireCluster(ref: ClusterRef = {}): ClusterState {
  const { name, stateRoot } = resolveRef(ref);
  const state = readClusterState(stateRoot, name);
  if (!state) {
    throw new ClusterError(
      `no cluster "${name}" is recorded under ${stateRoot}: start one with \`dhw cluster up --nodes N\`` +
        `${name === DEFAULT_CLUSTER_NAME ? '' : ` --name ${name}`}`,
    );
  }
  return state;
}

export interface DownReport {
  /** Processes stopped: every process still running inside one of the cluster's namespaces. */
  stopped: number[];
  namespaces: string[];
}

/**
 * Stop everything running in the cluster's namespaces (etcd, NATS, and whatever `dhw cluster run` started),
 * delete the namespaces (the veths and the bridge go with them) and the state dir. Idempotent.
 */
export async function downCluster(ref: ClusterRef = {}): Promise<DownReport> {
  const { name, stateRoot } = resolveRef(ref);
  await assertClusterCapable();
  const namespaces = await clusterNamespaces(name);
  const pids = new Set<number>();
  for (const ns of namespaces) for (const pid of await namespacePids(ns)) pids.add(pid);
  pids.delete(process.pid);
  await Promise.all([...pids].map((pid) => stopPid(pid, 3000).catch(() => undefined)));
  await deleteNetwork(name);
  await removeClusterState(stateRoot, name);
  return { stopped: [...pids], namespaces };
}

export interface ServerHealth {
  name: 'etcd' | 'nats-server';
  endpoint?: string;
  pid?: number;
  healthy: boolean;
}

export interface ClusterStatus {
  name: string;
  state?: ClusterState;
  /** Namespaces of this cluster that exist now (more than the state says = leftovers for `down`). */
  namespaces: string[];
  links: LinkState[];
  servers: ServerHealth[];
}

/** Nodes, addresses, link state and shaping, and etcd/NATS health (probed from inside node 0). */
export async function clusterStatus(ref: ClusterRef = {}): Promise<ClusterStatus> {
  const { name, stateRoot } = resolveRef(ref);
  await assertClusterCapable();
  const state = readClusterState(stateRoot, name);
  const namespaces = await clusterNamespaces(name);
  if (!state) return { name, namespaces, links: [], servers: [] };
  const links = await Promise.all(Array.from({ length: state.nodes }, (_, i) => readLinkState(name, i)));
  const servers: ServerHealth[] = [];
  if (state.etcd) {
    const { endpoint, pid } = state.etcd;
    servers.push({ name: 'etcd', endpoint, pid, healthy: await etcdHealthy(name, endpoint) });
  }
  if (state.nats) {
    const { url, pid, monitorUrl } = state.nats;
    servers.push({ name: 'nats-server', endpoint: url, pid, healthy: await natsHealthy(name, monitorUrl) });
  }
  return { name, state, namespaces, links, servers };
}

/**
 * Start `argv` inside node `node` (`ip netns exec`), with ETCD_ENDPOINTS / NATS_SERVER pointing at node 0; a
 * first word `dhw` runs this checkout's CLI. The caller owns the child; `downCluster` kills it too.
 */
export function runInNode(
  state: ClusterState,
  node: number,
  argv: string[],
  options: RunInNodeOptions = {},
): ChildProcess {
  if (!Number.isInteger(node) || node < 0 || node >= state.nodes) {
    throw new ClusterError(
      `node ${node} does not exist: cluster "${state.name}" has nodes 0..${state.nodes - 1}`,
    );
  }
  if (argv.length === 0) throw new ClusterError('nothing to run: give a command after --');
  return spawnInNode(state.name, node, argv, clusterEnv(state), options);
}
