/**
 * Two emulated "nodes" joined by one shaped link, built with `dhw cluster` (src/cluster): two network
 * namespaces on the cluster's bridge, 10.77.0.1 (node 0, the decode side) and 10.77.0.2 (node 1, which owns
 * the KV), every link shaped with `tc tbf` in both directions. Like plugging two servers into one switch and
 * choosing the port speed. No etcd or NATS: this lab only moves bytes.
 *
 * Only namespaces this file creates are touched (the cluster is named `dhw-lab44pPID`); the host's own
 * interfaces and routes never change, and `destroy()` (also run at process exit) deletes the cluster.
 * Needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN); `whyNoNodes()` says what is missing.
 *
 * This kernel has no `netem`, so a shaped link has a rate but no added delay: its latency is the kernel's
 * own (veths, a bridge, two TCP stacks). Latency is added in user space by `dhw cluster delay-proxy`
 * (link-harness.ts starts one in front of a server when a link spec says "RATE,LATENCY").
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type ClusterState,
  clusterUnavailableReason,
  downCluster,
  nodeCommandLine,
  nodeNamespace,
  readLinkState,
  shapeLink,
  upCluster,
} from '../../../src/cluster/index.ts';
import { parseLinkSpec } from '../../../src/util/link-spec.ts';

export interface Endpoint {
  /** Shown in tables: "loopback", "dhw-lab44p123-n1". */
  label: string;
  /** The address a peer dials to reach a server started here. */
  address: string;
  /** Prefix that runs a command inside this endpoint: [] for the host, ['ip', 'netns', 'exec', NAME]. */
  exec: string[];
}

export const LOOPBACK: Endpoint = { label: 'loopback', address: '127.0.0.1', exec: [] };

/** Why this process cannot build emulated nodes (undefined = it can): not root, `ip`/`tc` missing. */
export async function whyNoNodes(): Promise<string | undefined> {
  return clusterUnavailableReason();
}

/** "1gbit" or "10gbit,2ms" (util/link-spec.ts), or "unshaped". */
export interface EmulatedLinkSpec {
  text: string;
  /** Bits per second, or undefined for an unshaped link. */
  rateBitsPerSecond?: number;
  /** One-way delay the delay proxy adds, ms (0: none). */
  delayMs: number;
}

export function parseEmulatedLink(text: string): EmulatedLinkSpec {
  if (text === 'unshaped') return { text, delayMs: 0 };
  const spec = parseLinkSpec(text); // throws naming the expected form
  return { text, rateBitsPerSecond: spec.bytesPerSecond * 8, delayMs: spec.latencyMs };
}

export class EmulatedNodes {
  private destroyed = false;
  private readonly onExit = () => this.destroySync();

  private constructor(
    private readonly state: ClusterState,
    private readonly stateRoot: string,
    /** Node 0: where the reader (decode side) runs. */
    readonly a: Endpoint,
    /** Node 1: where the KV owner (prefill side) runs. */
    readonly b: Endpoint,
  ) {
    process.once('exit', this.onExit);
  }

  /** `dhw cluster up --nodes 2 --no-servers [--mtu M]`, unshaped. */
  static async create(options: { mtu?: number } = {}): Promise<EmulatedNodes> {
    const name = `dhw-lab44p${process.pid}`;
    const stateRoot = mkdtempSync(join(tmpdir(), 'dhw-lab44-'));
    const state = await upCluster({ name, stateRoot, nodes: 2, controlPlane: false, mtu: options.mtu });
    const endpoint = (node: number): Endpoint => ({
      label: nodeNamespace(name, node),
      address: state.addresses[node] as string,
      exec: nodeCommandLine(name, node, []),
    });
    return new EmulatedNodes(state, stateRoot, endpoint(0), endpoint(1));
  }

  /** Shapes both nodes' links (each in both directions) to the spec's rate, or removes shaping. */
  async shape(link: EmulatedLinkSpec): Promise<void> {
    const bytesPerSecond = link.rateBitsPerSecond === undefined ? undefined : link.rateBitsPerSecond / 8;
    for (const node of [0, 1]) await shapeLink(this.state.name, node, bytesPerSecond);
  }

  /** The qdisc on node 1's eth0, as tc prints it. */
  async describe(): Promise<string> {
    return (await readLinkState(this.state.name, 1)).qdisc;
  }

  /** `dhw cluster down`: stops what runs in the namespaces and deletes them. Safe to call twice. */
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    process.removeListener('exit', this.onExit);
    await downCluster({ name: this.state.name, stateRoot: this.stateRoot });
    rmSync(this.stateRoot, { recursive: true, force: true });
  }

  /** At process exit (no awaiting there): delete the namespaces directly; our children die with the lab. */
  private destroySync(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const ns of [
      nodeNamespace(this.state.name, 0),
      nodeNamespace(this.state.name, 1),
      `${this.state.name}-br`,
    ])
      spawnSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
    rmSync(this.stateRoot, { recursive: true, force: true });
  }
}
