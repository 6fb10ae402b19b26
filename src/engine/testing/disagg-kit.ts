/**
 * Test kit: disaggregated serving between two engines in one process, the way the frontend drives two
 * workers (contract flow steps 3–5): the prefill engine computes the prompt with max_tokens 1 and holds
 * its blocks; the decode engine gets the hand-off and pulls what it lacks through its connector.
 */
import type { EngineOutput, EngineRequest, InferenceEngine } from '../../protocols/engine.ts';
import type { KvTransferParams } from '../../protocols/kv-transfer.ts';

export async function collect(
  engine: InferenceEngine,
  request: EngineRequest,
  signal?: AbortSignal,
): Promise<EngineOutput[]> {
  const outs: EngineOutput[] = [];
  for await (const out of engine.generate(request, signal)) outs.push(out);
  return outs;
}

export const tokenIds = (outs: readonly EngineOutput[]): number[] => outs.map((o) => o.tokenId);

/** The prefill leg of a request: one token, blocks held afterwards. */
export function prefillLeg(request: EngineRequest): EngineRequest {
  return {
    ...request,
    stopping: { ...request.stopping, maxTokens: 1, minTokens: undefined },
    kvTransfer: { doRemoteDecode: true },
  };
}

/** The decode leg: the whole request, plus where its prompt's KV is. */
export function decodeLeg(request: EngineRequest, params: KvTransferParams): EngineRequest {
  return { ...request, kvTransfer: { doRemotePrefill: params } };
}

export interface DisaggregatedRun {
  /** The prefill engine's outputs (one token; its last carries the hand-off). */
  prefill: EngineOutput[];
  params: KvTransferParams;
  /** What the client sees: the decode engine's outputs. */
  decode: EngineOutput[];
}

/** Prefill on one engine, decode on the other. Throws if the prefill leg carries no hand-off. */
export async function runDisaggregated(
  prefill: InferenceEngine,
  decode: InferenceEngine,
  request: EngineRequest,
): Promise<DisaggregatedRun> {
  const prefillOuts = await collect(prefill, prefillLeg(request));
  const params = prefillOuts.at(-1)?.kvTransferParams;
  if (params === undefined)
    throw new Error(`the prefill leg of ${request.requestId} carried no kvTransferParams`);
  const decodeOuts = await collect(decode, decodeLeg(request, params));
  return { prefill: prefillOuts, params, decode: decodeOuts };
}

/** Resolves on the event loop's next turn: lets settled promises' callbacks run (no timers involved). */
export const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** A promise with its resolve handle: a gate a test opens when it wants. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}
