/**
 * The fast simulator (`--sim fast`, aggregated clusters): the same replay as `replay-run.ts` (the REAL
 * router, fed every KV event and each step's load, the same request sequence route → first token →
 * finish) but the workers are `FastWorker`s instead of mockers: KV kept per trace block (512 tokens for
 * Mooncake traces) instead of per engine block, decode steps computed in runs, no tokens, no promises.
 * Like switching a network simulator from packet level to flow level: the same topology and the same
 * control plane (here the routing code), a coarser data plane.
 *
 * What changes against the exact simulator (measured in the README's accuracy table):
 *   - cache granularity is the trace block: a prompt's partial last trace block is never a prefix hit
 *     (the exact engine at 16-token blocks caches its full 16-token pieces), and KV usage counts whole
 *     512-token blocks (decode step time is a function of it);
 *   - the router sees blocks of `traceBlockSize` (its overlap, active blocks and capacity are in those
 *     units: the policies' cost terms scale together), identified by a hash of the chain of trace ids
 *     (not of the token contents, which are never built: prefix-hash's ring positions differ);
 *   - everything else (scheduling, budgets, preemption, LRU order, event order) is the engine's.
 *
 * Event loop: the next event is the earliest of the next arrival and the workers' segment ends (a linear
 * scan: 8–16 workers); a segment end ties before an arrival, as in `virtual-time-loop.ts`.
 */
import {
  asRequestId,
  asWorkerId,
  type RequestId,
  type SequenceHash,
  type WorkerId,
} from '../protocols/ids.ts';
import { hashToWire } from '../protocols/kv-events.ts';
import { MOCKER_STEP_TIMING, scaleStepTiming } from '../protocols/step-timing.ts';
import { createRouter, type RouteInput } from '../router/index.ts';
import { traceCeiling } from './cache-ceiling.ts';
import { boundOf } from './ttft-bound.ts';
import { type ArrivalQueue, ClosedLoopArrivals, TimestampArrivals } from './closed-loop.ts';
import { ReplayStuckError } from './errors.ts';
import { type BlockHashes, FastKvCache } from './fast-kv-cache.ts';
import { type FastSeq, FastWorker, type SegmentOutcome } from './fast-worker.ts';
import type { ReplayOptions, ResolvedReplayOptions } from './replay-options.ts';
import type { ReplayResult } from './replay-result.ts';
import type { RequestRecord } from './request-flow.ts';
import type { WorkerRecord } from './sim-workers.ts';
import type { TraceRecord } from './trace.ts';
import { traceToken } from './trace-tokens.ts';

/** Replay `trace` once with the fast simulator. Deterministic for a given trace, options and seed. */
export async function runFastReplay(
  trace: readonly TraceRecord[],
  options: ReplayOptions,
  opts: ResolvedReplayOptions,
): Promise<ReplayResult> {
  const started = performance.now();
  let now = 0;
  const router = await createRouter({
    router: opts.router,
    seed: opts.seed,
    overlapScoreWeight: options.overlapScoreWeight,
    temperature: options.temperature,
    predictBlocks: options.predictBlocks,
    queue: options.routerQueue,
    ...options.policyOptions,
    now: () => now,
    decisionLog: options.decisionLog ?? 'off',
  });
  const bs = opts.traceBlockSize;
  const capacity = Math.floor((opts.numKvBlocks * opts.blockSize) / bs);
  const maxModelLen = Math.min(opts.contextLength, opts.numKvBlocks * opts.blockSize);
  const itls = { values: [] as number[], counts: [] as number[] };
  const ids: WorkerId[] = [];
  const workers: FastWorker[] = [];
  for (let k = 0; k < opts.workers; k++) {
    const workerId = asWorkerId(`w${k}`);
    const kv = new FastKvCache(capacity, (event) => router.applyKvEvent(workerId, event));
    const record: WorkerRecord = { workerId, requests: 0, preemptions: 0, steps: 0, prefillTokens: 0 };
    ids.push(workerId);
    workers.push(
      new FastWorker(record, kv, { ...opts, blockSize: bs, engineBlockSize: opts.blockSize }, itls),
    );
    const stepTiming = scaleStepTiming(MOCKER_STEP_TIMING, opts.speedupRatio);
    router.addWorker({
      workerId,
      blockSize: bs,
      totalBlocks: capacity,
      maxNumBatchedTokens: opts.maxNumBatchedTokens,
      stepTiming,
    });
  }
  const hasher = new TraceIdHasher(bs);
  const records: RequestRecord[] = new Array(trace.length);
  const closedLoop =
    opts.concurrency === undefined ? undefined : new ClosedLoopArrivals(trace, opts.concurrency);
  const arrivals: ArrivalQueue =
    closedLoop ?? new TimestampArrivals(trace.map((r) => r.timestampMs * opts.timeScale));
  let finished = 0;

  const finish = (seq: FastSeq) => {
    router.finishRequest(seq.requestId, 'done', seq.generated);
    finished++;
    options.onProgress?.(finished, trace.length);
    closedLoop?.finished(seq.record.index, seq.record.finishMs);
  };
  // An arrival is routed at once, or waits in the router queue (when on) until a worker has room: its
  // record keeps the arrival time, so the wait counts in its TTFT and queue time.
  const arrive = (index: number) => {
    const rec = trace[index]!;
    const hashes = hasher.requestHashes(rec, index);
    const input = {
      requestId: asRequestId(`r${index}`),
      tokenIds: LazyPromptTokens.of(rec, opts.vocabSize, bs),
      blockHashes: hashes.prompt,
    };
    const arrivalMs = now;
    router.admit(input, () => dispatch(index, input, hashes, arrivalMs));
  };
  const dispatch = (index: number, input: RouteInput, hashes: RequestBlockHashes, arrivalMs: number) => {
    const rec = trace[index]!;
    const requestId = input.requestId as RequestId;
    const routed = router.route(input);
    const k = ids.indexOf(routed.workerId);
    const worker = workers[k]!;
    worker.record.requests++;
    const record: RequestRecord = {
      index,
      workerId: routed.workerId,
      arrivalMs,
      firstTokenMs: Number.NaN,
      finishMs: Number.NaN,
      inputLength: rec.inputLength,
      outputTokens: 0,
      cachedTokens: 0,
      predictedCachedTokens: Math.min(rec.inputLength, routed.overlapBlocks * bs),
      queueMs: Number.NaN,
    };
    records[index] = record;
    const seq: FastSeq = {
      requestId,
      isl: rec.inputLength,
      osl: rec.outputLength,
      hashes,
      blocks: [],
      cachedBlocks: 0,
      computed: 0,
      allocTokens: 0,
      generated: 0,
      cachedTokens: -1,
      running: false,
      record,
    };
    if (rec.inputLength >= maxModelLen) {
      record.rejected =
        `This model's maximum context length is ${maxModelLen} tokens, but the prompt has ` +
        `${rec.inputLength} tokens: shorten it so at least one token can be generated.`;
      record.finishMs = now;
      finish(seq);
      return;
    }
    worker.add(seq, now);
  };
  const afterSegment = (k: number, outcome: SegmentOutcome) => {
    router.updateLoad(workers[k]!.loadMetrics(ids[k]!));
    for (const seq of outcome.firsts) router.markPrefillDone(seq.requestId);
    for (const seq of outcome.finished) finish(seq);
  };

  for (;;) {
    let next = -1;
    let nextEnd = Number.POSITIVE_INFINITY;
    for (let k = 0; k < workers.length; k++) {
      if (workers[k]!.nextEventAt < nextEnd) {
        nextEnd = workers[k]!.nextEventAt;
        next = k;
      }
    }
    const arrival = arrivals.peek();
    if (next >= 0 && (arrival === undefined || nextEnd <= arrival)) {
      now = nextEnd;
      const worker = workers[next]!;
      if (worker.reportDue) {
        worker.reported();
        router.updateLoad(worker.loadMetrics(ids[next]!));
        continue;
      }
      // The engine reports its load at the step's end, its streams deliver, then it schedules the next step.
      afterSegment(next, worker.complete());
      worker.plan(now);
      // Requests the router queue released just now may have gone to other idle workers.
      if (router.queue) for (const w of workers) if (w.idle && w.hasWork) w.plan(now);
    } else if (arrival !== undefined) {
      now = arrival;
      for (let at = arrivals.peek(); at !== undefined && at <= now; at = arrivals.peek())
        arrive(arrivals.take());
      for (const worker of workers) if (worker.idle && worker.hasWork) worker.plan(now);
    } else if (finished === trace.length) {
      break;
    } else {
      throw new ReplayStuckError(
        `fast replay stuck at t=${now.toFixed(1)} ms: requests wait but none fits in a worker's KV cache ` +
          `(${capacity} blocks of ${bs} tokens)`,
      );
    }
  }
  const firstArrival = closedLoop ? 0 : trace.length > 0 ? trace[0]!.timestampMs * opts.timeScale : 0;
  const wallMs = performance.now() - started;
  return {
    policy: router.policy.name,
    options: opts,
    records,
    itlsMs: itls.values,
    itlCounts: itls.counts,
    workers: workers.map((w) => w.record),
    simulatedMs: Math.max(0, ...records.map((r) => r.finishMs)) - firstArrival,
    wallMs,
    ceiling: traceCeiling(trace, {
      blockSize: opts.blockSize,
      traceBlockSize: opts.traceBlockSize,
      capacityBlocks: opts.workers * opts.numKvBlocks,
    }),
    ttftBound: boundOf(trace, opts),
  };
}

/** splitmix32 finalizer. */
function mix32(x: number): number {
  let z = (x + 0x9e3779b9) | 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

/** A 64-bit hash, as its two 32-bit words and as the router's bigint. */
interface ChainHash {
  lo: number;
  hi: number;
  hash: SequenceHash;
  /** `hash` in decimal, as KV events carry it; made on first use (shared by every worker caching it). */
  wire?: string;
}

const ROOT: ChainHash = { lo: 0x2545f491, hi: 0x4f6cdd1d, hash: 0n as SequenceHash };

/**
 * A chained hash of (parent, two 32-bit words): deterministic, cheap, uniform over 64 bits (prefix-hash
 * places it on a ring by its value), collision odds 2⁻⁶⁴ per pair.
 */
function chainWords(parent: ChainHash, a: number, b: number): ChainHash {
  const lo = mix32(parent.lo ^ mix32(a ^ mix32(b + parent.hi)));
  const hi = mix32(parent.hi ^ mix32(lo + a) ^ mix32(b ^ 0x68e31da4));
  return { lo, hi, hash: ((BigInt(hi) << 32n) | BigInt(lo)) as SequenceHash };
}

/**
 * Block hashes at trace-block granularity from the chain of trace ids alone (no tokens): equal prefixes
 * of ids give equal hashes, as a chained content hash would. Memoised per id (ids are chained in a trace:
 * one id, one parent; a second parent is hashed without the memo).
 */
export class TraceIdHasher {
  private readonly memo = new Map<number, { parent: ChainHash; hash: ChainHash }>();

  constructor(readonly traceBlockSize: number) {}

  /** The prompt's full trace blocks' hashes, with request `index`'s own hashes past them. */
  requestHashes(record: TraceRecord, index: number): RequestBlockHashes {
    const numFull = Math.floor(record.inputLength / this.traceBlockSize);
    const chain: ChainHash[] = new Array(numFull);
    let parent = ROOT;
    for (let i = 0; i < numFull; i++) {
      const id = record.hashIds[i]!;
      const cached = this.memo.get(id);
      let hash: ChainHash;
      if (cached !== undefined && cached.parent === parent) {
        hash = cached.hash;
      } else {
        hash = chainWords(parent, id >>> 0, Math.floor(id / 0x100000000));
        if (cached === undefined) this.memo.set(id, { parent, hash });
      }
      chain[i] = hash;
      parent = hash;
    }
    return new RequestBlockHashes(chain, index);
  }
}

/** Trace ids stay below 2⁵³, so their high word stays below this tag: generated blocks never collide. */
const GENERATED_TAG = 0x40000000;

/** Block i's hash: the prompt's for its full blocks, then a chain unique to request `index`. */
export class RequestBlockHashes implements BlockHashes {
  /** The prompt's full blocks' hashes, as the router takes them. */
  readonly prompt: SequenceHash[];

  constructor(
    private readonly chain: ChainHash[],
    private readonly index: number,
  ) {
    this.prompt = chain.map((c) => c.hash);
  }

  at(i: number): SequenceHash {
    while (this.chain.length <= i) {
      const at = this.chain.length;
      this.chain.push(chainWords(at === 0 ? ROOT : this.chain[at - 1]!, this.index, GENERATED_TAG + at));
    }
    return this.chain[i]!.hash;
  }

  wireAt(i: number): string {
    this.at(i);
    const link = this.chain[i]!;
    link.wire ??= hashToWire(link.hash);
    return link.wire;
  }
}

/**
 * The prompt's token ids without building them: `length` and any index on demand (`traceToken`). The
 * router reads only the length; prefix-hash reads a few tokens past the last full block.
 */
class LazyPromptTokens implements ProxyHandler<number[]> {
  constructor(
    private readonly record: TraceRecord,
    private readonly vocabSize: number,
    private readonly traceBlockSize: number,
  ) {}

  static of(record: TraceRecord, vocabSize: number, traceBlockSize: number): readonly number[] {
    return new Proxy([], new LazyPromptTokens(record, vocabSize, traceBlockSize));
  }

  get(target: number[], prop: string | symbol, receiver: unknown): unknown {
    if (prop === 'length') return this.record.inputLength;
    return this.tokenAt(prop) ?? Reflect.get(target, prop, receiver);
  }

  has(target: number[], prop: string | symbol): boolean {
    return this.tokenAt(prop) !== undefined || Reflect.has(target, prop);
  }

  private tokenAt(prop: string | symbol): number | undefined {
    if (typeof prop !== 'string') return undefined;
    const i = Number(prop);
    if (!Number.isInteger(i) || i < 0 || i >= this.record.inputLength) return undefined;
    const b = this.traceBlockSize;
    return traceToken(this.record.hashIds[Math.floor(i / b)]!, i % b, this.vocabSize);
  }
}
