/**
 * The disaggregated hand-off, as it travels inside an EngineRequest and an EngineOutput: vLLM's
 * `kv_transfer_params` (NixlConnector), in our names. docs/design-notes.md#disaggregation has the flow.
 *
 *   frontend ── generate {prompt, maxTokens 1, kvTransfer {doRemoteDecode}} ──▶ prefill worker
 *            ◀── last output {..., kvTransferParams {remoteAgent, remoteBlockIds, ...}} ──
 *            ── generate {prompt, kvTransfer {doRemotePrefill: params}} ──▶ decode worker
 *                                             decode worker ── READ blocks, notif "release" ──▶ prefill
 *
 * Like a DMA hand-off between two NICs: the control message (this record) says where the bytes are; the
 * bytes themselves move on the transfer agents' data connections, never through the frontend.
 *
 * The decode side recomputes the prompt's LAST token itself (vLLM does the same), so it samples the first
 * output token with its own sampler and RNG: greedy and seeded outputs are the same as aggregated serving,
 * and the prefill worker's sampled token is only informational.
 */

/** Where a prompt's KV lives on the prefill worker, and how long it stays there. */
export interface KvTransferParams {
  /** The prefill worker's transfer agent (its name: the worker's instance id). */
  remoteAgent: string;
  /** The registered region holding the blocks on the prefill side (the KV block pool, "kv"). */
  remoteRegion: string;
  /** The request id the prefill worker holds the blocks under: the "release" notification names it. */
  remoteRequestId: string;
  /** Physical block ids of the prompt on the prefill side, in prompt order (its block table). */
  remoteBlockIds: number[];
  /** Prompt tokens whose K/V those blocks hold (the whole prompt). */
  numTokens: number;
  /** The token the prefill worker sampled (informational: decode samples its own first token). */
  firstTokenId: number;
  /** Wall-clock ms (Date.now()) after which the prefill worker frees the blocks if nobody read them. */
  expiresAtMs: number;
}

/**
 * What a request asks of the disaggregation machinery:
 * - `doRemoteDecode`: "you are the prefill worker": compute the prompt, keep its blocks after finishing,
 *   and answer with `kvTransferParams` on the last output.
 * - `doRemotePrefill`: "you are the decode worker": pull the prompt's KV from the prefill worker (what
 *   your own prefix cache lacks), then decode. If the pull fails, prefill locally: never lose the request.
 */
export type KvTransferRequest = { doRemoteDecode: true } | { doRemotePrefill: KvTransferParams };

/** The notification a decode worker sends the prefill worker once it has read the blocks. */
export function releaseNotification(remoteRequestId: string): string {
  return `release:${remoteRequestId}`;
}

/** The request id in a release notification, or undefined for any other message. */
export function parseReleaseNotification(message: string): string | undefined {
  return message.startsWith('release:') ? message.slice('release:'.length) : undefined;
}

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const isName = (v: unknown): v is string => typeof v === 'string' && v.length > 0;

/** Why `value` is not KvTransferParams (undefined when it is). */
export function explainKvTransferParams(value: unknown): string | undefined {
  if (!isPlainObject(value)) return 'kvTransferParams must be an object';
  if (!isName(value.remoteAgent)) return 'kvTransferParams.remoteAgent must be a non-empty string';
  if (!isName(value.remoteRegion)) return 'kvTransferParams.remoteRegion must be a non-empty string';
  if (!isName(value.remoteRequestId)) return 'kvTransferParams.remoteRequestId must be a non-empty string';
  if (!Array.isArray(value.remoteBlockIds) || !value.remoteBlockIds.every(isCount))
    return 'kvTransferParams.remoteBlockIds must be an array of block ids (non-negative integers)';
  if (!isCount(value.numTokens) || value.numTokens < 1)
    return 'kvTransferParams.numTokens must be a positive integer';
  if (!isCount(value.firstTokenId)) return 'kvTransferParams.firstTokenId must be a token id';
  if (!isCount(value.expiresAtMs)) return 'kvTransferParams.expiresAtMs must be a timestamp in ms';
  return undefined;
}

/** Why `value` is not a KvTransferRequest (undefined when it is). */
export function explainKvTransferRequest(value: unknown): string | undefined {
  if (!isPlainObject(value)) return 'kvTransfer must be an object';
  const keys = Object.keys(value);
  if (keys.length === 1 && value.doRemoteDecode === true) return undefined;
  if (keys.length === 1 && 'doRemotePrefill' in value) return explainKvTransferParams(value.doRemotePrefill);
  return 'kvTransfer must be {doRemoteDecode: true} or {doRemotePrefill: KvTransferParams}';
}
