/**
 * The emulated network: one namespace per node, one "switch" namespace holding a Linux bridge, and a veth
 * pair (a virtual cable) from each node's eth0 to a port on the bridge. Like racking N machines on one
 * top-of-rack switch. Each cable is shaped in both directions with a token bucket (`tc qdisc ... tbf`), so a
 * node's egress and ingress are each limited to the link rate.
 *
 * Latency is not added here: this kernel has no `netem` qdisc (tbf and htb only shape rate), so a one-way
 * delay is added in user space by the delay proxy (delay-proxy.ts) where a flow is routed through it.
 */
import { mustRun, runCommand } from './commands.ts';
import { ClusterError } from './errors.ts';
import {
  BRIDGE_NAME,
  bridgeNamespace,
  bridgePort,
  isClusterNamespace,
  NODE_INTERFACE,
  nodeAddress,
  nodeNamespace,
} from './names.ts';

export interface NetworkSpec {
  cluster: string;
  nodes: number;
  subnet: string;
  /** Bytes per second each link carries in each direction (tbf rate); undefined = unshaped. */
  rateBytesPerSecond?: number;
  mtu: number;
}

/** What a node's link looks like right now (`dhw cluster status`). */
export interface LinkState {
  node: number;
  namespace: string;
  address?: string;
  /** eth0's operational state in the node: UP, DOWN, LOWERLAYERDOWN (the bridge side is down), ... */
  operState: string;
  mtu?: number;
  /** The root qdisc on eth0, as tc prints it ("tbf rate 1Gbit burst 128Kb lat 100ms"), or "none". */
  qdisc: string;
}

/** Namespaces that exist now (ip netns list prints "name (id: N)" per line). */
export async function listNamespaces(): Promise<string[]> {
  const result = await runCommand('ip', ['netns', 'list']);
  if (result.code !== 0) return [];
  return result.stdout
    .split('\n')
    .map((line) => line.split(' ')[0]?.trim() ?? '')
    .filter(Boolean);
}

export async function clusterNamespaces(cluster: string): Promise<string[]> {
  return (await listNamespaces()).filter((ns) => isClusterNamespace(cluster, ns));
}

/**
 * A token bucket big enough to pass a GSO super-packet (64 KiB) and 10 ms worth of traffic at once: smaller
 * buckets make tbf drop or split segments and the measured rate falls well under the configured one.
 */
function tbfArgs(dev: string, rateBytesPerSecond: number): string[] {
  const rateBits = Math.round(rateBytesPerSecond * 8);
  const burst = Math.max(64 * 1024 + 1514, Math.ceil(rateBytesPerSecond / 100));
  // biome-ignore format: tc's words in tc's order
  return ['qdisc', 'replace', 'dev', dev, 'root', 'tbf', 'rate', `${rateBits}bit`, 'burst', String(burst), 'latency', '100ms'];
}

/** Shape (or unshape, with undefined) both directions of node `node`'s cable. */
export async function shapeLink(
  cluster: string,
  node: number,
  rateBytesPerSecond: number | undefined,
): Promise<void> {
  const ends = [
    { ns: nodeNamespace(cluster, node), dev: NODE_INTERFACE },
    { ns: bridgeNamespace(cluster), dev: bridgePort(node) },
  ];
  for (const { ns, dev } of ends) {
    if (rateBytesPerSecond === undefined) {
      await runCommand('ip', ['netns', 'exec', ns, 'tc', 'qdisc', 'del', 'dev', dev, 'root']);
    } else {
      await mustRun('ip', ['netns', 'exec', ns, 'tc', ...tbfArgs(dev, rateBytesPerSecond)]);
    }
  }
}

async function createNode(spec: NetworkSpec, node: number): Promise<void> {
  const ns = nodeNamespace(spec.cluster, node);
  const br = bridgeNamespace(spec.cluster);
  const port = bridgePort(node);
  await mustRun('ip', ['netns', 'add', ns]);
  await mustRun('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
  // Created inside the bridge namespace with its peer moved straight into the node: neither end ever
  // appears in the root namespace, so names cannot clash with the host's interfaces.
  await mustRun('ip', [
    '-n',
    br,
    'link',
    'add',
    port,
    'type',
    'veth',
    'peer',
    'name',
    NODE_INTERFACE,
    'netns',
    ns,
  ]);
  await mustRun('ip', ['-n', br, 'link', 'set', port, 'mtu', String(spec.mtu), 'master', BRIDGE_NAME, 'up']);
  await mustRun('ip', ['-n', ns, 'link', 'set', NODE_INTERFACE, 'mtu', String(spec.mtu)]);
  await mustRun('ip', [
    '-n',
    ns,
    'addr',
    'add',
    `${nodeAddress(spec.subnet, node)}/24`,
    'dev',
    NODE_INTERFACE,
  ]);
  await mustRun('ip', ['-n', ns, 'link', 'set', NODE_INTERFACE, 'up']);
  if (spec.rateBytesPerSecond !== undefined) await shapeLink(spec.cluster, node, spec.rateBytesPerSecond);
}

/** Build the switch namespace and every node. Throws (after tearing down what it made) on any failure. */
export async function createNetwork(spec: NetworkSpec): Promise<void> {
  const existing = await clusterNamespaces(spec.cluster);
  if (existing.length > 0) {
    throw new ClusterError(
      `cluster "${spec.cluster}" already has namespaces (${existing.join(', ')}): run \`dhw cluster down` +
        `${spec.cluster === 'dhw' ? '' : ` --name ${spec.cluster}`}\` first, or pick another --name`,
    );
  }
  const br = bridgeNamespace(spec.cluster);
  try {
    await mustRun('ip', ['netns', 'add', br]);
    await mustRun('ip', ['-n', br, 'link', 'set', 'lo', 'up']);
    await mustRun('ip', ['-n', br, 'link', 'add', BRIDGE_NAME, 'type', 'bridge']);
    await mustRun('ip', ['-n', br, 'link', 'set', BRIDGE_NAME, 'mtu', String(spec.mtu), 'up']);
    for (let node = 0; node < spec.nodes; node++) await createNode(spec, node);
  } catch (err) {
    await deleteNetwork(spec.cluster);
    throw err;
  }
}

/** Delete every namespace of `cluster` (their veths go with them). Idempotent; returns what it deleted. */
export async function deleteNetwork(cluster: string): Promise<string[]> {
  const namespaces = await clusterNamespaces(cluster);
  for (const ns of namespaces) await runCommand('ip', ['netns', 'del', ns]);
  return namespaces;
}

/** Pull (down) or plug (up) node `node`'s cable at the switch: its eth0 loses carrier, the node is cut off. */
export async function setNodeLink(cluster: string, node: number, state: 'up' | 'down'): Promise<void> {
  await mustRun('ip', ['-n', bridgeNamespace(cluster), 'link', 'set', bridgePort(node), state]);
}

/** eth0's state, address, MTU and root qdisc in node `node` (read with `ip -j` and `tc -j`). */
export async function readLinkState(cluster: string, node: number): Promise<LinkState> {
  const namespace = nodeNamespace(cluster, node);
  const state: LinkState = { node, namespace, operState: 'MISSING', qdisc: 'none' };
  const addr = await runCommand('ip', ['-n', namespace, '-j', 'addr', 'show', 'dev', NODE_INTERFACE]);
  if (addr.code !== 0) return state;
  const [link] = JSON.parse(addr.stdout) as {
    operstate?: string;
    mtu?: number;
    addr_info?: { family: string; local: string }[];
  }[];
  state.operState = link?.operstate ?? 'UNKNOWN';
  state.mtu = link?.mtu;
  state.address = link?.addr_info?.find((a) => a.family === 'inet')?.local;
  const tc = await runCommand('ip', [
    'netns',
    'exec',
    namespace,
    'tc',
    'qdisc',
    'show',
    'dev',
    NODE_INTERFACE,
  ]);
  const root = tc.stdout.split('\n').find((line) => line.includes(' root '));
  if (root) state.qdisc = root.replace(/^qdisc (\S+) \S+ root (refcnt \d+ )?/, '$1 ').trim();
  return state;
}
