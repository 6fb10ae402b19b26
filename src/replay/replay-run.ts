/**
 * One replay: a trace's requests, the REAL router, N simulated engines (the mocker), all in virtual time.
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
 */
import { MockEngine } from '../mocker/index.ts';
import { DEFAULT_SAMPLING, type EngineRequest } from '../protocols/engine.ts';
import { asRequestId, asWorkerId, type WorkerId } from '../protocols/ids.ts';
import { createRouter, type Router } from '../router/index.ts';
import { InvalidRequestError } from '../util/errors.ts';
import { ReplayConfigError } from './errors.ts';
import { MOONCAKE_BLOCK_SIZE, type TraceRecord } from './trace.ts';
import { TraceBlockHasher, traceTokenIds } from './trace-tokens.ts';
import { VirtualTimeLoop } from './virtual-time-loop.ts';

/** Defaults sized for the Mooncake trace (prompts up to 191k tokens, mean 15k). */
export const REPLAY_DEFAULTS = {
  blockSize: 16,
  /** Dynamo's mocker default: 262,144 tokens of KV per worker (32 GiB of Llama-3-8B bf16 KV at 128 KiB/token). */
  numKvBlocks: 65_536,
  maxNumSeqs: 256,
  /** Dynamo's mocker default token budget per step (chunked prefill above it). */
  maxNumBatchedTokens: 8192,
  /** Long enough for every Mooncake prompt (the longest is 191,378 tokens). */
  contextLength: 262_144,
  speedupRatio: 1,
  timeScale: 1,
  seed: 0,
  vocabSize: 32_000,
  traceBlockSize: MOONCAKE_BLOCK_SIZE,
} as const;

export interface ReplayOptions {
  /** Routing policy: a built-in name or a policy file path (as `--router`). */
  router: string;
  workers: number;
  blockSize?: number;
  numKvBlocks?: number;
  maxNumSeqs?: number;
  maxNumBatchedTokens?: number;
  contextLength?: number;
  /** Simulated speed: step times are divided by it (must be > 0: 0 would mean "no time passes"). */
  speedupRatio?: number;
  /** Arrival time = trace timestamp × timeScale (0.5 = the same requests in half the time). */
  timeScale?: number;
  seed?: number;
  vocabSize?: number;
  traceBlockSize?: number;
  overlapScoreWeight?: number;
  temperature?: number;
  /** Block-hash memo to share between runs of one trace (e.g. `--compare`); made here when absent. */
  hasher?: TraceBlockHasher;
}

/** What happened to one request. Times are ms of simulated time. */
export interface RequestRecord {
  index: number;
  workerId: WorkerId;
  arrivalMs: number;
  /** NaN when no token came (rejected). */
  firstTokenMs: number;
  /** Last token (or rejection) time. */
  finishMs: number;
  inputLength: number;
  outputTokens: number;
  /** Prompt tokens served from the worker's prefix cache (EngineOutput.numCachedTokens). */
  cachedTokens: number;
  /** Prompt tokens the router expected to be cached there (overlap blocks × block size). */
  predictedCachedTokens: number;
  /** Why the engine refused it (e.g. prompt longer than the context), if it did. */
  rejected?: string;
}

export interface WorkerRecord {
  workerId: WorkerId;
  requests: number;
  preemptions: number;
  steps: number;
}

export interface ReplayResult {
  policy: string;
  options: Required<Omit<ReplayOptions, 'hasher' | 'overlapScoreWeight' | 'temperature'>>;
  records: RequestRecord[];
  /** Every gap between consecutive tokens of a request, pooled over requests (ms). */
  itlsMs: number[];
  workers: WorkerRecord[];
  /** Simulated time from the first arrival to the last token. */
  simulatedMs: number;
  /** Real time the replay took. */
  wallMs: number;
}

interface SimWorker {
  engine: MockEngine;
  record: WorkerRecord;
}

/** Replay `trace` once with one routing policy. Deterministic for a given trace, options and seed. */
export async function runReplay(
  trace: readonly TraceRecord[],
  options: ReplayOptions,
): Promise<ReplayResult> {
  const started = performance.now();
  const opts = resolveOptions(options);
  const hasher = options.hasher ?? new TraceBlockHasher(opts.blockSize, opts.traceBlockSize, opts.vocabSize);
  checkHasher(hasher, opts);
  const loop = new VirtualTimeLoop();
  const router = await createRouter({
    router: opts.router,
    seed: opts.seed,
    overlapScoreWeight: options.overlapScoreWeight,
    temperature: options.temperature,
    now: () => loop.now(),
    decisionLog: 'off',
  });
  const workers = startWorkers(router, loop, opts);
  const records: RequestRecord[] = new Array(trace.length);
  const itlsMs: number[] = [];
  let finished = 0;
  let fatal: unknown;

  const serve = async (index: number): Promise<void> => {
    const rec = trace[index]!;
    const requestId = asRequestId(`r${index}`);
    const tokens = traceTokenIds(rec, opts.vocabSize, opts.traceBlockSize);
    const routed = router.route({
      requestId,
      tokenIds: tokens,
      blockHashes: hasher.sequenceHashes(rec, tokens),
    });
    const worker = workers.get(routed.workerId)!;
    worker.record.requests++;
    const record: RequestRecord = {
      index,
      workerId: routed.workerId,
      arrivalMs: loop.now(),
      firstTokenMs: Number.NaN,
      finishMs: Number.NaN,
      inputLength: rec.inputLength,
      outputTokens: 0,
      cachedTokens: 0,
      predictedCachedTokens: Math.min(rec.inputLength, routed.overlapBlocks * opts.blockSize),
    };
    records[index] = record;
    const request: EngineRequest = {
      requestId,
      promptTokenIds: tokens,
      sampling: DEFAULT_SAMPLING,
      stopping: { maxTokens: rec.outputLength, stopTokenIds: [], ignoreEos: true },
    };
    try {
      for await (const out of worker.engine.generate(request)) {
        const now = loop.now();
        if (record.outputTokens === 0) {
          record.firstTokenMs = now;
          record.cachedTokens = out.numCachedTokens;
          router.markPrefillDone(requestId);
        } else {
          itlsMs.push(now - record.finishMs);
        }
        record.finishMs = now;
        record.outputTokens++;
      }
    } catch (err) {
      if (!(err instanceof InvalidRequestError)) throw err;
      record.rejected = err.message;
      record.finishMs = loop.now();
    } finally {
      router.finishRequest(requestId);
      finished++;
    }
  };

  await loop.run({
    arrivals: trace.map((r) => r.timestampMs * opts.timeScale),
    onArrival: (index) => {
      serve(index).catch((err) => {
        fatal ??= err;
      });
    },
    done: () => finished === trace.length,
    check: () => {
      if (fatal !== undefined) throw fatal;
    },
  });
  for (const w of workers.values()) await w.engine.close();
  const firstArrival = trace.length > 0 ? trace[0]!.timestampMs * opts.timeScale : 0;
  return {
    policy: router.policy.name,
    options: opts,
    records,
    itlsMs,
    workers: [...workers.values()].map((w) => w.record),
    simulatedMs: Math.max(0, ...records.map((r) => r.finishMs)) - firstArrival,
    wallMs: performance.now() - started,
  };
}

function resolveOptions(options: ReplayOptions): ReplayResult['options'] {
  const defined = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined));
  const opts = { ...REPLAY_DEFAULTS, ...defined } as ReplayResult['options'] & ReplayOptions;
  if (!Number.isInteger(opts.workers) || opts.workers < 1) {
    throw new ReplayConfigError(`a replay needs at least one worker, got ${opts.workers}`);
  }
  if (!(opts.speedupRatio > 0)) {
    throw new ReplayConfigError(
      `speedup ratio must be > 0 in a virtual-time replay (0 would mean steps take no time), got ${opts.speedupRatio}`,
    );
  }
  if (!(opts.timeScale >= 0)) throw new ReplayConfigError(`time scale must be ≥ 0, got ${opts.timeScale}`);
  const { hasher: _h, overlapScoreWeight: _w, temperature: _t, ...rest } = opts;
  return rest;
}

function checkHasher(hasher: TraceBlockHasher, opts: ReplayResult['options']): void {
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

/** N mockers on the loop's clock, registered with the router, their KV events and load wired into it. */
function startWorkers(
  router: Router,
  loop: VirtualTimeLoop,
  opts: ReplayResult['options'],
): Map<WorkerId, SimWorker> {
  const workers = new Map<WorkerId, SimWorker>();
  for (let k = 0; k < opts.workers; k++) {
    const workerId = asWorkerId(`w${k}`);
    let engine: MockEngine | undefined;
    const clock = loop.addWorker(() => engine?.scheduler.hasUnfinished() ?? false);
    engine = new MockEngine({
      workerId,
      clock,
      numKvBlocks: opts.numKvBlocks,
      blockSize: opts.blockSize,
      maxNumSeqs: opts.maxNumSeqs,
      maxNumBatchedTokens: opts.maxNumBatchedTokens,
      contextLength: opts.contextLength,
      vocabSize: opts.vocabSize,
      speedupRatio: opts.speedupRatio,
      events: (event) => router.applyKvEvent(workerId, event),
    });
    const record: WorkerRecord = { workerId, requests: 0, preemptions: 0, steps: 0 };
    const mocker = engine;
    engine.onStep((step) => {
      record.steps++;
      record.preemptions += step.numPreempted;
      router.updateLoad(mocker.loadMetrics());
    });
    router.addWorker({ workerId, blockSize: opts.blockSize, totalBlocks: opts.numKvBlocks });
    workers.set(workerId, { engine, record });
  }
  return workers;
}
