/**
 * The engine's port to the KV transfer machinery (vLLM's KVConnector, decode side). The engine decides
 * WHICH blocks it lacks and WHERE they go; the connector moves the bytes (the worker plugs in its transfer
 * agent; the mocker plugs in a link model that only charges the time). Like a block device driver
 * interface: the file system says "fill these pages from that remote extent", the driver does the I/O.
 *
 * The engine never imports src/transfer: the worker builds a connector from its transfer agent.
 */
import type { BlockId, RequestId } from '../protocols/ids.ts';
import type { KvTransferParams } from '../protocols/kv-transfer.ts';

/** One pull: `remoteBlockIds[i]` on the prefill worker → `localBlockIds[i]` here, every layer, K and V. */
export interface KvLoadPlan {
  /** The decode-side request the blocks are for. */
  requestId: RequestId;
  params: KvTransferParams;
  localBlockIds: readonly BlockId[];
  remoteBlockIds: readonly number[];
  /** Prompt tokens the pull provides (tokens the decode side's own prefix cache did not have). */
  numTokens: number;
}

/** What a finished pull reports (for logs and metrics). */
export interface KvLoadResult {
  bytes: number;
  ms: number;
  /** The backend that carried the bytes (tcp, unix, shm, memory, simulated), for metrics and logs. */
  transport?: string;
}

/**
 * A layer-wise receive (push): the decode side's blocks for logical prompt blocks [firstBlock, firstBlock +
 * localBlockIds.length), which the prefill worker `remoteAgent` writes layer by layer during its prefill.
 */
export interface KvReceivePlan {
  requestId: RequestId;
  remoteAgent: string;
  firstBlock: number;
  localBlockIds: readonly BlockId[];
  /** Prompt tokens this side's prefix cache already had (firstBlock × block size). */
  numCachedTokens: number;
  /** Prompt tokens the push provides. */
  numTokens: number;
}

export interface KvConnector {
  /**
   * Copy the plan's remote blocks into the local ones and tell the prefill worker it may release them.
   * Rejects (timeout, vanished peer, layout mismatch) leave the local blocks' contents undefined: the
   * engine then recomputes the prompt itself. `signal` aborts the pull when the request is cancelled;
   * the promise still settles only once nothing writes into the local blocks any more.
   *
   * A plan with no blocks (the decode side's prefix cache already had everything it needed, or the prompt
   * is one token) copies nothing: it only sends the release notification. The engine does not wait for it.
   */
  loadBlocks(plan: KvLoadPlan, signal: AbortSignal): Promise<KvLoadResult>;

  /**
   * Layer-wise (optional; without it a push request prefills locally): tell the prefill worker where to
   * write, and resolve once every layer has landed. Same contract as `loadBlocks`: it settles only once
   * nothing writes into the local blocks any more (after a failure or an abort: once the destination's
   * deadline has passed, since the prefill worker starts no write after it). A plan with no blocks only
   * tells the prefill worker it has nothing to send; the engine does not wait for it.
   */
  receiveBlocks?(plan: KvReceivePlan, signal: AbortSignal): Promise<KvLoadResult>;
}

/**
 * The prefill side of a layer-wise hand-off: push each layer of a prompt's KV as soon as the forward pass has
 * computed it. Like a NIC's transmit ring fed by the CPU as each packet is ready, rather than one DMA of the
 * whole buffer at the end. The worker plugs in its transfer agent (AgentKvPusher).
 */
export interface KvLayerPusher {
  /**
   * Layer `layer` of the request's prompt KV is final in `blockIds` (the prompt's blocks, in order): push it
   * to `agent` (the decode worker) now, or once its destination arrives. Called between layers of a forward
   * pass: it must return at once.
   */
  layerDone(requestId: RequestId, agent: string, layer: number, blockIds: readonly BlockId[]): void;
  /**
   * The request's prefill finished: push every layer not pushed yet (an executor without per-layer
   * progress pushes them all here); resolves once every push settled, when the blocks may be freed. Never
   * rejects (a failed push tells the decode worker, which prefills locally).
   */
  finish(requestId: RequestId, agent: string, blockIds: readonly BlockId[]): Promise<void>;
  /**
   * Resolves once the decode worker's destination for the request has arrived, or after the pusher's bound;
   * never rejects. The engine waits for it before it schedules the prompt: a forward pass blocks the event
   * loop, so a destination arriving during it would be read only after it, with every layer already done.
   */
  awaitDestination(requestId: RequestId, agent: string): Promise<void>;
  /** The request was aborted before it finished: forget it (pushes in flight still settle on their own). */
  forget(requestId: RequestId): void;
}

/**
 * The prefill side's optional port (vLLM's connector, prefill side): make a held request's blocks readable
 * without this process's help while the hold lasts, like a file server pinning pages in a shared cache.
 * The worker plugs in its transfer agent's shm mirror: `stage` copies the blocks once, off the decode
 * worker's READ path; `unstage` is called before the blocks are freed (release, expiry, shutdown), so a
 * mirror never serves a block that was given to another request. Both return at once: the stager does its
 * I/O in the background and orders an unstage after the stage it undoes.
 */
export interface KvHoldStager {
  stage(requestId: RequestId, blockIds: readonly BlockId[]): void;
  unstage(requestId: RequestId, blockIds: readonly BlockId[]): void;
}
