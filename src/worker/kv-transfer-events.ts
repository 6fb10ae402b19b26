/**
 * Turns the engine's KV-transfer events into the worker's `kv_transfer_*` metrics, like a NIC driver's
 * completion handler bumping its counters. The log lines are written where the facts are: the connector
 * logs each pull (it knows the peer and the transport), the engine logs each fallback, hold and expiry.
 */
import type { EngineCore, KvTransferEvent } from '../engine/index.ts';
import {
  BlockRangeError,
  LayoutMismatchError,
  PeerClosedError,
  TransferTimeoutError,
  UnknownAgentError,
  UnknownRegionError,
} from '../transfer/index.ts';
import { HeldKvExpiredError } from './agent-kv-connector.ts';
import { KvPushFailedError } from './kv-push-inbox.ts';
import type { KvTransferMetrics } from './kv-transfer-metrics.ts';

/** The `reason` label of a failed pull's fallback: what an operator checks first. */
export function fallbackReason(error: unknown): string {
  for (let e: unknown = error, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    if (e instanceof UnknownAgentError) return 'peer_gone';
    if (e instanceof HeldKvExpiredError) return 'hold_expired';
    if (e instanceof KvPushFailedError) return 'push_failed';
    if (e instanceof TransferTimeoutError) return 'timeout';
    if (e instanceof LayoutMismatchError || e instanceof UnknownRegionError || e instanceof BlockRangeError)
      return 'layout_mismatch';
    if (e instanceof PeerClosedError) return 'connection';
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ECONNREFUSED' || code === 'ECONNRESET' || code === 'ENOENT' || code === 'EPIPE')
      return 'connection';
  }
  return 'error';
}

/** The fallback label of a load_failed event: the engine's own reason, or the failed pull's cause. */
function eventReason(event: Extract<KvTransferEvent, { kind: 'load_failed' }>): string {
  return event.reason === 'load_error' ? fallbackReason(event.error) : event.reason;
}

/** Subscribe the metrics to the engine's KV-transfer events; returns the unsubscribe. */
export function observeKvTransfers(engine: EngineCore, metrics: KvTransferMetrics): () => void {
  return engine.onKvTransfer((event) => {
    if (event.kind === 'loaded') metrics.pulled(event.bytes, event.ms, event.transport);
    else if (event.kind === 'load_failed') metrics.fellBack(eventReason(event));
    else if (event.kind === 'hold_expired') metrics.holdExpired();
  });
}
