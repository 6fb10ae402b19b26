/**
 * `kv-ttft`'s cost: the delay, in ms, that sending this request to a worker adds to the users of that
 * worker, predicted from the router's own ledger and one learned prefill rate R (tokens/ms):
 *
 *   uncached  = max(0, isl − overlap_blocks · block_size)           this prompt's work there
 *   ttft      = (queued_prefill + uncached) / R                      its own wait: FCFS prefill, the queue first
 *   stall     = running · uncached / R                               every request in flight there is decoding
 *                                                                    while this prefill runs, one chunk per step,
 *                                                                    so each one's next tokens come that much later
 *   cost      = ttft + stall
 *
 * Why these two and nothing else: a prefill of U tokens on worker w costs U/R of engine time there, and
 * that time is paid by this request (after the queue in front of it) and, through chunked prefill, by every
 * request decoding on w. The KV-memory term of Dynamo's cost (active blocks) is not a delay: with the
 * mocker's (and vLLM's) timing, a decode step's time grows only mildly with KV usage, while holding a cache
 * hit saves U/R outright. Memory matters when it runs out (preemption): that is the guard below, not a price.
 *
 * R is common to the workers of one model, so it never changes the argmin (`prefill-rate.ts`); it makes
 * the log read in ms. No tuned constant enters the decision except the load bound's ε.
 *
 * Guards: (1) bounded loads (Mirrokni et al.): a worker whose requests in flight would pass
 * ⌈(1 + ε) · (total + 1) / n⌉, or whose KV would overflow (active + new blocks > total blocks), is skipped
 * while any other worker is within bounds; when none is, all compete on cost. (2) The wait bound
 * (`applyWaitBound`): a worker where this request's queued + uncached work passes the least anywhere plus
 * its whole prompt is skipped, so stickiness never costs a request more than one prefill of its prompt and
 * no worker's prefill queue runs more than about one prompt above the shortest.
 */
import type { WorkerId } from '../protocols/ids.ts';
import type { Rng } from '../util/prng.ts';
import { formatNumber } from './kv-cost.ts';
import type { RouteRequest, WorkerScore, WorkerView } from './types.ts';

export interface TtftCostTerms extends WorkerScore {
  overlapBlocks: number;
  queuedTokens: number;
  uncachedTokens: number;
  running: number;
  ttftMs: number;
  stallMs: number;
  /** Tie-breaker: blocks this worker caches in total. */
  treeBlocks: number;
  /** Skipped by the guard (over the load bound, or out of KV) while another worker is not. */
  overLoadBound: boolean;
  kvFull: boolean;
  /** Predicted work here passes the wait bound (`applyWaitBound`): skipped. */
  overWaitBound: boolean;
}

export function ttftCostTerms(
  request: RouteRequest,
  view: WorkerView,
  tokensPerMs: number,
  loadBound: number,
): TtftCostTerms {
  return ttftCostTermsInto(emptyTtftCostTerms(), request, view, tokensPerMs, loadBound);
}

/** `ttftCostTerms` written into `out` (a policy's reused scratch: no allocation per worker). Returns `out`. */
export function ttftCostTermsInto<T extends TtftCostTerms>(
  out: T,
  request: RouteRequest,
  view: WorkerView,
  tokensPerMs: number,
  loadBound: number,
): T {
  const uncachedTokens = Math.max(0, request.isl - view.overlapBlocks * request.blockSize);
  const queuedTokens = Math.max(0, view.activePrefillTokens);
  const running = view.inFlight.requests;
  const ttftMs = (queuedTokens + uncachedTokens) / tokensPerMs;
  const stallMs = (running * uncachedTokens) / tokensPerMs;
  out.workerId = view.workerId;
  out.cost = ttftMs + stallMs;
  out.overlapBlocks = view.overlapBlocks;
  out.queuedTokens = queuedTokens;
  out.uncachedTokens = uncachedTokens;
  out.running = running;
  out.ttftMs = ttftMs;
  out.stallMs = stallMs;
  out.treeBlocks = view.treeBlocks;
  out.overLoadBound = running + 1 > loadBound;
  out.kvFull = view.activeBlocks + view.newBlocks > view.totalBlocks;
  out.overWaitBound = false;
  return out;
}

/** A zeroed `TtftCostTerms`, every field present (one shape for all of them, reused or not). */
export function emptyTtftCostTerms(): TtftCostTerms {
  return {
    workerId: '' as WorkerId,
    cost: 0,
    overlapBlocks: 0,
    queuedTokens: 0,
    uncachedTokens: 0,
    running: 0,
    ttftMs: 0,
    stallMs: 0,
    treeBlocks: 0,
    overLoadBound: false,
    kvFull: false,
    overWaitBound: false,
  };
}

/** ⌈(1 + ε) · (requests in flight on the offered workers + this one) / workers⌉. */
export function requestLoadBound(workers: readonly WorkerView[], epsilon: number): number {
  let total = 0;
  for (const w of workers) total += w.inFlight.requests;
  return Math.ceil(((1 + epsilon) * (total + 1)) / workers.length);
}

/** "(1200q + 4096u)/48.2 = 110ms ttft + 3*4096u/48.2 = 255ms stall = 365ms" */
export function formatTtftCost(t: TtftCostTerms, tokensPerMs: number): string {
  return `${formatTtftTerms(t, tokensPerMs)} = ${formatNumber(t.cost)}ms${guardLabel(t)}`;
}

/** The two terms without their sum: "(1200q + 4096u)/48.2 = 110ms ttft + 3*4096u/48.2 = 255ms stall". */
export function formatTtftTerms(t: TtftCostTerms, tokensPerMs: number): string {
  const r = formatNumber(tokensPerMs);
  return (
    `(${t.queuedTokens}q + ${t.uncachedTokens}u)/${r} = ${formatNumber(t.ttftMs)}ms ttft + ` +
    `${t.running}*${t.uncachedTokens}u/${r} = ${formatNumber(t.stallMs)}ms stall`
  );
}

/** " [kv full]", " [over load bound]", " [over wait bound]" or "": why a guard skipped the worker. */
export function guardLabel(t: TtftCostTerms): string {
  if (t.kvFull) return ' [kv full]';
  if (t.overLoadBound) return ' [over load bound]';
  return t.overWaitBound ? ' [over wait bound]' : '';
}

/**
 * The wait bound, in prefill tokens: a worker is a candidate only if this request's predicted work there
 * (queued + uncached) is at most the least such work on any worker the load guard keeps plus this whole
 * prompt, i.e. its predicted TTFT is at most the best one plus the time to prefill its prompt once:
 *
 *   queued_w + uncached_w ≤ min_v (queued_v + uncached_v) + isl
 *
 * Why: the stall term values a cache hit at (1 + running) times the prefill it saves, so on its own it
 * keeps a conversation behind a queue up to `running × saved` tokens deeper than the shortest one. The
 * request then waits seconds, and the worker's decoders share every step with a prefill chunk for as long
 * as that queue lasts (TPOT). The bound caps what one request pays for the stall it spares others at one
 * prefill of its own prompt, and since every request obeys it, no worker's queue runs more than about one
 * prompt above the shortest: queues, and the chunks they put into decode steps, stay balanced as under
 * join-the-shortest-queue. `slackTokens` is that prompt (`isl`) for `kv-ttft`; `kv-delay` passes the most
 * any worker's cache saves this request ("wait no longer than you save"); `perWorkerSlack`, when given,
 * replaces the common slack per worker (its own cached tokens: the strict reading). Marks `overWaitBound` on each
 * term; returns the bound.
 */
export function applyWaitBound(
  costs: TtftCostTerms[],
  slackTokens: number,
  perWorkerSlack?: (c: TtftCostTerms) => number,
): number {
  const kept = keepsAny(costs);
  let least = Number.POSITIVE_INFINITY;
  for (const c of costs) {
    if (kept && (c.overLoadBound || c.kvFull)) continue;
    least = Math.min(least, c.queuedTokens + c.uncachedTokens);
  }
  const bound = least + slackTokens;
  for (const c of costs) {
    const own = perWorkerSlack === undefined ? bound : least + perWorkerSlack(c);
    c.overWaitBound = c.queuedTokens + c.uncachedTokens > own;
  }
  return bound;
}

/**
 * Index of the chosen worker: the cheapest among those the guards keep (the load guard: all, when it keeps
 * none; the wait bound always keeps the least-work worker); ties to the smaller cache (`treeBlocks`), then
 * a seeded random one.
 */
export function pickByTtft(costs: readonly TtftCostTerms[], rng: Rng): number {
  const kept = keepsAny(costs);
  if (tieScratch.length < costs.length) tieScratch = new Int32Array(2 * costs.length);
  const best = tieScratch; // best[0..ties): the indices tied at the best so far, in order
  let ties = 0;
  for (let i = 0; i < costs.length; i++) {
    const c = costs[i]!;
    if (kept && (c.overLoadBound || c.kvFull)) continue;
    if (c.overWaitBound) continue;
    if (ties === 0) {
      best[ties++] = i;
      continue;
    }
    const b = costs[best[0]!]!;
    if (c.cost < b.cost || (c.cost === b.cost && c.treeBlocks < b.treeBlocks)) {
      best[0] = i;
      ties = 1;
    } else if (c.cost === b.cost && c.treeBlocks === b.treeBlocks) best[ties++] = i;
  }
  if (ties === 0) throw new RangeError('pickByTtft: no worker passed the guards (needs at least one cost)');
  return ties === 1 ? best[0]! : best[rng.nextInt(ties)]!;
}

/** Whether the load guard (bound or KV) skipped any worker: the decision's reason says so. */
export function guardedByLoad(costs: readonly TtftCostTerms[]): boolean {
  for (const c of costs) if (c.overLoadBound || c.kvFull) return true;
  return false;
}

/** Whether the wait bound skipped a worker cheaper than `chosen` (then it decided). */
export function guardedByWait(costs: readonly TtftCostTerms[], chosen: TtftCostTerms): boolean {
  for (const c of costs) if (c.overWaitBound && c.cost < chosen.cost) return true;
  return false;
}

/** `pickByTtft`'s scratch: the indices tied at the minimum (it runs once per decision). */
let tieScratch = new Int32Array(64);

/** Whether the load guard keeps any worker (a loop: no closure per decision). */
function keepsAny(costs: readonly TtftCostTerms[]): boolean {
  for (const c of costs) if (!c.overLoadBound && !c.kvFull) return true;
  return false;
}
