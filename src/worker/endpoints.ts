/**
 * The worker's request-plane endpoints (names and types: protocols/worker-endpoints.ts), like the routes of
 * a backend service:
 *
 *   generate     EngineRequest → stream of EngineOutput (one per token). The payload came off the network,
 *                so it is validated first; a bad one fails with code `invalid_request`. The caller's cancel
 *                (ctx.signal) aborts the engine request, which frees its KV blocks at once.
 *   kv_snapshot  KvSnapshotRequest → one or more KvSnapshot chunks: the whole prefix cache as `stored`
 *                events, consistent as of `lastEventId` (identical in every chunk). Concatenate the chunks'
 *                `events` in order. Routers ask on a gap in this worker's event ids
 *                (docs/design-notes.md#kv-events).
 *   load         anything → one LoadMetrics (the same message the worker publishes on `kv_metrics`).
 */
import type { EngineCore } from '../engine/index.ts';
import { type EngineRequest, explainEngineRequest } from '../protocols/engine.ts';
import type { WorkerId } from '../protocols/ids.ts';
import type { LoadMetrics } from '../protocols/kv-events.ts';
import { RemoteErrorCode } from '../protocols/request-plane.ts';
import {
  GENERATE_ENDPOINT,
  KV_SNAPSHOT_ENDPOINT,
  LOAD_ENDPOINT,
  type WorkerEndpoint,
  type WorkerEndpointTypes,
} from '../protocols/worker-endpoints.ts';
import type { EndpointHandler, HandlerContext } from '../runtime/request-plane/index.ts';
import { InvalidRequestError } from '../util/errors.ts';
import type { Logger } from '../util/logger.ts';
import { WorkerRequestError } from './errors.ts';
import type { KvEventSource } from './kv-event-publisher.ts';
import type { WorkerMetrics, WorkerRequestStatus } from './worker-metrics.ts';

/** `stored` events per kv_snapshot chunk: keeps each frame far below the request plane's 16 MiB limit. */
export const SNAPSHOT_CHUNK_EVENTS = 1024;

export interface EndpointDeps {
  engine: EngineCore;
  workerId: WorkerId;
  metrics: WorkerMetrics;
  log: Logger;
  /** The load as published (worker id stamped). */
  loadMetrics: () => LoadMetrics;
  /** What kv_snapshot dumps when it is not the engine's cache (a vLLM relay, `--kv-events`). */
  kvSource?: KvEventSource;
}

/** Each handler streams its endpoint's response type (protocols/worker-endpoints.ts). */
type Response<E extends WorkerEndpoint> = AsyncGenerator<WorkerEndpointTypes[E]['response']>;

export function workerEndpoints(deps: EndpointDeps): Record<WorkerEndpoint, EndpointHandler> {
  return {
    [GENERATE_ENDPOINT]: (payload, ctx) => generate(deps, payload, ctx),
    [KV_SNAPSHOT_ENDPOINT]: () => kvSnapshot(deps),
    [LOAD_ENDPOINT]: () => load(deps),
  };
}

async function* generate(
  deps: EndpointDeps,
  payload: unknown,
  ctx: HandlerContext,
): Response<typeof GENERATE_ENDPOINT> {
  const problem = explainEngineRequest(payload);
  if (problem !== undefined) {
    deps.log.warn('rejected a malformed generate payload', { requestId: ctx.requestId, problem });
    throw new WorkerRequestError(`invalid EngineRequest: ${problem}`, RemoteErrorCode.InvalidRequest);
  }
  const request = payload as EngineRequest;
  const overflow = explainContextOverflow(request, deps.engine.maxModelLen);
  if (overflow !== undefined) {
    deps.log.warn('rejected a generate payload beyond the context', { requestId: ctx.requestId });
    throw new WorkerRequestError(overflow, RemoteErrorCode.InvalidRequest);
  }
  const log = deps.log.child({ requestId: request.requestId });
  const timer = deps.metrics.begin();
  let status: WorkerRequestStatus = 'cancelled';
  let tokens = 0;
  const logDebug = log.isEnabled('debug');
  if (logDebug) {
    log.debug('request started', {
      promptTokens: request.promptTokenIds.length,
      maxTokens: request.stopping.maxTokens,
    });
  }
  try {
    for await (const output of deps.engine.generate(request, ctx.signal)) {
      if (tokens === 0) timer.first(output.queueMs);
      tokens++;
      yield output;
      if (output.finishReason !== undefined) status = output.finishReason === 'error' ? 'error' : 'success';
    }
    if (ctx.signal.aborted) status = 'cancelled';
  } catch (err) {
    status = 'error';
    if (err instanceof InvalidRequestError) {
      log.warn('request refused by the engine', { error: err });
      throw new WorkerRequestError(err.message, RemoteErrorCode.InvalidRequest, {
        cause: err,
        param: err.param,
      });
    }
    log.error('request failed', { error: err });
    throw err;
  } finally {
    timer.end(status, tokens);
    if (logDebug) log.debug('request finished', { status, tokens });
  }
}

/**
 * The frontend refuses prompt + max_tokens beyond the context (preprocessor.ts); the worker checks it again,
 * because anyone who can reach the request plane can skip the frontend (a client that would otherwise hold
 * a sequence slot for 10^8 tokens).
 */
export function explainContextOverflow(request: EngineRequest, maxModelLen: number): string | undefined {
  const prompt = request.promptTokenIds.length;
  const total = prompt + request.stopping.maxTokens;
  if (total <= maxModelLen) return undefined;
  return (
    `This model's maximum context length is ${maxModelLen} tokens. However, ${total} tokens were requested ` +
    `(${prompt} in the prompt, ${request.stopping.maxTokens} for the completion). Reduce the prompt or maxTokens.`
  );
}

async function* kvSnapshot(deps: EndpointDeps): Response<typeof KV_SNAPSHOT_ENDPOINT> {
  // dumpCachedBlocks is synchronous, so the dump and its event id describe one instant.
  const source = deps.kvSource ?? deps.engine.kv;
  const lastEventId = source.events.lastEventId;
  const events = source.dumpCachedBlocks();
  deps.log.info('sending KV snapshot', { lastEventId, blocks: events.length });
  for (let i = 0; i === 0 || i < events.length; i += SNAPSHOT_CHUNK_EVENTS) {
    yield { workerId: deps.workerId, lastEventId, events: events.slice(i, i + SNAPSHOT_CHUNK_EVENTS) };
  }
}

async function* load(deps: EndpointDeps): Response<typeof LOAD_ENDPOINT> {
  yield deps.loadMetrics();
}
