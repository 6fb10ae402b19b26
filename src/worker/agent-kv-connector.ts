/**
 * The decode worker's KvConnector: the engine says "fill my blocks [4, 5] from prefill-7's blocks [12, 13]",
 * this moves the bytes with the worker's transfer agent (one READ of a descriptor list, every layer, K and V)
 * and the READ's completion notification tells the prefill worker to free its held blocks — like a block
 * device driver turning the file system's "fill these pages from that extent" into one DMA with an
 * interrupt on completion.
 *
 *   engine ── loadBlocks(plan) ──▶ connector ── agent.read(peer, {kv → kv, ids, notif "release:r1"}) ──▶ peer
 *          ◀── {bytes, ms} ──────              ◀── bytes land in our blocks ──
 *
 * Any failure rejects (the engine then prefills the prompt itself): a peer that left discovery
 * (UnknownAgentError), a hold that already expired (HeldKvExpiredError), a timeout, a refused connection, a
 * layout mismatch. The simulated variant (mocker workers, which have no tensors) only sends the notification.
 */
import type { KvConnector, KvLoadPlan, KvLoadResult, KvReceivePlan } from '../engine/index.ts';
import {
  destinationNotification,
  type KvDestination,
  type KvTransferParams,
  releaseNotification,
} from '../protocols/kv-transfer.ts';
import type { Discovery } from '../runtime/discovery/index.ts';
import {
  agentMetadataKey,
  blockBytes,
  fetchAgentMetadata,
  type TransferAgent,
  TransferError,
  UnknownAgentError,
} from '../transfer/index.ts';
import type { Logger } from '../util/logger.ts';
import { type KvPushInbox, PUSH_GRACE_MS } from './kv-push-inbox.ts';

/** The region name a worker registers its KV block pool under (and asks peers for). */
export const KV_REGION = 'kv';

/**
 * The prefill worker's hold on the blocks ran out before the pull started: it may have freed them and given
 * them to another request, so reading them could copy someone else's KV. Refuse; decode prefills locally.
 */
export class HeldKvExpiredError extends TransferError {}

export interface PeerLookup {
  agent: TransferAgent;
  discovery: Discovery;
  namespace: string;
}

/**
 * Make sure `peer` is in the agent's peer table. The AgentDirectory's watch may lag the frontend's own watch
 * by a few ms (a prefill worker that just registered), so ask discovery once before giving up.
 */
export async function ensurePeer({ agent, discovery, namespace }: PeerLookup, peer: string): Promise<void> {
  if (agent.knowsAgent(peer)) return;
  const meta = await fetchAgentMetadata(discovery, namespace, peer);
  if (meta === undefined) {
    throw new UnknownAgentError(
      peer,
      `its metadata is not in discovery (${agentMetadataKey(namespace, peer)}): the prefill worker stopped ` +
        'or its lease expired',
    );
  }
  agent.addRemoteAgent(meta);
}

/** Refuse a pull whose hold has run out (see HeldKvExpiredError). */
export function checkNotExpired(params: KvTransferParams, now = Date.now()): void {
  if (now < params.expiresAtMs) return;
  throw new HeldKvExpiredError(
    `the prefill worker "${params.remoteAgent}" held request ${params.remoteRequestId}'s KV blocks until ` +
      `${new Date(params.expiresAtMs).toISOString()}, ${now - params.expiresAtMs} ms ago: they may belong to ` +
      'another request now. Raise --kv-hold-timeout on the prefill workers if decode workers queue longer.',
  );
}

export interface AgentKvConnectorOptions extends PeerLookup {
  log: Logger;
  /**
   * A pull slower than this fails (TransferTimeoutError) and the prompt is prefilled locally. Layer-wise,
   * it is the destination's ttl: how long the prefill worker may take to start pushing the last layer.
   */
  timeoutMs: number;
  /** Layer-wise receives: where the prefill worker's layer notifications are matched to requests. */
  inbox?: KvPushInbox;
}

export class AgentKvConnector implements KvConnector {
  constructor(private readonly options: AgentKvConnectorOptions) {}

  /**
   * Layer-wise: tell the prefill worker where the prompt's KV goes, then wait until every layer has landed
   * (kv-push-inbox.ts). Rejects on a push failure or at ttl + grace, when no WRITE can land any more.
   */
  async receiveBlocks(plan: KvReceivePlan, signal: AbortSignal): Promise<KvLoadResult> {
    signal.throwIfAborted();
    const { agent, log, timeoutMs, inbox } = this.options;
    if (inbox === undefined) throw new TransferError('this worker takes no layer-wise pushes');
    const peer = plan.remoteAgent;
    await ensurePeer(this.options, peer);
    const destination: KvDestination = {
      agent: agent.name,
      region: KV_REGION,
      firstBlock: plan.firstBlock,
      blockIds: plan.localBlockIds.map(Number),
      numCachedTokens: plan.numCachedTokens,
      ttlMs: timeoutMs,
    };
    const notif = destinationNotification(plan.requestId, destination);
    const started = performance.now();
    if (plan.localBlockIds.length === 0) {
      await agent.sendNotif(peer, notif); // nothing to receive: the prefill worker frees its blocks
      return { bytes: 0, ms: 0 };
    }
    // Expect before sending: the first layer may land before sendNotif's promise settles.
    const landed = inbox.expect(plan.requestId, peer, timeoutMs + PUSH_GRACE_MS);
    try {
      await agent.sendNotif(peer, notif);
    } catch (err) {
      inbox.cancel(plan.requestId, err as Error); // never sent: nobody writes into the blocks
      await landed.catch(() => {});
      throw err;
    }
    await landed;
    const region = agent.metadata().regions.find((r) => r.name === KV_REGION);
    const bytes = region === undefined ? 0 : plan.localBlockIds.length * blockBytes(region.layout);
    const ms = performance.now() - started;
    log.info('kv transfer received (layer-wise push)', {
      requestId: plan.requestId,
      peer,
      blocks: plan.localBlockIds.length,
      numTokens: plan.numTokens,
      bytes,
      ms: Math.round(ms * 100) / 100,
    });
    return { bytes, ms, transport: 'push' };
  }

  async loadBlocks(plan: KvLoadPlan, signal: AbortSignal): Promise<KvLoadResult> {
    signal.throwIfAborted();
    const { agent, log, timeoutMs } = this.options;
    const { params } = plan;
    const peer = params.remoteAgent;
    checkNotExpired(params);
    await ensurePeer(this.options, peer);
    const notif = releaseNotification(params.remoteRequestId);
    const started = performance.now();
    if (plan.localBlockIds.length === 0) {
      // Our prefix cache had every block: nothing to copy, but the prefill worker still holds its copy.
      await agent.sendNotif(peer, notif);
      return { bytes: 0, ms: performance.now() - started };
    }
    // Once started, the READ runs to completion or timeout even if `signal` fires: the bytes land in our
    // blocks, so the engine may reuse them only after this settles (the KvConnector contract).
    const result = await agent.read(peer, {
      localRegion: KV_REGION,
      remoteRegion: params.remoteRegion,
      localBlockIds: plan.localBlockIds,
      remoteBlockIds: plan.remoteBlockIds,
      notif,
      timeoutMs,
    });
    log.info('kv transfer pulled', {
      requestId: plan.requestId,
      peer,
      remoteRequestId: params.remoteRequestId,
      blocks: plan.localBlockIds.length,
      numTokens: plan.numTokens,
      bytes: result.bytes,
      ms: Math.round(result.ms * 100) / 100,
      transport: result.transport,
    });
    return { bytes: result.bytes, ms: result.ms, transport: result.transport };
  }
}
