/**
 * One replay: a trace's requests, the REAL router, simulated engines (the mocker), all in virtual time.
 * Each request arrives at its timestamp, is routed exactly as the frontend would route it, streams its
 * tokens from the chosen mocker, and leaves a record (arrival, first token, last token, cached tokens).
 * The router is fed as it would be over the event plane, with zero delay: every KV event of every worker
 * as it happens, and each worker's load after each of its steps.
 *
 * Systems analogy: replaying a production access log against a staging load balancer whose backends are
 * latency-model stubs: the balancer is the real binary, the backends only pretend, the clock is simulated.
 *
 *   trace ──► arrival ──► router.route() ──► mocker[k].generate() ──► tokens ──► RequestRecord
 *                            ▲  applyKvEvent (every KV event)  ◄──── mocker[k] KV cache
 *                            └─ updateLoad (after every step)  ◄──── mocker[k] loadMetrics()
 *
 * With `prefillWorkers` + `decodeWorkers` the cluster is disaggregated (`disagg-flow.ts`): a second router
 * over the prefill mockers, the frontend's decision rule, and a simulated link for the KV hand-off.
 */
import { createRouter, type Router } from '../router/index.ts';
import { traceCeiling } from './cache-ceiling.ts';
import { boundOf } from './ttft-bound.ts';
import { ClosedLoopArrivals } from './closed-loop.ts';
import { DisaggCluster } from './disagg-flow.ts';
import { ReplayConfigError } from './errors.ts';
import { runFastReplay } from './fast-run.ts';
import { type ReplayOptions, type ResolvedReplayOptions, resolveReplayOptions } from './replay-options.ts';
import type { ReplayResult } from './replay-result.ts';
import { arrive, type ReplayContext, type RequestRecord, serveAggregated } from './request-flow.ts';
import { type SimWorker, startSimWorkers } from './sim-workers.ts';
import type { TraceRecord } from './trace.ts';
import { TraceBlockHasher } from './trace-tokens.ts';
import { VirtualTimeLoop } from './virtual-time-loop.ts';

export { REPLAY_DEFAULTS, type ReplayOptions } from './replay-options.ts';
export type { ReplayResult } from './replay-result.ts';
export type { RequestRecord } from './request-flow.ts';
export type { WorkerRecord } from './sim-workers.ts';

/** Replay `trace` once with one routing policy. Deterministic for a given trace, options and seed. */
export async function runReplay(
  trace: readonly TraceRecord[],
  options: ReplayOptions,
): Promise<ReplayResult> {
  const started = performance.now();
  const opts = resolveReplayOptions(options);
  if (opts.sim === 'fast') return runFastReplay(trace, options, opts);
  const hasher = options.hasher ?? new TraceBlockHasher(opts.blockSize, opts.traceBlockSize, opts.vocabSize);
  checkHasher(hasher, opts);
  const loop = new VirtualTimeLoop();
  const ctx: ReplayContext = { loop, opts, hasher, itlsMs: [] };
  const newRouter = () =>
    createRouter({
      router: opts.router,
      seed: opts.seed,
      overlapScoreWeight: options.overlapScoreWeight,
      temperature: options.temperature,
      predictBlocks: options.predictBlocks,
      queue: options.routerQueue,
      ...options.policyOptions,
      now: () => loop.now(),
      decisionLog: options.decisionLog ?? 'off',
    });
  const router = await newRouter();
  const cluster = opts.disagg
    ? new DisaggCluster(ctx, router, await newRouter())
    : aggregatedCluster(ctx, router);
  const records: RequestRecord[] = new Array(trace.length);
  let finished = 0;
  let fatal: unknown;
  const closedLoop =
    opts.concurrency === undefined ? undefined : new ClosedLoopArrivals(trace, opts.concurrency);

  await loop.run({
    arrivals: closedLoop ?? trace.map((r) => r.timestampMs * opts.timeScale),
    onArrival: (index) => {
      cluster
        .serve(arrive(ctx, trace, index))
        .then((record) => {
          records[index] = record;
          finished++;
          options.onProgress?.(finished, trace.length);
          closedLoop?.finished(index, record.finishMs);
        })
        .catch((err) => {
          fatal ??= err;
        });
    },
    done: () => finished === trace.length,
    check: () => {
      if (fatal !== undefined) throw fatal;
    },
  });
  const workers = cluster.workers();
  for (const w of workers) {
    // A hold left at the end is a hand-off whose release never came: a leak the tests look for.
    if (w.record.role === 'prefill') w.record.heldAtEnd = w.engine.heldRequests();
    await w.engine.close();
  }
  const firstArrival = closedLoop ? 0 : trace.length > 0 ? trace[0]!.timestampMs * opts.timeScale : 0;
  const wallMs = performance.now() - started;
  const ceiling = traceCeiling(trace, {
    blockSize: opts.blockSize,
    traceBlockSize: opts.traceBlockSize,
    capacityBlocks: opts.workers * opts.numKvBlocks,
  });
  return {
    policy: router.policy.name,
    options: opts,
    records,
    itlsMs: ctx.itlsMs,
    workers: workers.map((w) => w.record),
    simulatedMs: Math.max(0, ...records.map((r) => r.finishMs)) - firstArrival,
    wallMs,
    ceiling,
    ttftBound: boundOf(trace, opts),
  };
}

interface Cluster {
  serve(req: ReturnType<typeof arrive>): Promise<RequestRecord>;
  workers(): SimWorker[];
}

/** N workers that each prefill and decode, behind one router. */
function aggregatedCluster(ctx: ReplayContext, router: Router): Cluster {
  const workers = startSimWorkers(router, ctx.loop, {
    role: 'aggregated',
    count: ctx.opts.workers,
    prefix: 'w',
    settings: ctx.opts,
  });
  return {
    serve: (req) => serveAggregated(ctx, router, workers, req),
    workers: () => [...workers.values()],
  };
}

function checkHasher(hasher: TraceBlockHasher, opts: ResolvedReplayOptions): void {
  if (
    hasher.blockSize !== opts.blockSize ||
    hasher.traceBlockSize !== opts.traceBlockSize ||
    hasher.vocabSize !== opts.vocabSize
  ) {
    throw new ReplayConfigError(
      'the shared TraceBlockHasher was made for another block size, trace block size or vocabulary',
    );
  }
}
