/**
 * The frontend's half of disaggregated serving (docs/design-notes.md#disaggregation, vLLM NixlConnector
 * style): once RoutedEngine has picked the decode worker, decide whether the prompt is computed there or
 * on a prefill worker, and when remote, run the prefill and hand back the request the decode worker gets.
 *
 *   decode worker chosen (router.route → overlapBlocks × blockSize = cachedOnDecode)
 *     └─ decideDisaggregation(promptTokens, cachedOnDecode, prefillQueue, prefillWorkers)
 *          local  → the request unchanged (aggregated path)
 *          remote → prefillRouter.route → generate {…, maxTokens 1, kvTransfer {doRemoteDecode}} on it
 *                   → its last output's kvTransferParams → {…, kvTransfer {doRemotePrefill: params}}
 *
 * The prefill worker's sampled token is never streamed: the decode worker recomputes the prompt's last
 * token and samples the first output token itself, so outputs equal aggregated serving.
 *
 * The prefill queue is this frontend's own count: the prefill router's in-flight ledger (a request enters
 * it at `prefillRouter.route` and leaves at `finishRequest` when the prefill worker answers), read at the
 * least-loaded prefill worker that can take work (not quarantined, not busy). Like a TCP offload engine's
 * submission ring depth: it counts what was handed over and not yet completed.
 *
 * A remote prefill never loses a request. Whatever goes wrong with the prefill worker (refused connection,
 * 'unavailable', a dropped stream, an answer without kvTransferParams) quarantines it in the prefill router,
 * logs a warning, counts `dynamo_frontend_remote_prefill_failures_total{reason}`, and the decode worker
 * gets the plain request (local prefill). Only the client's own cancel propagates.
 */
import type { EngineOutput, EngineRequest } from '../protocols/engine.ts';
import type { SequenceHash, WorkerId } from '../protocols/ids.ts';
import type {
  KvHandOffMode,
  KvPushTarget,
  KvTransferParams,
  KvTransferRequest,
} from '../protocols/kv-transfer.ts';
import { RemoteErrorCode } from '../protocols/request-plane.ts';
import { GENERATE_ENDPOINT } from '../protocols/worker-endpoints.ts';
import {
  AllWorkersBusyError,
  type DisaggDecision,
  type DisaggPolicyOptions,
  decideDisaggregation,
  NoWorkersError,
  type Router,
} from '../router/index.ts';
import {
  ConnectError,
  RemoteError,
  type RequestPlane,
  StreamDisconnectedError,
} from '../runtime/request-plane/index.ts';
import type { Logger } from '../util/logger.ts';
import type { FrontendMetrics } from './metrics.ts';
import { checkOutput, MalformedWorkerOutputError } from './worker-output.ts';

export interface RemotePrefillOptions {
  /** The model's name (metrics label). */
  model: string;
  /** The model's prefill workers (cards with modelType 'prefill'). */
  prefillRouter: Router;
  plane: RequestPlane;
  blockSize: number;
  policy: DisaggPolicyOptions;
  /** whole: prefill, then the decode worker pulls (default); layerwise: both at once, the prefill pushes. */
  mode?: KvHandOffMode;
  metrics?: FrontendMetrics;
}

/** Where the decode worker was chosen, and how much of the prompt it is expected to have cached. */
export interface DecodeChoice {
  workerId: WorkerId;
  overlapBlocks: number;
}

/** Why a remote prefill did not deliver (the failure metric's `reason` label). */
export type PrefillFailureReason =
  | 'connect'
  | 'unavailable'
  | 'disconnected'
  | 'malformed'
  | 'no_prefill_worker'
  | 'error';

/** The outcome of one request's hand-off: the decision, and the transfer params when the prefill delivered. */
export interface HandOff {
  decision: DisaggDecision;
  prefillWorker?: WorkerId;
  params?: KvTransferParams;
  /** Layer-wise: the prefill worker now pushing the prompt's KV (send the decode worker pushedRequestOf). */
  pushFrom?: WorkerId;
}

export class RemotePrefill {
  constructor(private readonly options: RemotePrefillOptions) {}

  /**
   * Decide for `request` on the chosen decode worker and, when remote, prefill it on a prefill worker.
   * Returns the transfer params to send the decode worker, or none (local prefill). Throws only when
   * `signal` aborted (the client left).
   */
  async handOff(
    request: EngineRequest,
    blockHashes: readonly SequenceHash[],
    decode: DecodeChoice,
    signal: AbortSignal | undefined,
    log: Logger,
  ): Promise<HandOff> {
    const { decision, fields } = this.decide(request, decode);
    // At info once the model has prefill workers: then every request's path is worth a line.
    const level = decision.remote || this.options.prefillRouter.size > 0 ? 'info' : 'debug';
    if (!decision.remote) {
      log[level]('disaggregation decision', fields);
      return { decision };
    }
    let prefillWorker: WorkerId;
    try {
      prefillWorker = this.options.prefillRouter.route({
        requestId: request.requestId,
        tokenIds: request.promptTokenIds,
        blockHashes,
        sessionId: request.sessionId,
      }).workerId;
    } catch (err) {
      log[level]('disaggregation decision', fields);
      this.failed(err, undefined, log);
      return { decision };
    }
    const mode = this.options.mode === 'layerwise' ? { mode: 'layerwise' } : {};
    log[level]('disaggregation decision', { ...fields, prefillWorker, ...mode });
    if (this.options.mode === 'layerwise') {
      // Both hops at once: the prefill pushes each layer into the blocks the decode worker allocates.
      void this.pushPrefill(request, prefillWorker, decode.workerId, signal, log);
      return { decision, prefillWorker, pushFrom: prefillWorker };
    }
    let outcome: 'done' | 'failed' = 'failed'; // a failed prefill computed nothing worth predicting
    try {
      const params = await this.prefill(request, prefillWorker, signal);
      outcome = 'done';
      log.debug('remote prefill done', {
        prefillWorker,
        remoteBlocks: params.remoteBlockIds.length,
        numTokens: params.numTokens,
      });
      return { decision, prefillWorker, params };
    } catch (err) {
      if (signal?.aborted) throw err;
      this.failed(err, prefillWorker, log);
      return { decision, prefillWorker };
    } finally {
      this.options.prefillRouter.finishRequest(request.requestId, outcome);
    }
  }

  /**
   * Layer-wise: run the prompt on the prefill worker, which pushes each layer to the decode worker's agent
   * (the decode worker's instance id). In the background: the decode stream is the request's answer; a
   * failure here is counted and quarantines the worker, and the decode worker prefills locally once the
   * prefill worker tells it, or its wait times out.
   */
  private async pushPrefill(
    request: EngineRequest,
    prefillWorker: WorkerId,
    decodeWorker: WorkerId,
    signal: AbortSignal | undefined,
    log: Logger,
  ): Promise<void> {
    let outcome: 'done' | 'failed' = 'failed';
    try {
      await this.prefill(request, prefillWorker, signal, { agent: String(decodeWorker) });
      outcome = 'done';
    } catch (err) {
      if (!signal?.aborted) this.failed(err, prefillWorker, log);
    } finally {
      this.options.prefillRouter.finishRequest(request.requestId, outcome);
    }
  }

  /** The policy's verdict for this request on its decode worker (counted), and its log fields. */
  private decide(request: EngineRequest, decode: DecodeChoice) {
    const promptTokens = request.promptTokenIds.length;
    const queue = this.prefillQueue();
    const decision = decideDisaggregation(
      {
        promptTokens,
        cachedOnDecode: Math.min(promptTokens, decode.overlapBlocks * this.options.blockSize),
        prefillQueueSize: queue.size,
        prefillWorkers: queue.workers,
      },
      this.options.policy,
    );
    this.options.metrics?.disaggDecision(this.options.model, decision.reason);
    const fields = {
      remote: decision.remote,
      reason: decision.reason,
      uncachedTokens: decision.uncachedTokens,
      prefillQueue: queue.size,
      promptTokens,
      decodeWorker: decode.workerId,
    };
    return { decision, fields };
  }

  /**
   * Remote prefills in flight at the least-queued prefill worker that can take work, and how many such
   * workers there are (quarantined and busy ones cannot: 0 of them = serve locally).
   */
  prefillQueue(): { size: number; workers: number } {
    const router = this.options.prefillRouter;
    let size = Number.POSITIVE_INFINITY;
    let workers = 0;
    for (const { workerId } of router.workers) {
      if (router.isQuarantined(workerId) || router.isBusy(workerId)) continue;
      workers++;
      size = Math.min(size, router.active.counts(workerId).requests);
    }
    return { size: workers === 0 ? 0 : size, workers };
  }

  /** Run the prompt on the prefill worker: one token, blocks held; returns where they are held. */
  private async prefill(
    request: EngineRequest,
    workerId: WorkerId,
    signal: AbortSignal | undefined,
    pushTo?: KvPushTarget,
  ): Promise<KvTransferParams> {
    const router = this.options.prefillRouter;
    const address = router.addressOf(workerId);
    if (address === undefined) throw new ConnectError('(none)', `prefill worker ${workerId} left the pool`);
    const prefillRequest = prefillRequestOf(request, pushTo);
    let last: EngineOutput | undefined;
    const items = this.options.plane.call(address, GENERATE_ENDPOINT, prefillRequest, {
      signal,
      requestId: request.requestId,
    });
    for await (const item of items) last = checkOutput(item, workerId);
    if (last?.kvTransferParams === undefined) {
      throw new MalformedWorkerOutputError(
        `prefill worker ${workerId} finished request ${request.requestId} ` +
          `(finishReason ${last?.finishReason ?? 'none'}) without kvTransferParams on its last output; ` +
          'check that it runs with --role prefill and the same version as the frontend',
      );
    }
    return last.kvTransferParams;
  }

  /** Quarantine (when the worker is at fault), log and count a prefill that did not deliver. */
  private failed(err: unknown, workerId: WorkerId | undefined, log: Logger): void {
    const reason = failureReason(err);
    const quarantined = workerId !== undefined && reason !== 'error' && reason !== 'no_prefill_worker';
    if (quarantined) this.options.prefillRouter.quarantine(workerId);
    this.options.metrics?.remotePrefillFailure(this.options.model, reason);
    log.warn('remote prefill failed: prefilling locally on the decode worker', {
      prefillWorker: workerId,
      reason,
      quarantined,
      error: (err as Error)?.message ?? String(err),
    });
  }
}

/** What the prefill worker gets: the prompt, one token to sample, "hold the blocks for a decode worker". */
export function prefillRequestOf(request: EngineRequest, pushTo?: KvPushTarget): EngineRequest {
  const { minTokens: _minTokens, ...stopping } = request.stopping;
  const { logprobs: _logprobs, ...rest } = request;
  const kvTransfer: KvTransferRequest =
    pushTo === undefined ? { doRemoteDecode: true } : { doRemoteDecode: true, pushTo };
  return { ...rest, stopping: { ...stopping, maxTokens: 1 }, kvTransfer };
}

/** What the decode worker gets in layer-wise mode: "allocate, tell that prefill worker where, wait for it". */
export function pushedRequestOf(request: EngineRequest, prefillWorker: WorkerId): EngineRequest {
  return { ...request, kvTransfer: { awaitKvPush: { remoteAgent: String(prefillWorker) } } };
}

/** What the decode worker gets after a remote prefill: the same request, "pull the prompt's KV from there". */
export function decodeRequestOf(request: EngineRequest, params: KvTransferParams): EngineRequest {
  return { ...request, kvTransfer: { doRemotePrefill: params } };
}

export function failureReason(err: unknown): PrefillFailureReason {
  if (err instanceof ConnectError) return 'connect';
  if (err instanceof RemoteError && err.code === RemoteErrorCode.Unavailable) return 'unavailable';
  if (err instanceof StreamDisconnectedError) return 'disconnected';
  if (err instanceof MalformedWorkerOutputError) return 'malformed';
  if (err instanceof NoWorkersError || err instanceof AllWorkersBusyError) return 'no_prefill_worker';
  return 'error';
}
