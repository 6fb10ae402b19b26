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
