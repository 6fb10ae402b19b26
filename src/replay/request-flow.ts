/**
 * One request's life in a replay, exactly the frontend's sequence for an aggregated worker:
 *
 *   route ──► generate on the chosen mocker ──► markPrefillDone at the first token ──► finishRequest
 *
 * and what it leaves behind: a `RequestRecord` (arrival, first and last token, cached tokens) plus every
 * inter-token gap. The disaggregated flow (`disagg-flow.ts`) reuses the record and the token stream.
 */
import type { MockEngine } from '../mocker/index.ts';
import { DEFAULT_SAMPLING, type EngineOutput, type EngineRequest } from '../protocols/engine.ts';
import { asRequestId, type RequestId, type WorkerId } from '../protocols/ids.ts';
import type { DisaggReason, RouteInput, RouteResult, Router } from '../router/index.ts';
import { InvalidRequestError } from '../util/errors.ts';
import type { ResolvedReplayOptions } from './replay-options.ts';
import type { SimWorker } from './sim-workers.ts';
import type { TraceRecord } from './trace.ts';
import { type TraceBlockHasher, traceTokenIds } from './trace-tokens.ts';
import type { VirtualTimeLoop } from './virtual-time-loop.ts';

/** What happened to one request. Times are ms of simulated time. */
export interface RequestRecord {
  index: number;
  /** The worker that streamed the tokens (the decode worker when disaggregated). */
  workerId: WorkerId;
  arrivalMs: number;
  /** NaN when no token came (rejected). */
  firstTokenMs: number;
  /** Last token (or rejection) time. */
  finishMs: number;
  inputLength: number;
  outputTokens: number;
  /**
   * Prompt tokens served from a prefix cache (EngineOutput.numCachedTokens of the engine that prefilled:
   * the prefill worker's for a remote prefill, so transferred KV never counts as a cache hit).
   */
  cachedTokens: number;
  /** Prompt tokens the router expected to be cached there (overlap blocks × block size). */
  predictedCachedTokens: number;
  /**
   * ms it waited in the queue of the engine that prefilled it before a step first scheduled it (the
   * engine's `EngineOutput.queueMs`; the prefill worker's for a remote prefill). TTFT − queueMs is the time
   * its prefill steps took (a remote prefill's also holds the KV pull and the decode worker's first step).
   * NaN when none was reported (rejected).
   */
  queueMs: number;
  /** Why the engine refused it (e.g. prompt longer than the context), if it did. */
  rejected?: string;
  /** Disaggregated runs: true when a prefill worker computed the prompt and its KV moved to decode. */
  remotePrefill?: boolean;
  /** Disaggregated runs: why (decideDisaggregation's reason). */
  disaggReason?: DisaggReason;
  /** Remote prefills: the prefill worker. */
  prefillWorkerId?: WorkerId;
  /** Remote prefills: simulated time the KV pull took on the link (latency + bytes ÷ bandwidth). */
  transferMs?: number;
  /** Remote prefills: KV bytes pulled. */
  transferBytes?: number;
}

/** What every request of one run shares. */
export interface ReplayContext {
  loop: VirtualTimeLoop;
  opts: ResolvedReplayOptions;
  hasher: TraceBlockHasher;
  /** Every gap between consecutive tokens of a request, pooled over requests (ms). */
  itlsMs: number[];
}

/** A request's prompt, ids and hashes, built at arrival (token arrays are dropped when it ends). */
export interface ArrivedRequest {
  index: number;
  requestId: RequestId;
  trace: TraceRecord;
  tokens: number[];
  blockHashes: ReturnType<TraceBlockHasher['sequenceHashes']>;
}

export function arrive(ctx: ReplayContext, trace: readonly TraceRecord[], index: number): ArrivedRequest {
  const rec = trace[index]!;
  const tokens = traceTokenIds(rec, ctx.opts.vocabSize, ctx.opts.traceBlockSize);
  return {
    index,
    requestId: asRequestId(`r${index}`),
    trace: rec,
    tokens,
    blockHashes: ctx.hasher.sequenceHashes(rec, tokens),
  };
}

export function newRecord(ctx: ReplayContext, req: ArrivedRequest, workerId: WorkerId): RequestRecord {
  return {
    index: req.index,
    workerId,
    arrivalMs: ctx.loop.now(),
    firstTokenMs: Number.NaN,
    finishMs: Number.NaN,
    inputLength: req.trace.inputLength,
    outputTokens: 0,
    cachedTokens: 0,
    predictedCachedTokens: 0,
    queueMs: Number.NaN,
  };
}

/** The trace's request as the engine takes it: forced output length (`ignoreEos`), as benchmarks do. */
export function engineRequest(req: ArrivedRequest): EngineRequest {
  return {
    requestId: req.requestId,
    promptTokenIds: req.tokens,
    sampling: DEFAULT_SAMPLING,
    stopping: { maxTokens: req.trace.outputLength, stopTokenIds: [], ignoreEos: true },
  };
}

/**
 * Stream `request` from `engine` into `record`: first-token time, last-token time, token count, and the
 * gaps into `ctx.itlsMs`. `onFirst` runs at the first token (the router's markPrefillDone).
 */
export async function streamInto(
  ctx: ReplayContext,
  engine: MockEngine,
  request: EngineRequest,
  record: RequestRecord,
  onFirst: (out: EngineOutput) => void,
): Promise<void> {
  for await (const out of engine.generate(request)) {
    const now = ctx.loop.now();
    if (record.outputTokens === 0) {
      record.firstTokenMs = now;
      onFirst(out);
    } else {
      ctx.itlsMs.push(now - record.finishMs);
    }
    record.finishMs = now;
    record.outputTokens++;
  }
}

/** A refusal the engine answers with 400 (prompt longer than the context): counted, not timed. */
export function markRejected(ctx: ReplayContext, record: RequestRecord, err: unknown): void {
  if (!(err instanceof InvalidRequestError)) throw err;
  record.rejected = err.message;
  record.finishMs = ctx.loop.now();
}

/** Aggregated: route, then prefill and decode on the one chosen worker. */
export async function serveAggregated(
  ctx: ReplayContext,
  router: Router,
  workers: ReadonlyMap<WorkerId, SimWorker>,
  req: ArrivedRequest,
): Promise<RequestRecord> {
  const arrivalMs = ctx.loop.now();
  const admitted = admit(router, {
    requestId: req.requestId,
    tokenIds: req.tokens,
    blockHashes: req.blockHashes,
  });
  const routed = admitted instanceof Promise ? await admitted : admitted;
  const routerWaitMs = ctx.loop.now() - arrivalMs;
  const worker = workers.get(routed.workerId)!;
  worker.record.requests++;
  const record = newRecord(ctx, req, routed.workerId);
  record.arrivalMs = arrivalMs;
  record.predictedCachedTokens = Math.min(req.trace.inputLength, routed.overlapBlocks * ctx.opts.blockSize);
  try {
    await streamInto(ctx, worker.engine, engineRequest(req), record, (out) => {
      record.cachedTokens = out.numCachedTokens;
      // Queue time from arrival: the router queue's wait, then the engine's.
      record.queueMs = routerWaitMs + (out.queueMs ?? Number.NaN);
      router.markPrefillDone(req.requestId);
    });
  } catch (err) {
    markRejected(ctx, record, err);
  } finally {
    router.finishRequest(req.requestId, 'done', record.outputTokens);
  }
  return record;
}

/**
 * Route `input` now, or, when the router queue holds it, once a worker has room: the result itself when it
 * ran at once (no extra turn of the event loop, so a replay without the queue orders events as before),
 * else a promise of it.
 */
function admit(router: Router, input: RouteInput): RouteResult | Promise<RouteResult> {
  let result: RouteResult | undefined;
  let settle: { resolve(r: RouteResult): void; reject(err: unknown): void } | undefined;
  const ranNow = router.admit(input, () => {
    if (settle === undefined) {
      result = router.route(input); // at once: a throw reaches the caller
      return;
    }
    try {
      settle.resolve(router.route(input));
    } catch (err) {
      settle.reject(err);
    }
  });
  if (ranNow) return result!;
  return new Promise((resolve, reject) => {
    settle = { resolve, reject };
  });
}
