/**
 * RoutedEngine: one model's workers behind the `InferenceEngine` interface, so the HTTP routes cannot tell
 * a remote fleet from a local engine. Per request: hash the prompt's blocks, ask the router for a worker,
 * call its `generate` endpoint over the request plane, stream the tokens back, and keep the router's
 * in-flight ledger right (prefill done at the first token, finished at the end, error or cancel).
 *
 * Systems analogy: a reverse proxy's upstream module with `proxy_next_upstream`. Failures are handled by
 * what they mean (runtime/request-plane/errors.ts):
 *
 *   ConnectError, RemoteError 'unavailable'   nothing reached the worker: quarantine it and try another
 *                                              (not a migration: no work was lost; at most once per worker)
 *   StreamDisconnectedError                    the worker died mid-request: MIGRATE (up to migrationLimit):
 *                                              re-send prompt + tokens streamed so far, max_tokens reduced,
 *                                              to another worker; the client sees one unbroken stream
 *   RemoteError 'invalid_request'              the engine refused the request: a 400 for the client
 *   anything else                              reported (500, or an SSE error event mid-stream)
 *
 *   client ─► generate(req) ─► route ─► call(worker A) ─► t1 t2 t3 ✕ (A died)
 *                                   └─► route(exclude A) ─► call(worker B, prompt+t1..t3, max−3) ─► t4 … tN
 */
import {
  type EngineModelInfo,
  type EngineOutput,
  type EngineRequest,
  explainEngineOutput,
  type InferenceEngine,
} from '../protocols/engine.ts';
import type { WorkerId } from '../protocols/ids.ts';
import { RemoteErrorCode } from '../protocols/request-plane.ts';
import { GENERATE_ENDPOINT } from '../protocols/worker-endpoints.ts';
import { NoWorkersError, type Router } from '../router/index.ts';
import {
  ConnectError,
  RemoteError,
  type RequestPlane,
  StreamDisconnectedError,
} from '../runtime/request-plane/index.ts';
import { computeBlockHashes } from '../tokens/block-hash.ts';
import { DhwError, InvalidRequestError } from '../util/errors.ts';
import { getLogger, type Logger } from '../util/logger.ts';
import { allWorkersBusy } from './http-errors.ts';
import type { WorkerPool } from './worker-pool.ts';

/** A worker answered with something that is not an EngineOutput (a version mismatch or a bug). */
export class MalformedWorkerOutputError extends DhwError {}

export interface RoutedEngineOptions {
  info: EngineModelInfo;
  router: Router;
  pool: WorkerPool;
  plane: RequestPlane;
  /** The model card's `kvCacheBlockSize`: block hashes must match the workers' caches. */
  blockSize: number;
  /** Mid-stream worker failures one request may survive (Dynamo `--migration-limit`, default 0). */
  migrationLimit?: number;
  log?: Logger;
}

/** Per request: what has been streamed so far and which workers failed it. */
interface RequestProgress {
  generated: number[];
  failed: Set<WorkerId>;
  migrations: number;
  /** The first worker's prefix-cache hit, reported for the whole request (a migration re-sends outputs). */
  cachedTokens: number | undefined;
}

export class RoutedEngine implements InferenceEngine {
  readonly info: EngineModelInfo;
  private readonly migrationLimit: number;
  private readonly log: Logger;

  constructor(private readonly options: RoutedEngineOptions) {
    this.info = options.info;
    this.migrationLimit = options.migrationLimit ?? 0;
    this.log = options.log ?? getLogger('frontend');
  }

  async *generate(request: EngineRequest, signal?: AbortSignal): AsyncGenerator<EngineOutput> {
    const log = this.log.child({ requestId: request.requestId });
    const progress: RequestProgress = {
      generated: [],
      failed: new Set(),
      migrations: 0,
      cachedTokens: undefined,
    };
    for (;;) {
      const attempt = continuation(request, progress.generated);
      const workerId = this.pick(attempt, progress.failed);
      const address = this.options.pool.addressOf(workerId) ?? `(unknown address of ${workerId})`;
      log.debug('routed', { workerId, address, promptTokens: attempt.promptTokenIds.length });
      try {
        yield* this.stream(attempt, workerId, address, progress, signal);
        return;
      } catch (err) {
        if (signal?.aborted) return;
        this.recover(err, workerId, progress, log);
      } finally {
        this.options.router.finishRequest(request.requestId);
      }
    }
  }

  async close(): Promise<void> {
    // Workers own their engines; the request plane is the frontend's to close.
  }

  /** Route, skipping workers that failed this request, quarantined ones (if others remain) and busy ones. */
  private pick(request: EngineRequest, failed: ReadonlySet<WorkerId>): WorkerId {
    const { pool, router } = this.options;
    const all = pool.ids();
    if (all.length === 0) {
      throw new NoWorkersError(`no workers available: no worker serves model '${this.info.name}' right now`);
    }
    const untried = all.filter((id) => !failed.has(id));
    if (untried.length === 0) {
      throw new NoWorkersError(
        `no workers available: all ${all.length} worker(s) of '${this.info.name}' failed this request`,
      );
    }
    const healthy = untried.filter((id) => !pool.isQuarantined(id));
    const candidates = healthy.length > 0 ? healthy : untried;
    const idle = candidates.filter((id) => !pool.isBusy(id));
    if (idle.length === 0) {
      throw allWorkersBusy(
        `${candidates.length} worker(s) of '${this.info.name}' are past the busy threshold`,
      );
    }
    const exclude = all.filter((id) => !idle.includes(id));
    const blockHashes = computeBlockHashes(request.promptTokenIds, this.options.blockSize).sequence;
    return router.route({
      requestId: request.requestId,
      tokenIds: request.promptTokenIds,
      blockHashes,
      sessionId: request.sessionId,
      exclude,
    }).workerId;
  }

  /** One attempt on one worker. */
  private async *stream(
    request: EngineRequest,
    workerId: WorkerId,
    address: string,
    progress: RequestProgress,
    signal: AbortSignal | undefined,
  ): AsyncGenerator<EngineOutput> {
    if (!this.options.pool.has(workerId)) {
      throw new ConnectError(address, `worker ${workerId} left the pool`);
    }
    let received = 0;
    const items = this.options.plane.call(address, GENERATE_ENDPOINT, request, {
      signal,
      requestId: request.requestId,
    });
    for await (const item of items) {
      const output = checkOutput(item, workerId);
      if (received++ === 0) this.options.router.markPrefillDone(request.requestId);
      progress.cachedTokens ??= output.numCachedTokens;
      if (output.finishReason !== 'abort' && output.finishReason !== 'error') {
        progress.generated.push(output.tokenId);
      }
      yield { ...output, requestId: request.requestId, numCachedTokens: progress.cachedTokens };
    }
  }

  /** Decide what a failed attempt means: returns to retry elsewhere, throws to give up. */
  private recover(err: unknown, workerId: WorkerId, progress: RequestProgress, log: Logger): void {
    const pool = this.options.pool;
    const refused =
      err instanceof ConnectError || (err instanceof RemoteError && err.code === RemoteErrorCode.Unavailable);
    if (refused) {
      progress.failed.add(workerId);
      pool.quarantine(workerId);
      log.warn('worker unreachable: trying another', { workerId, error: (err as Error).message });
      return;
    }
    if (err instanceof StreamDisconnectedError) {
      progress.failed.add(workerId);
      pool.quarantine(workerId);
      if (progress.migrations >= this.migrationLimit) {
        log.error('worker died mid-stream and the migration limit is reached', {
          workerId,
          migrations: progress.migrations,
          migrationLimit: this.migrationLimit,
        });
        throw err;
      }
      progress.migrations++;
      log.warn('migrating request: its worker died mid-stream', {
        fromWorker: workerId,
        tokensSoFar: progress.generated.length,
        migration: progress.migrations,
        migrationLimit: this.migrationLimit,
      });
      return;
    }
    if (err instanceof RemoteError && err.code === RemoteErrorCode.InvalidRequest) {
      throw new InvalidRequestError(`the worker refused the request: ${err.remoteMessage}`, null, null, {
        cause: err,
      });
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
  return { ...request, promptTokenIds: [...request.promptTokenIds, ...generated], stopping };
}

/** A worker's stream item, validated where it enters this process. */
function checkOutput(item: unknown, workerId: WorkerId): EngineOutput {
  const problem = explainEngineOutput(item);
  if (problem !== undefined) {
    throw new MalformedWorkerOutputError(
      `worker ${workerId} sent a stream item that is not an EngineOutput (${problem}): ${JSON.stringify(item).slice(0, 200)}; ` +
        'check that the worker and the frontend run the same version',
    );
  }
  const output = item as EngineOutput;
  // JSON turns undefined into absent but a null may arrive from other implementations: normalize.
  if (output.finishReason === null) delete output.finishReason;
  return output;
}
