/**
 * Turns the engine's KV-transfer events into the worker's metrics and log lines: one line per hold,
 * release, expiry and fallback, each with the request id (the pull itself is logged by the connector,
 * which knows the peer and the transport). Like a NIC driver's event handler that bumps counters and
 * writes the interesting events to the kernel log.
 */
import type { EngineCore } from '../engine/index.ts';
import {
  LayoutMismatchError,
  PeerClosedError,
  TransferTimeoutError,
  UnknownAgentError,
  UnknownRegionError,
  BlockRangeError,
} from '../transfer/index.ts';
import type { Logger } from '../util/logger.ts';
import { HeldKvExpiredError } from './agent-kv-connector.ts';
import type { KvTransferMetrics } from './kv-transfer-metrics.ts';

/** The `reason` label of a fallback: what an operator checks first. */
export function fallbackReason(error: unknown): string {
  for (let e: unknown = error, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    if (e instanceof UnknownAgentError) return 'peer_gone';
    if (e instanceof HeldKvExpiredError) return 'hold_expired';
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

/** Subscribe to the engine's KV-transfer events; returns the unsubscribe. */
export function observeKvTransfers(engine: EngineCore, metrics: KvTransferMetrics, log: Logger): () => void {
  return engine.onKvTransfer((event) => {
    switch (event.kind) {
      case 'loaded':
        metrics.pulled(event.bytes, event.ms);
        return;
      case 'load_failed': {
        const reason = fallbackReason(event.error);
        metrics.fellBack(reason);
        log.warn('kv transfer failed: prefilling the prompt locally', {
          requestId: event.requestId,
          reason,
          error: event.error,
        });
        return;
      }
      case 'held':
        log.debug('holding KV blocks for a decode worker', {
          requestId: event.requestId,
          blocks: event.blocks,
        });
        return;
      case 'released':
        log.debug('released held KV blocks', { requestId: event.requestId, blocks: event.blocks });
        return;
      case 'hold_expired':
        metrics.holdExpired();
        log.warn('held KV blocks expired before a decode worker pulled them: freed', {
          requestId: event.requestId,
          blocks: event.blocks,
        });
        return;
    }
  });
}
