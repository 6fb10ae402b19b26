/**
 * Dynamo's KV-router cost (docs/design-notes.md#kv-cost), and how a worker is picked from the costs.
 * Lower cost wins.
 *
 *   prefill_tokens = active_prefill_tokens[w] + max(0, isl − overlap_blocks[w] · block_size)
 *   decode_blocks  = active_blocks[w] + new blocks this request adds on w
 *   logit[w]       = overlap_score_weight · prefill_tokens / block_size + decode_blocks
 *
 * The first term is compute the worker still owes (queued prompts plus this prompt's uncached part, in
 * blocks); the second is memory it will hold. A cached prefix shrinks only the first, so the weight sets the
 * trade between cache affinity and memory balance, like a weighted least-connections balancer whose
 * connection cost depends on whether the backend has the session warm.
 *
 * Picking: temperature 0 → the minimum (ties: the worker caching fewer blocks, then random);
 * temperature T > 0 → sample softmax(−normalized_logit / T), normalized = (logit − min) / (max − min).
 */
import type { WorkerId } from '../protocols/ids.ts';
import type { Rng } from '../util/prng.ts';
import type { RouteRequest, WorkerScore, WorkerView } from './types.ts';

/** One worker's cost, term by term; it doubles as the decision's `WorkerScore` (cost = logit). */
export interface KvCostTerms extends WorkerScore {
  overlapBlocks: number;
  prefillTokens: number;
  /** prefill_tokens / block_size: the prefill backlog in blocks, the term the weight multiplies. */
  prefillBlocks: number;
  decodeBlocks: number;
  logit: number;
  /** Tie-breaker: blocks this worker caches in total. */
  treeBlocks: number;
}

export function kvCostTerms(
  request: RouteRequest,
  view: WorkerView,
  overlapBlocks: number,
  treeBlocks: number,
  overlapScoreWeight: number,
): KvCostTerms {
  return kvCostTermsInto(emptyKvCostTerms(), request, view, overlapBlocks, treeBlocks, overlapScoreWeight);
}

/** `kvCostTerms` written into `out` (a policy's reused scratch: no allocation per worker). Returns `out`. */
export function kvCostTermsInto(
  out: KvCostTerms,
  request: RouteRequest,
  view: WorkerView,
  overlapBlocks: number,
  treeBlocks: number,
  overlapScoreWeight: number,
): KvCostTerms {
  const bs = request.blockSize;
  const prefillTokens = view.activePrefillTokens + Math.max(0, request.isl - overlapBlocks * bs);
  const prefillBlocks = prefillTokens / bs;
  const decodeBlocks = view.activeBlocks + view.newBlocks;
  const logit = overlapScoreWeight * prefillBlocks + decodeBlocks;
  out.workerId = view.workerId;
  out.cost = logit;
  out.overlapBlocks = overlapBlocks;
  out.prefillTokens = prefillTokens;
  out.prefillBlocks = prefillBlocks;
  out.decodeBlocks = decodeBlocks;
  out.logit = logit;
  out.treeBlocks = treeBlocks;
  return out;
}

/** A zeroed `KvCostTerms`, every field present (one shape for all of them, reused or not). */
export function emptyKvCostTerms(): KvCostTerms {
  return {
    workerId: '' as WorkerId,
    cost: 0,
    overlapBlocks: 0,
    prefillTokens: 0,
    prefillBlocks: 0,
    decodeBlocks: 0,
    logit: 0,
    treeBlocks: 0,
  };
}

/** "1.0*12 + 30 = 42": the cost as the arithmetic that produced it, for the decision log. */
export function formatKvCost(terms: KvCostTerms, overlapScoreWeight: number): string {
  return `${formatWeight(overlapScoreWeight)}*${formatNumber(terms.prefillBlocks)} + ${formatNumber(
    terms.decodeBlocks,
  )} = ${formatNumber(terms.logit)}`;
}

/** Integers as is, fractions to at most 2 decimals ("12", "12.5", "0.33"). */
export function formatNumber(x: number): string {
  return Number.isInteger(x) ? String(x) : String(Number(x.toFixed(2)));
}

/** Weights always show a decimal point, as Dynamo's logs do: 1 → "1.0". */
function formatWeight(w: number): string {
  return Number.isInteger(w) ? w.toFixed(1) : formatNumber(w);
}

/**
 * Index of the chosen entry. T = 0: argmin of `logit`, ties to the smaller `treeBlocks`, then a random one
 * of those. T > 0: a softmax sample over normalized logits (all equal → uniform). Allocation-free (module
 * scratch): it runs once per decision.
 */
export function pickByCost(costs: readonly KvCostTerms[], temperature: number, rng: Rng): number {
  if (costs.length === 1) return 0;
  if (temperature <= 0) return argminWithTies(costs, rng);
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  for (const c of costs) {
    min = Math.min(min, c.logit);
    max = Math.max(max, c.logit);
  }
  const weights = softmaxWeightsInto(scratchFor(costs.length), costs, min, max, temperature);
  let total = 0;
  for (let i = 0; i < costs.length; i++) total += weights[i]!;
  let draw = rng.nextFloat() * total;
  for (let i = 0; i < costs.length; i++) {
    draw -= weights[i]!;
    if (draw < 0) return i;
  }
  return costs.length - 1;
}

/** Unnormalized softmax(−normalized / T): exp(−(logit − min) / (max − min) / T), 1 for the best worker. */
export function softmaxWeights(
  costs: readonly KvCostTerms[],
  min: number,
  max: number,
  temperature: number,
): number[] {
  return Array.from(softmaxWeightsInto(new Float64Array(costs.length), costs, min, max, temperature));
}

function softmaxWeightsInto(
  out: Float64Array,
  costs: readonly KvCostTerms[],
  min: number,
  max: number,
  temperature: number,
): Float64Array {
  for (let i = 0; i < costs.length; i++) {
    out[i] = max === min ? 1 : Math.exp(-((costs[i]!.logit - min) / (max - min)) / temperature);
  }
  return out;
}

/** Per-decision scratch of `pickByCost`: softmax weights, or the indices tied at the minimum. */
let weightScratch = new Float64Array(64);
let tieScratch = new Int32Array(64);
function scratchFor(n: number): Float64Array {
  if (weightScratch.length < n) {
    weightScratch = new Float64Array(2 * n);
    tieScratch = new Int32Array(2 * n);
  }
  return weightScratch;
}

function argminWithTies(costs: readonly KvCostTerms[], rng: Rng): number {
  scratchFor(costs.length);
  const best = tieScratch; // best[0..ties): the indices tied at the best so far, in order
  let ties = 0;
  for (let i = 0; i < costs.length; i++) {
    if (ties === 0) {
      best[ties++] = i;
      continue;
    }
    const b = costs[best[0]!]!;
    const c = costs[i]!;
    if (c.logit < b.logit || (c.logit === b.logit && c.treeBlocks < b.treeBlocks)) {
      best[0] = i;
      ties = 1;
    } else if (c.logit === b.logit && c.treeBlocks === b.treeBlocks) best[ties++] = i;
  }
  return ties === 1 ? best[0]! : best[rng.nextInt(ties)]!;
}
