/**
 * The transfer agent: our NIXL agent. One per worker process. It registers memory regions (the worker's
 * KV block pool), listens for peers on one or more transports, knows its peers by their metadata, and
 * runs READs and WRITEs of descriptor lists with completion notifications.
 *
 * Systems analogy: an RDMA NIC's memory registration plus one-sided READ/WRITE, over TCP. The target's
 * application code is not involved in a transfer: the agent answers from registered memory on its own,
 * the way a NIC serves an RDMA READ without waking the remote CPU's application; the application only sees
 * the notification ("request r1's blocks were read: release them").
 *
 *     decode worker (initiator)                      prefill worker (target)
 *       agent.read("prefill-7", {localRegion "kv", localBlockIds [4,5],
 *                                remoteRegion "kv", remoteBlockIds [12,13], notif "r1"})
 *         ── read {region kv, blockIds [12,13], layout} ──▶ agent: check layout, ids → views
 *         ◀── ok | layer0.K[12..13] layer0.V[12..13] layer1.K ... ── writev from its KV tensors
 *         bytes land in our blocks 4,5 (the kernel reads straight into them)
 *         ── notif "r1" ──▶ agent.onNotif → prefill releases request r1's blocks
 */
import { hostname } from 'node:os';
import type { AgentEndpoint, AgentMetadata } from './agent-metadata.ts';
import { BlockRangeError, TransferError, UnknownAgentError, UnknownRegionError } from './errors.ts';
import { checkLayoutsMatch } from './layout.ts';
import {
  allLayers,
  blockViews,
  checkDescriptor,
  checkRegion,
  descriptorBytes,
  type KvRegion,
  type LayerRange,
  type RegionInfo,
  regionInfo,
} from './region.ts';
import {
  type KvTransport,
  newCounters,
  type TransferCounters,
  type TransferTarget,
  type TransportListener,
} from './transport.ts';
import type { TransferHeader } from './wire.ts';

export const DEFAULT_TRANSFER_TIMEOUT_MS = 30_000;

export interface TransferAgentOptions {
  /** Unique in the namespace: a worker uses its instance id. */
  name: string;
  /** Backends to listen on and dial with, e.g. [tcp, unix]. Same-host peers use unix when both offer it. */
  transports: KvTransport[];
  timeoutMs?: number;
  /** For tests that pretend two agents run on different hosts. */
  host?: string;
}

/** One descriptor-list transfer: the same layers of `localBlockIds[i]` here ↔ `remoteBlockIds[i]` there. */
export interface TransferDescriptor {
  localRegion: string;
  remoteRegion: string;
  /** Default: every layer. */
  layers?: LayerRange;
  localBlockIds: readonly number[];
  remoteBlockIds: readonly number[];
  /** Delivered to the peer once the transfer completed (NIXL's notif_msg). */
  notif?: string;
  timeoutMs?: number;
}

export interface TransferResult {
  bytes: number;
  transport: KvTransport['kind'];
  ms: number;
}

export interface Notification {
  from: string;
  message: string;
}

export class TransferAgent implements TransferTarget {
  readonly name: string;
  readonly host: string;
  private readonly transports: KvTransport[];
  private readonly timeoutMs: number;
  private readonly regions = new Map<string, KvRegion>();
  private readonly remotes = new Map<string, AgentMetadata>();
  private readonly listeners: { transport: KvTransport; listener: TransportListener }[] = [];
  private readonly notifQueue: Notification[] = [];
  private readonly notifHandlers = new Set<(n: Notification) => void>();

  constructor(options: TransferAgentOptions) {
    if (options.transports.length === 0)
      throw new RangeError('a transfer agent needs at least one transport');
    this.name = options.name;
    this.host = options.host ?? hostname();
    this.transports = options.transports;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TRANSFER_TIMEOUT_MS;
  }

  /** Register memory (NIXL registerMem). The agent keeps a reference; the worker keeps owning the bytes. */
  registerRegion(region: KvRegion): RegionInfo {
    if (this.regions.has(region.name)) throw new RangeError(`region "${region.name}" is already registered`);
    checkRegion(region);
    this.regions.set(region.name, region);
    return regionInfo(region);
  }

  deregisterRegion(name: string): void {
    this.regions.delete(name);
  }

  /** Start listening on every transport; returns the metadata to publish. */
  async start(): Promise<AgentMetadata> {
    for (const transport of this.transports)
      this.listeners.push({ transport, listener: await transport.listen(this) });
    return this.metadata();
  }

  /** NIXL getLocalMD: what peers need to reach us and our regions. Publish it after registering regions. */
  metadata(): AgentMetadata {
    const endpoints: AgentEndpoint[] = this.listeners.map(({ transport, listener }) => ({
      kind: transport.kind,
      address: listener.address,
    }));
    return {
      name: this.name,
      host: this.host,
      pid: process.pid,
      endpoints,
      regions: [...this.regions.values()].map(regionInfo),
    };
  }

  /** NIXL loadRemoteMD: learn a peer (from discovery, or handed over directly). Replaces older metadata. */
  addRemoteAgent(meta: AgentMetadata): void {
    this.remotes.set(meta.name, meta);
  }

  removeRemoteAgent(name: string): void {
    const meta = this.remotes.get(name);
    this.remotes.delete(name);
    if (meta === undefined || meta.host !== this.host) return; // shm, unix: same-host resources only
    // Each transport lets go of what it keeps for the peer (pooled connections, a dead peer's shm mirrors).
    for (const endpoint of meta.endpoints)
      for (const t of this.transports) if (t.kind === endpoint.kind) t.peerGone?.(endpoint.address);
  }

  knowsAgent(name: string): boolean {
    return this.remotes.has(name);
  }

  /** Copy the peer's blocks into ours (the decode worker pulling a prompt's KV: Dynamo's default). */
  read(peer: string, desc: TransferDescriptor): Promise<TransferResult> {
    return this.transfer('read', peer, desc);
  }

  /** Copy our blocks into the peer's (the push variant: prefill writes into blocks decode allocated). */
  write(peer: string, desc: TransferDescriptor): Promise<TransferResult> {
    return this.transfer('write', peer, desc);
  }

  /** A notification with no transfer (NIXL genNotif). */
  async sendNotif(peer: string, message: string): Promise<void> {
    const { transport, address } = this.route(this.remote(peer));
    await transport.sendNotif(address, { type: 'notif', from: this.name, message }, this.timeoutMs);
  }

  /** NIXL getNotifs: every notification received since the last call, each returned exactly once. */
  getNotifs(): Notification[] {
    return this.notifQueue.splice(0);
  }

  /** Be called for each notification as it arrives (it is queued for getNotifs as well). */
  onNotif(handler: (n: Notification) => void): () => void {
    this.notifHandlers.add(handler);
    return () => this.notifHandlers.delete(handler);
  }

  /**
   * Make blocks of a registered region readable without this process (the shm backend's mirror; other
   * backends have nothing to stage). Call it once the blocks are final (a prefill worker: right after the
   * prefill, while it holds them for the decode side), and `unstageBlocks` before they are rewritten.
   */
  async stageBlocks(regionName: string, blockIds: readonly number[]): Promise<void> {
    const region = this.localRegion(regionName);
    checkDescriptor(regionInfo(region), allLayers(region.layout), blockIds, 'our');
    // Every transport starts its staging now (synchronously): an unstage called right after must find it.
    await Promise.all(this.transports.map((t) => t.stage?.(regionName, region.layout, blockIds)));
  }

  unstageBlocks(regionName: string, blockIds: readonly number[]): void {
    for (const t of this.transports) t.unstage?.(regionName, blockIds);
  }

  /** Payload bytes moved, copied by our own code and staged, summed over our transports. */
  counters(): TransferCounters {
    const sum = newCounters();
    for (const t of this.transports)
      for (const key of Object.keys(sum) as (keyof TransferCounters)[]) sum[key] += t.counters[key];
    return sum;
  }

  async close(): Promise<void> {
    await Promise.all(this.listeners.splice(0).map(({ listener }) => listener.close()));
    await Promise.all(this.transports.map((t) => t.close()));
  }

  // ---- TransferTarget: what a peer's request may touch -------------------------------------------------

  prepare(header: TransferHeader): Uint8Array[] {
    return blockViews(this.check(header), header.layers, header.blockIds);
  }

  /** Refuse (named error) a request this agent would not serve; the region it names otherwise. */
  check(header: TransferHeader): KvRegion {
    const region = this.localRegion(header.region);
    checkLayoutsMatch(region.layout, header.layout, {
      ours: `agent "${this.name}" region "${region.name}"`,
      theirs: `initiator "${header.from}"`,
    });
    checkDescriptor(regionInfo(region), header.layers, header.blockIds, `agent "${this.name}"'s`);
    return region;
  }

  notify(from: string, message: string): void {
    const notification = { from, message };
    this.notifQueue.push(notification);
    for (const handler of this.notifHandlers) handler(notification);
  }

  // ---- initiator side ---------------------------------------------------------------------------------

  private async transfer(
    type: 'read' | 'write',
    peer: string,
    desc: TransferDescriptor,
  ): Promise<TransferResult> {
    const remote = this.remote(peer);
    const local = this.localRegion(desc.localRegion);
    const theirs = remote.regions.find((r) => r.name === desc.remoteRegion);
    if (!theirs)
      throw UnknownRegionError.on(
        peer,
        desc.remoteRegion,
        remote.regions.map((r) => r.name),
      );
    checkLayoutsMatch(local.layout, theirs.layout, {
      ours: `our region "${local.name}" (agent "${this.name}")`,
      theirs: `peer "${peer}" region "${theirs.name}"`,
    });
    if (desc.localBlockIds.length !== desc.remoteBlockIds.length)
      throw new BlockRangeError(
        `descriptor lists differ in length: ${desc.localBlockIds.length} local vs ${desc.remoteBlockIds.length} ` +
          'remote block ids. Each local block pairs with one remote block.',
      );
    const layers = desc.layers ?? allLayers(local.layout);
    checkDescriptor(regionInfo(local), layers, desc.localBlockIds, 'our');
    checkDescriptor(theirs, layers, desc.remoteBlockIds, `peer "${peer}"'s`);
    const header: TransferHeader = {
      type,
      from: this.name,
      region: theirs.name,
      layout: local.layout,
      layers,
      blockIds: [...desc.remoteBlockIds],
      bytes: descriptorBytes(local.layout, layers, desc.localBlockIds.length),
      ...(desc.notif !== undefined ? { notif: desc.notif } : {}),
    };
    const { transport, address } = this.route(remote);
    const started = performance.now();
    await transport.transfer(
      address,
      header,
      blockViews(local, layers, desc.localBlockIds),
      desc.timeoutMs ?? this.timeoutMs,
    );
    return { bytes: header.bytes, transport: transport.kind, ms: performance.now() - started };
  }

  private remote(peer: string): AgentMetadata {
    const meta = this.remotes.get(peer);
    if (!meta)
      throw new UnknownAgentError(
        peer,
        "it is not in this agent's peer table (never added, or it left discovery)",
      );
    return meta;
  }

  private localRegion(name: string): KvRegion {
    const region = this.regions.get(name);
    if (!region) throw UnknownRegionError.on(this.name, name, [...this.regions.keys()]);
    return region;
  }

  /** Pick how to reach a peer: in-process memory, then shared memory or a Unix socket on the same host, then TCP. */
  private route(remote: AgentMetadata): { transport: KvTransport; address: string } {
    const sameHost = remote.host === this.host;
    const sameProcess = sameHost && remote.pid === process.pid;
    const preference = sameProcess
      ? (['memory', 'shm', 'unix', 'tcp'] as const)
      : sameHost
        ? (['shm', 'unix', 'tcp'] as const)
        : (['tcp'] as const);
    for (const kind of preference) {
      const transport = this.transports.find((t) => t.kind === kind);
      const endpoint = remote.endpoints.find((e) => e.kind === kind);
      if (transport && endpoint) return { transport, address: endpoint.address };
    }
    throw new TransferError(
      `No common transport with peer "${remote.name}" on ${remote.host}: it offers ` +
        `${remote.endpoints.map((e) => e.kind).join(', ') || 'none'}, we have ${this.transports.map((t) => t.kind).join(', ')}` +
        `${sameHost ? '' : ' (shm, unix and memory need the same host)'}. Start both agents with a tcp transport.`,
    );
  }
}
