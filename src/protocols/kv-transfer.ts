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
export type KvTransferRequest =
  | { doRemoteDecode: true }
  | { doRemotePrefill: KvTransferParams }
  | { doRemoteDecode: true; pushTo: KvPushTarget }
  | { awaitKvPush: KvPushSource };

/**
 * How the KV reaches the decode worker (the frontend's `--kv-transfer-mode`, replay's flag of the same name):
 * `whole`: after the prefill, the decode worker READs every block (pull); `layerwise`: during the prefill,
 * the prefill worker WRITEs each layer as soon as the forward pass has computed it (push).
 */
export type KvHandOffMode = 'whole' | 'layerwise';
export const KV_HAND_OFF_MODES: readonly KvHandOffMode[] = ['whole', 'layerwise'];

/*
 * Layer-wise hand-off (push). The frontend picks both workers and sends both hops at once, each naming the
 * other's agent; the two workers then talk directly through their transfer agents:
 *
 *   frontend ── generate {kvTransfer {awaitKvPush {remoteAgent P}}} ──▶ decode worker D
 *            ── generate {maxTokens 1, kvTransfer {doRemoteDecode, pushTo {agent D}}} ──▶ prefill worker P
 *   D: admits, allocates (own prefix cache first), request `loading` ── notif "kv-dest:{id}:{json}" ──▶ P
 *   P: forward pass, after layer l ── WRITE layers [l, l+1) of the prompt blocks, notif "kv-layer:{id}:{l}" ──▶ D
 *   D: every layer landed → running: computes the last prompt token, samples, decodes
 *   P: a push failed ── notif "kv-push-failed:{id}" ──▶ D (prefills locally)
 */

/** Prefill side of a layer-wise hand-off: whom to push to (the decode worker's agent). */
export interface KvPushTarget {
  agent: string;
}

/** Decode side of a layer-wise hand-off: whom the destination goes to, and how long to wait. */
export interface KvPushSource {
  /** The prefill worker's transfer agent. */
  remoteAgent: string;
}

/**
 * Where the decode worker wants a prompt's KV, sent decode → prefill once it has allocated the blocks:
 * logical blocks [firstBlock, firstBlock + blockIds.length) of the prompt go to `blockIds`.
 */
export interface KvDestination {
  /** The decode worker's agent and region. */
  agent: string;
  region: string;
  /** The decode worker's own prefix-cache hit, in blocks: the prefill worker skips those. */
  firstBlock: number;
  blockIds: number[];
  /** Prompt tokens the decode worker already had (firstBlock × block size). */
  numCachedTokens: number;
  /**
   * How long from receipt the prefill worker may still START a write (each write's timeout ends there too);
   * the decode worker gives up a grace period after that and reuses the blocks.
   */
  ttlMs: number;
}

export function destinationNotification(requestId: string, destination: KvDestination): string {
  return `kv-dest:${requestId}:${JSON.stringify(destination)}`;
}

export function layerNotification(requestId: string, layer: number): string {
  return `kv-layer:${requestId}:${layer}`;
}

export function pushFailedNotification(requestId: string): string {
  return `kv-push-failed:${requestId}`;
}

/** A layer-wise control message (a notification between agents), or undefined for any other message. */
export type PushNotification =
  | { kind: 'destination'; requestId: string; destination: KvDestination }
  | { kind: 'layer'; requestId: string; layer: number }
  | { kind: 'push_failed'; requestId: string };

/** Parse a layer-wise notification; a malformed one (wrong version, bug) is undefined, never a throw. */
export function parsePushNotification(message: string): PushNotification | undefined {
  const colon = message.indexOf(':');
  if (colon < 0) return undefined;
  const kind = message.slice(0, colon);
  const rest = message.slice(colon + 1);
  if (kind === 'kv-push-failed') return { kind: 'push_failed', requestId: rest };
  // Request ids may contain ':'; the layer number and the JSON destination follow the LAST id character.
  if (kind === 'kv-layer') {
    const at = rest.lastIndexOf(':');
    const layer = Number(rest.slice(at + 1));
    if (at < 0 || !isCount(layer)) return undefined;
    return { kind: 'layer', requestId: rest.slice(0, at), layer };
  }
  if (kind === 'kv-dest') {
    const at = rest.indexOf(':{');
    if (at < 0) return undefined;
    let destination: unknown;
    try {
      destination = JSON.parse(rest.slice(at + 1));
    } catch {
      return undefined;
    }
    if (explainKvDestination(destination) !== undefined) return undefined;
    return { kind: 'destination', requestId: rest.slice(0, at), destination: destination as KvDestination };
  }
  return undefined;
}

/** Why `value` is not a KvDestination (undefined when it is). */
export function explainKvDestination(value: unknown): string | undefined {
  if (!isPlainObject(value)) return 'a KV destination must be an object';
  if (!isName(value.agent)) return 'destination.agent must be a non-empty string';
  if (!isName(value.region)) return 'destination.region must be a non-empty string';
  if (!isCount(value.firstBlock)) return 'destination.firstBlock must be a block index';
  if (!Array.isArray(value.blockIds) || !value.blockIds.every(isCount))
    return 'destination.blockIds must be an array of block ids';
  if (!isCount(value.numCachedTokens)) return 'destination.numCachedTokens must be a token count';
  if (!isCount(value.ttlMs)) return 'destination.ttlMs must be a duration in ms';
  return undefined;
}

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
  if (keys.length === 2 && value.doRemoteDecode === true && 'pushTo' in value)
    return isPlainObject(value.pushTo) && isName(value.pushTo.agent)
      ? undefined
      : 'kvTransfer.pushTo.agent must be a non-empty string';
  if (keys.length === 1 && 'awaitKvPush' in value)
    return isPlainObject(value.awaitKvPush) && isName(value.awaitKvPush.remoteAgent)
      ? undefined
      : 'kvTransfer.awaitKvPush.remoteAgent must be a non-empty string';
  return (
    'kvTransfer must be {doRemoteDecode: true}, {doRemotePrefill: KvTransferParams}, ' +
    '{doRemoteDecode: true, pushTo: {agent}} or {awaitKvPush: {remoteAgent}}'
  );
}
