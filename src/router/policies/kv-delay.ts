/**
 * `kv-delay`, the default policy (`DEFAULT_ROUTER_POLICY`; "predicted delay" in help text and docs): the
 * delay a request adds to the users of each worker, as `kv-ttft` predicts it, under the wait bound "wait no
 * longer than you save" and without a load bound (router README, rounds 4 and 5):
 *
 *   cost = ttft + stall + recompute [+ pressure]
 *        = (queued + uncached)/R                     its own wait for the first token (FCFS prefill)
 *        + running · uncached/R                      the chunks its prefill puts into their decode steps
 *        + r̄ · (uncached − least uncached)/R         a copy of a prefix another worker holds also takes
 *                                                    capacity the next requests needed (`recompute-price.ts`,
 *                                                    round 6; `recomputePrice: false` leaves it out)
 *        [+ running · N/2 · (d(u + Δu) − d(u))]       with `decodePressure: true`: the slower decode steps
 *                                                    its KV causes while they share the worker
 *
 * R is learned from route → first token (`prefill-rate.ts`), N from finished requests, d() is the worker's
 * published step-time model (`WorkerInfo.stepTiming`: the mocker's model card carries it, live and in
 * replay; none published → no pressure term). Without the pressure term (the default) every term is
 * tokens over the same R, so R never changes a decision: a live engine that publishes no model routes
 * exactly as one that does, and R only turns the log into ms. With the
 * pressure term R changes decisions (the pressure is in the data sheet's ms, not in units of R), so
 * before its first observation R is the published model's rate for a full chunk, not a display prior.
 * The pressure term is off by default: on the 26 study inputs it cost cache hits and moved no bar.
 *
 * Guards: the wait bound (a worker is a candidate only if its queued + uncached work is at most the least
 * anywhere plus the most any worker's cache saves this request; `waitSlack: 'prompt'` is kv-ttft's whole
 * prompt, `'cached'` that worker's own saving), the KV-overflow guard, and no load bound unless
 * `loadBalanceEpsilon` is set (round 3: it costs cache hits at low load, and the wait bound already keeps
 * queues within one saving of the shortest).
 */
import type { RequestId, WorkerId } from '../../protocols/ids.ts';
import { chunkPrefillRate, MOCKER_STEP_TIMING, type StepTimingModel } from '../../protocols/step-timing.ts';
import { createRng, type Rng } from '../../util/prng.ts';
import {
  type DecodePressure,
  decodePressure,
  formatDecodePressure,
  OutputLengthEstimator,
} from '../decode-pressure.ts';
import { PrefillRateEstimator } from '../prefill-rate.ts';
import { ReceivedStallEstimator } from '../received-stall.ts';
import { formatNumber } from '../kv-cost.ts';
import { formatRecompute, priceRecompute, type RecomputeTerms } from '../recompute-price.ts';
import {
  applyWaitBound,
  emptyTtftCostTerms,
  formatTtftCost,
  formatTtftTerms,
  guardedByLoad,
  guardedByWait,
  guardLabel,
  pickByTtft,
  requestLoadBound,
  type TtftCostTerms,
  ttftCostTermsInto,
} from '../ttft-cost.ts';
import type {
  PolicyOptions,
  RouteDecision,
  RouteRequest,
  RoutingPolicy,
  WorkerInfo,
  WorkerView,
} from '../types.ts';

/** The engine's default token budget per step (`--max-num-batched-tokens`): the chunk the prior rate is for. */
const DEFAULT_CHUNK_TOKENS = 8192;

interface Pending {
  workerId: WorkerId;
  routedAtMs: number;
  workTokens: number;
}

export interface DelayCostTerms extends RecomputeTerms {
  decode: DecodePressure | undefined;
  /** With `receivedStall`: uncached tokens sent here over the last mean decode life, and their ms. */
  received: { tokens: number; ms: number } | undefined;
}

export class KvDelayPolicy implements RoutingPolicy {
  readonly name = 'kv-delay';
  readonly rate: PrefillRateEstimator;
  readonly output = new OutputLengthEstimator();
  readonly epsilon: number;
  readonly ownDecode: boolean;
  readonly pricesDecode: boolean;
  readonly waitSlack: 'saved' | 'prompt' | 'cached';
  readonly pricesRecompute: boolean;
  private readonly rng: Rng;
  private readonly now: () => number;
  private readonly pending = new Map<RequestId, Pending>();
  private readonly timing = new Map<WorkerId, StepTimingModel>();
  /** With `receivedStall`: the prefill sent per worker, and the decode lives it is measured over. */
  readonly received: ReceivedStallEstimator | undefined;
  private readonly firstTokenAt = new Map<RequestId, number>();
  /** Per-decision scratch, as `kv-ttft`'s: the decision's `scores` unless it is explained. */
  private readonly terms: DelayCostTerms[] = [];
  private readonly costs: DelayCostTerms[] = [];

  constructor(options: PolicyOptions = {}) {
    this.rng = createRng(options.seed, 'mulberry32');
    this.now = options.now ?? Date.now;
    this.epsilon = options.loadBalanceEpsilon ?? Number.POSITIVE_INFINITY;
    if (!(this.epsilon >= 0)) throw new RangeError(`kv-delay load bound ε must be ≥ 0, got ${this.epsilon}`);
    this.ownDecode = options.decodeOwnTime ?? false;
    this.pricesDecode = options.decodePressure ?? false;
    this.waitSlack = options.waitSlack ?? 'saved';
    this.pricesRecompute = options.recomputePrice ?? true;
    const prior = options.prefillTokensPerMs ?? chunkPrefillRate(MOCKER_STEP_TIMING, DEFAULT_CHUNK_TOKENS);
    this.rate = new PrefillRateEstimator(prior);
    this.received = options.receivedStall ? new ReceivedStallEstimator() : undefined;
  }

  select(request: RouteRequest, workers: readonly WorkerView[]): RouteDecision {
    const tokensPerMs = this.rate.tokensPerMs;
    const bound = requestLoadBound(workers, this.epsilon);
    const meanOutput = this.output.mean;
    const recent = this.received?.recentTokens(this.now());
    const costs = this.costs;
    costs.length = workers.length;
    for (let i = 0; i < workers.length; i++) {
      const w = workers[i]!;
      // Not a spread: a cloned literal's number fields are boxed, and every write would allocate one.
      this.terms[i] ??= Object.assign(emptyTtftCostTerms(), {
        decode: undefined,
        received: undefined,
        recomputeTokens: 0,
        meanRunning: 0,
        recomputeMs: 0,
      });
      const terms = ttftCostTermsInto(this.terms[i]!, request, w, tokensPerMs, bound);
      // Priced decode and received stall (both opt-in) allocate their records per worker: they are kept
      // in the decision's scores.
      const model = this.pricesDecode ? this.timing.get(w.workerId) : undefined;
      const decode =
        model && meanOutput > 0 ? decodePressure(w, model, meanOutput, this.ownDecode) : undefined;
      if (decode) terms.cost += decode.pressureMs + decode.ownDecodeMs;
      terms.decode = decode;
      const tokens = recent?.get(w.workerId) ?? 0;
      const received = recent ? { tokens, ms: tokens / tokensPerMs } : undefined;
      if (received) terms.cost += received.ms;
      terms.received = received;
      terms.recomputeTokens = 0;
      terms.recomputeMs = 0;
      costs[i] = terms;
    }
    if (this.pricesRecompute) priceRecompute(costs, tokensPerMs);
    const slack = this.waitSlack === 'prompt' ? request.isl : maxSavedTokens(request, workers);
    const ownCached =
      this.waitSlack === 'cached'
        ? (c: TtftCostTerms) => Math.min(c.overlapBlocks * request.blockSize, slack)
        : undefined;
    const waitBound = applyWaitBound(costs, slack, ownCached);
    const chosen = costs[pickByTtft(costs, this.rng)]!;
    this.received?.sentPrefill(chosen.workerId, chosen.uncachedTokens, this.now());
    const scores = request.explain
      ? costs.map((c) => ({ ...c, formula: formatDelayCost(c, tokensPerMs) }))
      : costs;
    this.pending.set(request.requestId, {
      workerId: chosen.workerId,
      routedAtMs: this.now(),
      workTokens: chosen.queuedTokens + chosen.uncachedTokens,
    });
    const guards: string[] = [];
    if (guardedByLoad(costs)) guards.push(`load bound ${bound}`);
    if (guardedByWait(costs, chosen))
      guards.push(`wait bound ${waitBound - slack}t + ${slack}t saved = ${waitBound}t`);
    return {
      workerId: chosen.workerId,
      reason: guards.length === 0 ? 'min predicted delay' : `min predicted delay within ${guards.join(', ')}`,
      scores,
      overlapBlocks: chosen.overlapBlocks,
    };
  }

  onWorkerAdded(worker: WorkerInfo): void {
    if (worker.stepTiming) this.timing.set(worker.workerId, worker.stepTiming);
    else this.timing.delete(worker.workerId);
  }

  onPrefillDone(requestId: RequestId): void {
    const p = this.pending.get(requestId);
    if (p === undefined) return;
    this.pending.delete(requestId);
    if (this.received) this.firstTokenAt.set(requestId, this.now());
    this.rate.observe(p.workTokens, this.now() - p.routedAtMs);
  }

  onRequestFinished(requestId: RequestId, _workerId: WorkerId, outputTokens?: number): void {
    this.pending.delete(requestId);
    const first = this.firstTokenAt.get(requestId);
    if (first !== undefined) {
      this.firstTokenAt.delete(requestId);
      this.received?.observeDecode(this.now() - first);
    }
    if (outputTokens !== undefined) this.output.observe(outputTokens);
  }

  onWorkerRemoved(workerId: WorkerId): void {
    this.timing.delete(workerId);
    for (const [id, p] of this.pending) if (p.workerId === workerId) this.pending.delete(id);
  }
}

/**
 * The most prefill any offered worker's cache saves this request, in tokens (at most isl − 1: the last
 * token is always computed). "Wait no longer than you save": a worker may be slower to start this
 * request than the quickest one by at most this much.
 */
function maxSavedTokens(request: RouteRequest, workers: readonly WorkerView[]): number {
  let best = 0;
  for (const w of workers) best = Math.max(best, w.overlapBlocks * request.blockSize);
  return Math.min(best, Math.max(0, request.isl - 1));
}

/**
 * kv-ttft's two terms, the recompute price where this worker copies a prefix, then the decode pressure and
 * the received stall when priced:
 * "... stall + 3*343t/2*(10.93-10.31)ms = 319ms decode + 3200r/48.2 = 66.39ms received = 750ms".
 */
function formatDelayCost(c: DelayCostTerms, tokensPerMs: number): string {
  const recompute = formatRecompute(c, tokensPerMs);
  if (c.decode === undefined && c.received === undefined && recompute === '')
    return formatTtftCost(c, tokensPerMs);
  let terms = formatTtftTerms(c, tokensPerMs) + recompute;
  if (c.decode) terms += ` + ${formatDecodePressure(c.decode)}`;
  if (c.received)
    terms += ` + ${c.received.tokens}r/${formatNumber(tokensPerMs)} = ${formatNumber(c.received.ms)}ms received`;
  return `${terms} = ${formatNumber(c.cost)}ms${guardLabel(c)}`;
}
