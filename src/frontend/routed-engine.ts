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
 */
import {
  type EngineModelInfo,
  type EngineOutput,
  type EngineRequest,
  explainEngineOutput,
  type InferenceEngine,
} from '../protocols/engine.ts';
import type { SequenceHash, WorkerId } from '../protocols/ids.ts';
import { RemoteErrorCode } from '../protocols/request-plane.ts';
import { GENERATE_ENDPOINT } from '../protocols/worker-endpoints.ts';
import type { Router } from '../router/index.ts';
import {
  ConnectError,
  RemoteError,
  type RequestPlane,
  StreamDisconnectedError,
} from '../runtime/request-plane/index.ts';
import { appendBlockHashes, type BlockHashes } from '../tokens/block-hash.ts';
import { DhwError, InvalidRequestError } from '../util/errors.ts';
import { getLogger, type Logger } from '../util/logger.ts';

/** A worker answered with something that is not an EngineOutput (a version mismatch or a bug). */
export class MalformedWorkerOutputError extends DhwError {}

export interface RoutedEngineOptions {
  info: EngineModelInfo;
  /** The model's router: it owns the workers; this engine only asks it for one per attempt. */
  router: Router;
  plane: RequestPlane;
  /** The model card's `kvCacheBlockSize`: block hashes must match the workers' caches. */
  blockSize: number;
  /** Mid-stream worker failures one request may survive (Dynamo `--migration-limit`, default 0). */
  migrationLimit?: number;
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
      hashes: new RequestBlockHashes(this.options.blockSize),
      migrations: 0,
      cachedTokens: undefined,
    };
    for (;;) {
      const attempt = continuation(request, progress.generated);
      const workerId = this.pick(attempt, progress);
      const address = this.options.router.addressOf(workerId) ?? `(unknown address of ${workerId})`;
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

  /**
   * Ask the router for a worker this request has not tried. The router skips quarantined and busy workers
   * and throws NoWorkersError (none left) or AllWorkersBusyError (→ 503 busy).
   */
  private pick(request: EngineRequest, progress: RequestProgress): WorkerId {
    return this.options.router.route({
      requestId: request.requestId,
      tokenIds: request.promptTokenIds,
      blockHashes: progress.hashes.of(request.promptTokenIds),
      sessionId: request.sessionId,
      exclude: [...progress.failed],
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
    if (!this.options.router.hasWorker(workerId)) {
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
 * The sequence hashes of one request's full blocks, kept across its routing attempts. A retry routes the
 * same tokens and gets the same array back; a migration routes prompt + streamed tokens, and only the
 * blocks those tokens complete are hashed (the chain continues from the last full block).
 */
export class RequestBlockHashes {
  /** Every full block hashed so far (local and sequence hashes), extended as the token list grows. */
  private readonly chain: BlockHashes = { local: [], sequence: [] };
  private hashes: readonly SequenceHash[] = [];

  constructor(readonly blockSize: number) {}

  /** Hashes of every full block of `tokenIds`: the same token list on every call, possibly longer. */
  of(tokenIds: readonly number[]): readonly SequenceHash[] {
    const numBlocks = Math.floor(tokenIds.length / this.blockSize);
    if (numBlocks !== this.hashes.length) {
      appendBlockHashes(this.chain, tokenIds, this.blockSize);
      // A new array rather than the growing one: the router's in-flight ledger may still hold the previous one.
      this.hashes = this.chain.sequence.slice(0, numBlocks);
    }
    return this.hashes;
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
