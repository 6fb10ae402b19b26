/**
 * RoutedEngine: one model's workers behind the `InferenceEngine` interface, so the HTTP routes cannot tell
 * a remote fleet from a local engine. Per request: hash the prompt's blocks (once per request), ask the
 * router for a worker, call its `generate` endpoint over the request plane, stream the tokens back, and
 * keep the router's in-flight ledger right (prefill done at the first token, finished at the end, error
 * or cancel).
 *
 * The router owns the workers (membership, addresses, load, quarantine, busy threshold); this module keeps
 * only what belongs to one request: which workers it already tried, the tokens streamed so far, retries
 * and migrations. It reports a failed worker to the router (`router.quarantine`) and asks for a worker
 * excluding the ones already tried.
 *
 * Systems analogy: a reverse proxy's upstream module with `proxy_next_upstream`. Failures are handled by
 * what they mean (runtime/request-plane/errors.ts):
 *
 *   ConnectError, RemoteError 'unavailable'   nothing reached the worker: the router quarantines it; try
 *                                              another (not a migration: no work was lost; once per worker)
 *   StreamDisconnectedError                    the worker died mid-request: MIGRATE (up to migrationLimit):
 *                                              re-send prompt + tokens streamed so far, max_tokens reduced,
 *                                              to another worker; the client sees one unbroken stream
 *   RemoteError 'invalid_request'              the engine refused the request: a 400 for the client
 *   anything else                              reported (500, or an SSE error event mid-stream)
 *
 *   client ─► generate(req) ─► route ─► call(worker A) ─► t1 t2 t3 ✕ (A died)
 *                                   └─► route(exclude A) ─► call(worker B, prompt+t1..t3, max−3) ─► t4 … tN
 *
 * Disaggregated serving (remote-prefill.ts): when the model has prefill workers, the first attempt's decode
 * worker is chosen as above, then RemotePrefill decides local or remote and, when remote, prefills on a
 * prefill worker; the decode worker gets `kvTransfer {doRemotePrefill: params}`. A retry after the decode
 * worker refused the request (nothing reached it, the held blocks were not read) reuses those params on
 * the next decode worker; a MIGRATION after a mid-stream death sends a plain continuation (the dead
 * worker may have read, and released, the held blocks; the new worker prefills prompt + streamed tokens
 * locally, which is what aggregated migration does too).
 */
import type {
  EngineModelInfo,
  EngineOutput,
  EngineRequest,
  GenerateOptions,
  InferenceEngine,
} from '../protocols/engine.ts';
import type { WorkerId } from '../protocols/ids.ts';
import type { KvHandOffMode, KvTransferParams } from '../protocols/kv-transfer.ts';
import { RemoteErrorCode } from '../protocols/request-plane.ts';
import { GENERATE_ENDPOINT } from '../protocols/worker-endpoints.ts';
import { DISAGG_DEFAULTS, type DisaggPolicyOptions, type RouteResult, type Router } from '../router/index.ts';
import {
  ConnectError,
  RemoteError,
  type RequestPlane,
  StreamDisconnectedError,
} from '../runtime/request-plane/index.ts';
import { InvalidRequestError } from '../util/errors.ts';
import { getLogger, type Logger } from '../util/logger.ts';
import type { AdmissionQueue } from './admission.ts';
import type { FrontendMetrics } from './metrics.ts';
import { decodeRequestOf, pushedRequestOf, RemotePrefill } from './remote-prefill.ts';
import { checkOutput } from './worker-output.ts';
import { RequestBlockHashes } from './request-block-hashes.ts';

export { MalformedWorkerOutputError } from './worker-output.ts';

export interface RoutedEngineOptions {
  info: EngineModelInfo;
  /** The model's router: it owns the workers; this engine only asks it for one per attempt. */
  router: Router;
  plane: RequestPlane;
  /** The model card's `kvCacheBlockSize`: block hashes must match the workers' caches. */
  blockSize: number;
  /** Mid-stream worker failures one request may survive (Dynamo `--migration-limit`, default 0). */
  migrationLimit?: number;
  /** The model's prefill workers (disaggregated serving); absent = always aggregated. */
  prefillRouter?: Router;
  /** --max-local-prefill-length, --max-prefill-queue-size (default DISAGG_DEFAULTS). */
  disagg?: DisaggPolicyOptions;
  /** --kv-transfer-mode: whole (default) or layerwise. */
  kvTransferMode?: KvHandOffMode;
  /** Disaggregation decision and remote prefill failure counters. */
  metrics?: FrontendMetrics;
  /**
   * Where a request waits while every worker is busy (`--max-queued-requests`); absent = busy is a 503 at
   * once. Told when each request ends, so the next one in line can go.
   */
  admission?: AdmissionQueue;
  log?: Logger;
}

/** Per request: what has been streamed so far, which workers failed it, and its block hashes. */
interface RequestProgress {
  generated: number[];
  failed: Set<WorkerId>;
  /** The request's block hashes, extended as a migration appends streamed tokens: each block hashed once. */
  hashes: RequestBlockHashes;
  migrations: number;
  /** The first worker's prefix-cache hit, reported for the whole request (a migration re-sends outputs). */
  cachedTokens: number | undefined;
  /** Whether the disaggregation decision was made (once per request, on its first decode worker). */
  handedOff: boolean;
  /** Outputs received over all attempts (an attempt that received one had its prompt computed). */
  streamed: number;
  /** Where a remote prefill holds the prompt's KV, while a decode worker may still read it. */
  transfer: KvTransferParams | undefined;
  /** The worker that delivered the request's final output (stop or length), once one has. */
  finishedOn?: WorkerId;
}

export class RoutedEngine implements InferenceEngine {
  readonly info: EngineModelInfo;
  private readonly migrationLimit: number;
  private readonly log: Logger;
  private readonly remotePrefill: RemotePrefill | undefined;

  constructor(private readonly options: RoutedEngineOptions) {
    this.info = options.info;
    this.migrationLimit = options.migrationLimit ?? 0;
    this.log = options.log ?? getLogger('frontend');
    if (options.prefillRouter) {
      this.remotePrefill = new RemotePrefill({
        model: options.info.name,
        prefillRouter: options.prefillRouter,
        plane: options.plane,
        blockSize: options.blockSize,
        policy: options.disagg ?? DISAGG_DEFAULTS,
        mode: options.kvTransferMode ?? 'whole',
        metrics: options.metrics,
      });
    }
  }

  async *generate(
    request: EngineRequest,
    signal?: AbortSignal,
    options?: GenerateOptions,
  ): AsyncGenerator<EngineOutput> {
    const batch = options?.wholeOutput === true;
    const log = this.log.child({ requestId: request.requestId });
    const progress: RequestProgress = {
      generated: [],
      failed: new Set(),
      hashes: new RequestBlockHashes(this.options.blockSize),
      migrations: 0,
      cachedTokens: undefined,
      handedOff: false,
      streamed: 0,
      transfer: undefined,
    };
    for (;;) {
      const attempt = continuation(request, progress.generated);
      let route: RouteResult;
      try {
        route = await this.pick(attempt, progress, signal);
      } catch (err) {
        // Cancelled while waiting in the router or admission queue: nothing was sent anywhere.
        if (signal?.aborted) return;
        throw err;
      }
      this.options.metrics?.routed(this.info.name, request.requestId, route, attempt.promptTokenIds.length);
      const workerId = route.workerId;
      const address = this.options.router.addressOf(workerId) ?? `(unknown address of ${workerId})`;
      if (log.isEnabled('debug')) {
        log.debug('routed', { workerId, address, promptTokens: attempt.promptTokenIds.length });
      }
      // Whether this attempt's prompt was computed on the worker (its first token came back): then its
      // blocks are cached there and the router keeps predicting them until their KV events arrive.
      const streamedBefore = progress.streamed;
      let outcome: 'done' | 'failed' = 'failed';
      try {
        const sent = await this.handOff(attempt, route, progress, signal, log);
        // The attempt's loop lives here rather than in a nested generator: one async layer less per token.
        let received = 0;
        for await (const item of this.call(sent, workerId, address, signal, batch)) {
          yield this.accept(item, sent, workerId, progress, received++ === 0);
        }
        outcome = 'done';
        return;
      } catch (err) {
        if (signal?.aborted) {
          if (progress.streamed > streamedBefore) outcome = 'done';
          return;
        }
        this.recover(err, workerId, progress, log);
      } finally {
        // A consumer stops iterating at the final output, so the code after `yield*` may never run: an
        // attempt that delivered its finish is done (its blocks are cached on the worker).
        if (progress.finishedOn === workerId) {
          outcome = 'done';
          this.options.metrics?.served(workerId, request.promptTokenIds.length, progress.cachedTokens ?? 0);
        }
        this.options.router.finishRequest(request.requestId, outcome, progress.generated.length);
        this.options.admission?.release();
      }
    }
  }

  async close(): Promise<void> {
    // Workers own their engines; the request plane is the frontend's to close.
  }

  /**
   * Ask the router for a worker this request has not tried. The router skips quarantined and busy workers
   * and throws NoWorkersError (none left) or AllWorkersBusyError; with an admission queue, a busy answer
   * waits in line (429 when the line is full) instead of failing.
   */
  private pick(
    request: EngineRequest,
    progress: RequestProgress,
    signal: AbortSignal | undefined,
  ): Promise<RouteResult> {
    const router = this.options.router;
    const input = {
      requestId: request.requestId,
      tokenIds: request.promptTokenIds,
      blockHashes: progress.hashes.of(request.promptTokenIds),
      sessionId: request.sessionId,
      exclude: [...progress.failed],
    };
    const route = (): RouteResult => router.route(input);
    const admitted = (): Promise<RouteResult> => {
      if (this.options.admission) return this.options.admission.admit(route, signal);
      try {
        return Promise.resolve(route());
      } catch (err) {
        return Promise.reject(err);
      }
    };
    if (router.queue === undefined) return admitted();
    // The router queue (--router-queue-threshold): route when a worker has room; a client that leaves while
    // its request waits there takes it out of the line.
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise<RouteResult>((resolve, reject) => {
      const onAbort = (): void => {
        if (router.cancelQueued(request.requestId)) reject(signal?.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      router.admit(input, () => {
        signal?.removeEventListener('abort', onAbort);
        admitted().then(resolve, reject);
      });
    });
  }

  /**
   * The request this attempt sends its decode worker: on the first attempt, the disaggregation decision
   * (and the remote prefill when remote); on a retry, the same transfer params if a prefill delivered
   * some and no decode worker may have read them yet; else the attempt unchanged (local prefill).
   */
  private async handOff(
    attempt: EngineRequest,
    route: RouteResult,
    progress: RequestProgress,
    signal: AbortSignal | undefined,
    log: Logger,
  ): Promise<EngineRequest> {
    if (this.remotePrefill && !progress.handedOff) {
      progress.handedOff = true;
      const hashes = progress.hashes.of(attempt.promptTokenIds);
      const handOff = await this.remotePrefill.handOff(attempt, hashes, route, signal, log);
      progress.transfer = handOff.params;
      // Layer-wise: the prefill runs meanwhile and pushes into this attempt's blocks; a retry prefills locally.
      if (handOff.pushFrom !== undefined) return pushedRequestOf(attempt, handOff.pushFrom);
    }
    return progress.transfer ? decodeRequestOf(attempt, progress.transfer) : attempt;
  }

  /** One attempt on one worker: its stream of outputs (sent when iterated). */
  private call(
    request: EngineRequest,
    workerId: WorkerId,
    address: string,
    signal: AbortSignal | undefined,
    batch: boolean,
  ): AsyncIterable<unknown> {
    if (!this.options.router.hasWorker(workerId)) {
      throw new ConnectError(address, `worker ${workerId} left the pool`);
    }
    return this.options.plane.call(address, GENERATE_ENDPOINT, request, {
      signal,
      requestId: request.requestId,
      ...(batch ? { batch } : {}),
    });
  }

  /** One output of an attempt, checked and recorded: what the caller sees. */
  private accept(
    item: unknown,
    request: EngineRequest,
    workerId: WorkerId,
    progress: RequestProgress,
    first: boolean,
  ): EngineOutput {
    const output = checkOutput(item, workerId);
    if (first) this.options.router.markPrefillDone(request.requestId);
    progress.streamed++;
    progress.cachedTokens ??= output.numCachedTokens;
    if (output.finishReason !== 'abort' && output.finishReason !== 'error') {
      progress.generated.push(output.tokenId);
      if (output.finishReason !== undefined) progress.finishedOn = workerId;
    }
    // The output was parsed off the wire for us alone: stamp it in place rather than copy it per token.
    output.requestId = request.requestId;
    output.numCachedTokens = progress.cachedTokens;
    return output;
  }

  /** Decide what a failed attempt means: returns to retry elsewhere, throws to give up. */
  private recover(err: unknown, workerId: WorkerId, progress: RequestProgress, log: Logger): void {
    const router = this.options.router;
    const refused =
      err instanceof ConnectError || (err instanceof RemoteError && err.code === RemoteErrorCode.Unavailable);
    if (refused) {
      progress.failed.add(workerId);
      router.quarantine(workerId);
      log.warn('worker unreachable: trying another', { workerId, error: (err as Error).message });
      return;
    }
    if (err instanceof StreamDisconnectedError) {
      progress.failed.add(workerId);
      router.quarantine(workerId);
      progress.transfer = undefined; // the dead worker may have read (and released) the held blocks
      if (progress.migrations >= this.migrationLimit) {
        log.error('worker died mid-stream and the migration limit is reached', {
          workerId,
          migrations: progress.migrations,
          migrationLimit: this.migrationLimit,
        });
        throw err;
      }
      progress.migrations++;
      this.options.metrics?.migrated(this.info.name);
      log.warn('migrating request: its worker died mid-stream', {
        fromWorker: workerId,
        tokensSoFar: progress.generated.length,
        migration: progress.migrations,
        migrationLimit: this.migrationLimit,
      });
      return;
    }
    if (err instanceof RemoteError && err.code === RemoteErrorCode.InvalidRequest) {
      throw new InvalidRequestError(
        `the worker refused the request: ${err.remoteMessage}`,
        err.param ?? null,
        null,
        {
          cause: err,
        },
      );
    }
    throw err;
  }
}

/**
 * The request to send after `generated` tokens were already streamed: those tokens join the prompt and
 * the budgets shrink by as many, so the new worker continues exactly where the old one stopped.
 */
export function continuation(request: EngineRequest, generated: readonly number[]): EngineRequest {
  if (generated.length === 0) return request;
  const n = generated.length;
  const stopping = { ...request.stopping, maxTokens: request.stopping.maxTokens - n };
  if (stopping.minTokens !== undefined) stopping.minTokens = Math.max(0, stopping.minTokens - n);
  const continued: EngineRequest = {
    ...request,
    promptTokenIds: [...request.promptTokenIds, ...generated],
    stopping,
  };
  // A constrained request resumes its grammar after the tokens already generated.
  if (request.guidedDecoding)
    continued.guidedDecoding = { ...request.guidedDecoding, acceptedTokenIds: [...generated] };
  return continued;
}
