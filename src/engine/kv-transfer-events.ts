/**
 * What the engine reports about disaggregated serving, for the worker's `dynamo_component_kv_transfer_*`
 * metrics and logs. Like a NIC driver's completion events: the data path (the KvConnector) moves the
 * bytes; these say what happened to each request's KV, once, when it happened.
 *
 *   decode side:  loaded (pulled, with bytes and ms) | load_failed (the request prefills locally)
 *   prefill side: held → released (the decode worker's notification, or shutdown) | hold_expired
 */
import type { RequestId } from '../protocols/ids.ts';

/** Why a decode-side request prefilled locally (the worker's fallback metric label). */
export type KvLoadFailureReason = 'no_connector' | 'invalid_params' | 'load_error';

export type KvTransferEvent =
  | {
      kind: 'loaded';
      requestId: RequestId;
      bytes: number;
      ms: number;
      numTokens: number;
      transport?: string;
    }
  | { kind: 'load_failed'; requestId: RequestId; error: Error; reason: KvLoadFailureReason }
  | { kind: 'held'; requestId: RequestId; blocks: number }
  | { kind: 'released'; requestId: RequestId; blocks: number }
  | { kind: 'hold_expired'; requestId: RequestId; blocks: number };

export type KvTransferListener = (event: KvTransferEvent) => void;
