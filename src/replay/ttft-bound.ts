/**
 * A LOWER BOUND on the mean TTFT any router could reach on a trace, from the workers' step-time model
 * (`protocols/step-timing.ts`): the yardstick that says whether a target such as "TTFT mean ≤ 0.5×
 * round-robin" is reachable at all. Like a network's lower bound on flow completion time (each flow
 * alone at line rate, or all of them through one pipe of the aggregate capacity): no scheduler beats
 * either, so it beats neither's maximum.
 *
 * Each request's uncached prompt U_i comes from one cache for the whole cluster (`requestHitBlocks`):
 * an infinite one (no router can hit more: a strict bound) and one LRU of the cluster's capacity (the
 * issue's ceiling). The engine always computes the last prompt token, so U_i ≥ 1. Two bounds:
 *
 *   alone    TTFT_i ≥ the least time its own U_i tokens take in steps of at most B tokens
 *            (`--max-num-batched-tokens`): a step carrying c of them costs at least prefill(c), whatever
 *            else it carries, so min over chunkings of Σ prefill(c_k); a final 1-token chunk is charged
 *            as a decode step (the mocker's `chargedShape`).
 *   pooled   the W workers as one server W times as fast, each prompt token costing the least any step
 *            charges per token (c* = min over T ≤ B of prefill(T)/T), served shortest-remaining-first:
 *            one fast server can do whatever the W workers do together, and SRPT minimises mean response
 *            time on one server. Queueing at perfect load balance, with no decode in any step.
 *
 * The mean bound is max(mean alone, mean pooled): each is a bound on the mean, the per-request maximum is
 * not. Decode steps, the per-step cost of mixing decodes into prefill steps and routing imperfection only
 * add to the real figure. Timestamp replays only (a closed loop's arrivals depend on the service).
 */
import {
  decodeStepMs,
  MOCKER_STEP_TIMING,
  prefillStepMs,
  type StepTimingModel,
} from '../protocols/step-timing.ts';
import { requestHitBlocks } from './cache-ceiling.ts';
import type { ResolvedReplayOptions } from './replay-options.ts';

export interface TtftBoundOptions {
  workers: number;
  /** Arrival = timestampMs × timeScale. */
  timeScale: number;
  /** Engine tokens per KV block. */
  blockSize: number;
  traceBlockSize: number;
  /** Engine blocks per worker: the LRU ceiling's node holds workers × this. */
  numKvBlocks: number;
  /** Token budget per step (chunked prefill). */
  maxNumBatchedTokens: number;
  /** Prompts at or past this length are rejected by the engine, as in the replay. */
  maxModelLen: number;
  model?: StepTimingModel;
}

export interface TtftBound {
  /** Mean over requests of each one's own prefill alone on an idle worker, ms. */
  aloneMs: number;
  /** Mean response time of SRPT on one server W× as fast at the least cost per token, ms. */
  pooledMs: number;
  /** max(aloneMs, pooledMs): no router's mean TTFT is lower. */
  meanMs: number;
}

export interface TtftBoundReport {
  /** Hits of an infinite cache: the strict bound. */
  infinite: TtftBound;
  /** Hits of one LRU node with the cluster's capacity (the hit-rate ceiling's cache). */
  lru: TtftBound;
  /** Requests counted (those the engine accepts). */
  requests: number;
}

interface BoundRequest {
  timestampMs: number;
  inputLength: number;
  hashIds: readonly number[];
}

const memo = new WeakMap<readonly BoundRequest[], Map<string, TtftBoundReport>>();

/** `ttftLowerBound`, remembered per trace array and options (every policy of a `--compare` shares it). */
export function traceTtftBound(trace: readonly BoundRequest[], o: TtftBoundOptions): TtftBoundReport {
  let byOptions = memo.get(trace);
  if (byOptions === undefined) memo.set(trace, (byOptions = new Map()));
  const { model, ...numbers } = o;
  const key = JSON.stringify(numbers);
  let bound = model === undefined ? byOptions.get(key) : undefined;
  if (bound === undefined) {
    bound = ttftLowerBound(trace, o);
    if (model === undefined) byOptions.set(key, bound);
  }
  return bound;
}

export function ttftLowerBound(trace: readonly BoundRequest[], o: TtftBoundOptions): TtftBoundReport {
  const model = o.model ?? MOCKER_STEP_TIMING;
  const shape = { blockSize: o.blockSize, traceBlockSize: o.traceBlockSize };
  const bound = (hits: Float64Array): TtftBound => {
    const arrivals: number[] = [];
    const uncached: number[] = [];
    for (let i = 0; i < trace.length; i++) {
      const r = trace[i]!;
      if (r.inputLength >= o.maxModelLen) continue;
      arrivals.push(r.timestampMs * o.timeScale);
      uncached.push(Math.max(1, r.inputLength - hits[i]! * o.blockSize));
    }
    const aloneMs = mean(uncached.map((u) => alonePrefillMs(model, u, o.maxNumBatchedTokens)));
    const perToken = leastMsPerToken(model, o.maxNumBatchedTokens);
    const work = uncached.map((u) => u * perToken);
    const pooledMs = mean(srptResponseTimes(arrivals, work, o.workers));
    return { aloneMs, pooledMs, meanMs: Math.max(aloneMs, pooledMs) };
  };
  return {
    infinite: bound(requestHitBlocks(trace, shape, Number.POSITIVE_INFINITY)),
    lru: bound(requestHitBlocks(trace, shape, o.workers * o.numKvBlocks)),
    requests: trace.filter((r) => r.inputLength < o.maxModelLen).length,
  };
}

/**
 * The least time `u` prompt tokens of one request take, in steps of at most `budget` of them: n equal
 * chunks minimise Σ prefill(c_k) for a given n (prefill is convex), and n·prefill(u/n) = p2·u²/n + p1·u
 * + p0·n is smallest near n = u·√(p2/p0), never below ⌈u/budget⌉. A last chunk of one token is charged as
 * a decode step (the engine's sampled one-token chunk), which can be cheaper than a prefill step.
 */
export function alonePrefillMs(model: StepTimingModel, u: number, budget: number): number {
  const oneToken = Math.min(prefillStepMs(model, 1), leastDecodeMs(model));
  if (u <= 1) return oneToken;
  return Math.min(chunkedMs(model, u, budget), chunkedMs(model, u - 1, budget) + oneToken);
}

function chunkedMs(model: StepTimingModel, u: number, budget: number): number {
  const [p0, , p2] = model.prefill;
  const least = Math.ceil(u / budget);
  const ideal = p2 > 0 && p0 > 0 ? u * Math.sqrt(p2 / p0) : least;
  let best = Number.POSITIVE_INFINITY;
  for (const n of [least, Math.floor(ideal), Math.ceil(ideal)]) {
    if (n < least || n > u || n < 1) continue;
    best = Math.min(best, n * prefillStepMs(model, u / n));
  }
  return best;
}

/** min over u in [0, 1] of the decode step: the polynomial is checked at both ends and its vertex. */
function leastDecodeMs(model: StepTimingModel): number {
  const [, d1, d2] = model.decode;
  const points = [0, 1];
  if (d2 !== 0) {
    const vertex = -d1 / (2 * d2);
    if (vertex > 0 && vertex < 1) points.push(vertex);
  }
  return Math.min(...points.map((u) => decodeStepMs(model, u)));
}

/** c* = min over whole T in [1, budget] of prefill(T)/T: the cheapest a step charges per prompt token. */
export function leastMsPerToken(model: StepTimingModel, budget: number): number {
  const [p0, , p2] = model.prefill;
  const ideal = p2 > 0 ? Math.sqrt(p0 / p2) : budget;
  let best = Number.POSITIVE_INFINITY;
  for (const t of [1, Math.floor(ideal), Math.ceil(ideal), budget]) {
    if (t < 1 || t > budget) continue;
    best = Math.min(best, prefillStepMs(model, t) / t);
  }
  return best;
}

/**
 * Response times of jobs (arrival ms, work in ms of one worker) on one preemptive server `speed` times as
 * fast, shortest remaining work first. A binary heap of remaining work; between arrivals the smallest job
 * runs alone (SRPT never shares the server).
 */
export function srptResponseTimes(
  arrivals: readonly number[],
  work: readonly number[],
  speed: number,
): number[] {
  const order = arrivals.map((_, i) => i).sort((a, b) => arrivals[a]! - arrivals[b]!);
  const heap = new MinHeap();
  const response = new Array<number>(arrivals.length).fill(0);
  let now = 0;
  let next = 0;
  while (next < order.length || heap.size > 0) {
    const arrival = next < order.length ? arrivals[order[next]!]! : Number.POSITIVE_INFINITY;
    if (heap.size === 0) {
      now = Math.max(now, arrival);
    } else {
      const top = heap.peek();
      const doneAt = now + top.remaining / speed;
      if (doneAt <= arrival) {
        heap.pop();
        now = doneAt;
        response[top.job] = now - arrivals[top.job]!;
        continue;
      }
      top.remaining -= (arrival - now) * speed; // the top only shrinks: it stays the minimum
      now = arrival;
    }
    const job = order[next++]!;
    heap.push({ job, remaining: work[job]! });
  }
  return response;
}

interface Job {
  job: number;
  remaining: number;
}

/** A binary min-heap on remaining work. */
class MinHeap {
  private items: Job[] = [];
  get size(): number {
    return this.items.length;
  }
  peek(): Job {
    return this.items[0]!;
  }
  push(item: Job): void {
    const a = this.items;
    a.push(item);
    let i = a.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (a[parent]!.remaining <= a[i]!.remaining) break;
      [a[parent], a[i]] = [a[i]!, a[parent]!];
      i = parent;
    }
  }
  pop(): Job {
    const a = this.items;
    const top = a[0]!;
    const last = a.pop()!;
    if (a.length > 0) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && a[l]!.remaining < a[m]!.remaining) m = l;
        if (r < a.length && a[r]!.remaining < a[m]!.remaining) m = r;
        if (m === i) break;
        [a[m], a[i]] = [a[i]!, a[m]!];
        i = m;
      }
    }
    return top;
  }
}

const mean = (xs: readonly number[]) => (xs.length === 0 ? 0 : xs.reduce((s, x) => s + x, 0) / xs.length);

/**
 * The bound for a replay's resolved options: aggregated timestamp replays only (a closed loop's arrivals
 * depend on the service; a disaggregated cluster's prefill pool is another shape), as the engine runs them.
 */
export function boundOf(
  trace: readonly BoundRequest[],
  opts: ResolvedReplayOptions,
): TtftBoundReport | undefined {
  if (opts.concurrency !== undefined || opts.disagg !== undefined) return undefined;
  return traceTtftBound(trace, {
    workers: opts.workers,
    timeScale: opts.timeScale,
    blockSize: opts.blockSize,
    traceBlockSize: opts.traceBlockSize,
    numKvBlocks: opts.numKvBlocks,
    maxNumBatchedTokens: opts.maxNumBatchedTokens,
    maxModelLen: Math.min(opts.contextLength, opts.numKvBlocks * opts.blockSize),
  });
}
