/**
 * How an emulated cluster names its pieces, so `down` finds exactly its own and nothing else. Like a
 * container runtime's naming scheme: every namespace starts with the cluster's name, which starts with "dhw".
 *
 *   cluster "dhw" with 3 nodes:
 *     namespaces  dhw-n0  dhw-n1  dhw-n2  (the nodes)    dhw-br (the switch: bridge br0 + the veths' far ends)
 *     interfaces  eth0 in each node  ◄── veth ──►  v0, v1, v2 in dhw-br, enslaved to br0
 *     addresses   10.77.0.1/24 (node 0) ... 10.77.0.N/24
 *
 * The bridge lives in a namespace of its own, not in the root namespace: the host gets no address on the
 * cluster's subnet, so nothing listening on the host is reachable from a node and traffic between nodes
 * never leaves namespaces this command made.
 */
import { ClusterError } from './errors.ts';

export const DEFAULT_CLUSTER_NAME = 'dhw';
/** The first three octets of the nodes' /24: node i gets `${SUBNET}.${i + 1}`. */
export const DEFAULT_SUBNET = '10.77.0';
export const MAX_NODES = 200;
export const BRIDGE_NAME = 'br0';
export const NODE_INTERFACE = 'eth0';

/** A cluster name: "dhw" or "dhw-" + letters/digits, short enough for file names and logs. */
export function checkClusterName(name: string): string {
  if (!/^dhw(-[a-z0-9]{1,24})?$/.test(name)) {
    throw new ClusterError(
      `cluster name "${name}" is not allowed: use "dhw" or "dhw-" followed by up to 24 lowercase letters or ` +
        'digits (e.g. dhw-lab); the prefix is how `dhw cluster down` finds its own namespaces',
    );
  }
  return name;
}

export function nodeNamespace(cluster: string, node: number): string {
  return `${cluster}-n${node}`;
}

export function bridgeNamespace(cluster: string): string {
  return `${cluster}-br`;
}

/** The bridge-side end of node `node`'s veth pair (inside the bridge namespace). */
export function bridgePort(node: number): string {
  return `v${node}`;
}

export function nodeAddress(subnet: string, node: number): string {
  return `${subnet}.${node + 1}`;
}

/** Is `namespace` one of `cluster`'s (a node or its bridge)? Exact match, so "dhw" never claims "dhw-lab-n0". */
export function isClusterNamespace(cluster: string, namespace: string): boolean {
  return namespace === bridgeNamespace(cluster) || new RegExp(`^${cluster}-n\\d+$`).test(namespace);
}

/** "24" or "node 24"-free parsing of a NODE argument; a ClusterError naming the valid range otherwise. */
export function parseNodeIndex(text: string, nodes: number): number {
  const node = /^\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isInteger(node) || node < 0 || node >= nodes) {
    throw new ClusterError(`node "${text}" does not exist: this cluster has nodes 0..${nodes - 1}`);
  }
  return node;
}

export function checkSubnet(subnet: string): string {
  const octets = subnet.split('.');
  if (octets.length !== 3 || octets.some((o) => !/^\d{1,3}$/.test(o) || Number(o) > 255)) {
    throw new ClusterError(`subnet "${subnet}" must be the first three octets of a /24, e.g. 10.77.0`);
  }
  return subnet;
}
