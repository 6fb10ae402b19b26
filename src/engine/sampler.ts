/**
 * The sampler: one row of logits in, one token id out. Like a load balancer's pick step, it turns scores into
 * a choice: greedy is "always the best backend", temperature sampling is weighted random, and top-k / top-p /
 * min-p are the health checks that drop unlikely candidates before the weighted draw.
 *
 * Pipeline (vLLM/Hugging Face order):
 *   raw logits ─┬─► log-softmax ─► reported logprob + top-n alternatives (of the RAW model output)
 *               └─► penalties (repetition, presence, frequency) ─► logit_bias ─► grammar mask (−∞)
 *                     ├─ temperature 0 ─► argmax
 *                     └─ ÷ temperature ─► top-k ─► softmax ─► top-p ─► min-p ─► weighted draw (request's Rng)
 *
 * The input row is never modified (it is often a view into the model's logits matrix).
 */
import type { SamplingParams, TokenLogprob } from '../protocols/engine.ts';
import type { Rng } from '../util/prng.ts';

/** Below this temperature a request is treated as greedy (vLLM's _SAMPLING_EPS). */
const GREEDY_TEMPERATURE = 1e-5;

export interface SampleInput {
  logits: Float32Array; // (vocab) one row of raw model output
  promptTokenIds: readonly number[];
  outputTokenIds: readonly number[];
  params: SamplingParams;
  rng: Rng;
  /** undefined = no logprobs; 0 = only the sampled token's; n = also the n most likely alternatives. */
  numLogprobs?: number;
  /** Constrained decoding: allowed tokens, bit (id % 32) of word ⌊id / 32⌋; absent = all. */
  mask?: Int32Array;
}

export interface SampleResult {
  tokenId: number;
  logprob?: number;
  topLogprobs?: TokenLogprob[];
}

export function sampleToken(input: SampleInput): SampleResult {
  const { logits, params } = input;
  const greedy = params.temperature < GREEDY_TEMPERATURE;
  // Plain greedy (no penalty, bias or mask): the scores are the logits, so take their argmax without the
  // f64 copy (a 49152-token vocabulary: 1.3-1.7 ms a step through Float64Array.from; docs/engine-speed.md Q10).
  const plain =
    params.repetitionPenalty === 1 &&
    params.presencePenalty === 0 &&
    params.frequencyPenalty === 0 &&
    (params.logitBias === undefined || params.logitBias.length === 0) &&
    input.mask === undefined;
  let tokenId: number;
  if (greedy && plain) tokenId = argmax(logits);
  else {
    const scores = applyTokenMask(
      applyLogitBias(
        // the constructor converts a typed array in one pass; Float64Array.from goes through its iterator
        applyPenalties(new Float64Array(logits), input.promptTokenIds, input.outputTokenIds, params),
        params.logitBias,
      ),
      input.mask,
    );
    tokenId = greedy ? argmax(scores) : sampleRandom(scores, params, input.rng);
  }
  if (input.numLogprobs === undefined) return { tokenId };
  return { tokenId, ...rawLogprobs(logits, tokenId, input.numLogprobs) };
}

/** log p(token) from the raw logits, and the n most likely tokens with theirs. */
export function rawLogprobs(
  logits: Float32Array,
  tokenId: number,
  numTop: number,
): { logprob: number; topLogprobs: TokenLogprob[] } {
  const lse = logSumExp(logits);
  const top = numTop > 0 ? topKIndices(logits, numTop) : [];
  return {
    logprob: logits[tokenId]! - lse,
    topLogprobs: top.map((id) => ({ tokenId: id, logprob: logits[id]! - lse })),
  };
}

/**
 * Repetition penalty (Hugging Face/vLLM): every token seen in prompt or output has its logit divided by the
 * penalty when positive, multiplied when negative, so it always becomes less likely.
 * Presence/frequency (OpenAI): over the output only, subtract `presence` once and `frequency × count`.
 */
export function applyPenalties(
  scores: Float64Array, // (vocab) modified in place and returned
  promptTokenIds: readonly number[],
  outputTokenIds: readonly number[],
  params: Pick<SamplingParams, 'repetitionPenalty' | 'presencePenalty' | 'frequencyPenalty'>,
): Float64Array {
  const r = params.repetitionPenalty;
  if (r !== 1) {
    const seen = new Set<number>(promptTokenIds);
    for (const t of outputTokenIds) seen.add(t);
    for (const t of seen) {
      const s = scores[t]!;
      scores[t] = s > 0 ? s / r : s * r;
    }
  }
  if (params.presencePenalty !== 0 || params.frequencyPenalty !== 0) {
    const counts = new Map<number, number>();
    for (const t of outputTokenIds) counts.set(t, (counts.get(t) ?? 0) + 1);
    for (const [t, n] of counts) scores[t] -= params.presencePenalty + params.frequencyPenalty * n;
  }
  return scores;
}

/** OpenAI's logit_bias: added to the logits after the penalties, before temperature (as vLLM does). */
export function applyLogitBias(
  scores: Float64Array, // (vocab) modified in place and returned
  bias: readonly [number, number][] | undefined,
): Float64Array {
  if (bias) for (const [tokenId, b] of bias) scores[tokenId] += b;
  return scores;
}

/**
 * Constrained decoding: tokens the grammar does not allow get −∞, so neither argmax nor the draw can pick
 * them (their softmax weight is exactly 0).
 */
export function applyTokenMask(scores: Float64Array, mask: Int32Array | undefined): Float64Array {
  if (mask === undefined) return scores;
  for (let i = 0; i < scores.length; i++) {
    if (((mask[i >>> 5]! >>> (i & 31)) & 1) === 0) scores[i] = Number.NEGATIVE_INFINITY;
  }
  return scores;
}

/** Temperature, then the candidate filters, then one weighted draw. Uses exactly one random number. */
function sampleRandom(scores: Float64Array, params: SamplingParams, rng: Rng): number {
  const vocab = scores.length;
  for (let i = 0; i < vocab; i++) scores[i] /= params.temperature;

  const filtered = (params.topK > 0 && params.topK < vocab) || params.topP < 1;
  if (!filtered && params.minP <= 0) {
    // Every token a candidate, in id order: the same softmax and draw without the id arrays (Q10).
    const probs = softmaxOver(scores, null);
    return weightedDraw(null, probs, rng.nextFloat());
  }
  let chosen: number[];
  let weights: Float64Array;
  if (!(params.topK > 0 && params.topK < vocab) && params.topP < 1) {
    ({ chosen, weights } = topPNucleus(scores, params.topP));
  } else {
    // Candidates, most likely first when top-k needs the order; otherwise every token.
    const candidates =
      params.topK > 0 && params.topK < vocab
        ? topKIndices(scores, params.topK)
        : Array.from({ length: vocab }, (_, i) => i);
    const probs = softmaxOver(scores, candidates); // probs[j] belongs to candidates[j]
    const keep = params.topP < 1 ? topPCount(probs, params.topP) : candidates.length;
    chosen = candidates.slice(0, keep);
    weights = probs.subarray(0, keep);
  }
  if (params.minP > 0) ({ chosen, weights } = applyMinP(chosen, weights, params.minP));
  return weightedDraw(chosen, weights, rng.nextFloat());
}

/**
 * Top-p over the whole vocabulary without sorting token ids: the same numbers as sorting every id by its
 * score (largest first, lower id on ties), taking the softmax in that order and the smallest prefix whose
 * mass reaches topP, bit for bit. The softmax's sum and the prefix walk need only the scores in descending
 * order, not which id holds each (equal scores add equal terms), and a typed-array sort of the values runs
 * natively; ids are then collected and sorted only for the nucleus, not all 49k of SmolLM2's vocabulary
 * through a comparator (one top-p draw 51 → 16 ms on a busy 2-core box, 120 of 120 draws identical).
 */
export function topPNucleus(scores: Float64Array, topP: number): { chosen: number[]; weights: Float64Array } {
  const descending = Float64Array.from(scores).sort().reverse();
  const n = descending.length;
  const max = descending[0]!;
  let sum = 0;
  for (let j = 0; j < n; j++) sum += Math.exp(descending[j]! - max);
  let keep = n;
  let cumulative = 0;
  for (let j = 0; j < n; j++) {
    cumulative += Math.exp(descending[j]! - max) / sum;
    if (cumulative >= topP) {
      keep = j + 1;
      break;
    }
  }
  const weakest = descending[keep - 1]!; // every kept token scores at least this (ties may add more ids)
  const ids: number[] = [];
  for (let i = 0; i < n; i++) if (scores[i]! >= weakest) ids.push(i);
  if (ids.length < keep) return topPBySortingEveryId(scores, topP); // NaN scores: keep the reference path's answer
  const chosen = ids.sort((a, b) => (before(scores, a, b) ? -1 : 1)).slice(0, keep);
  const weights = new Float64Array(keep);
  for (let j = 0; j < keep; j++) weights[j] = Math.exp(scores[chosen[j]!]! - max) / sum;
  return { chosen, weights };
}

/** The reference top-p: every id sorted by score, softmax in that order, the prefix reaching topP. */
export function topPBySortingEveryId(
  scores: Float64Array,
  topP: number,
): { chosen: number[]; weights: Float64Array } {
  const candidates = sortedIndices(scores);
  const probs = softmaxOver(scores, candidates);
  const keep = topPCount(probs, topP);
  return { chosen: candidates.slice(0, keep), weights: probs.subarray(0, keep) };
}

/** Smallest prefix of descending `probs` whose mass reaches topP (at least one token). */
function topPCount(probs: Float64Array, topP: number): number {
  let cumulative = 0;
  for (let j = 0; j < probs.length; j++) {
    cumulative += probs[j]!;
    if (cumulative >= topP) return j + 1;
  }
  return probs.length;
}

/** Drop tokens whose probability is below minP × the largest one. */
function applyMinP(
  chosen: number[],
  weights: Float64Array,
  minP: number,
): { chosen: number[]; weights: Float64Array } {
  let max = 0;
  for (const w of weights) if (w > max) max = w;
  const threshold = minP * max;
  const keptIds: number[] = [];
  const keptWeights: number[] = [];
  for (let j = 0; j < chosen.length; j++) {
    if (weights[j]! >= threshold) {
      keptIds.push(chosen[j]!);
      keptWeights.push(weights[j]!);
    }
  }
  return { chosen: keptIds, weights: Float64Array.from(keptWeights) };
}

/**
 * Inverse-CDF draw: walk the (unnormalized) weights until their running sum passes u × total. `ids` null:
 * weight j belongs to token j.
 */
function weightedDraw(ids: readonly number[] | null, weights: Float64Array, u: number): number {
  let total = 0;
  for (let j = 0; j < weights.length; j++) total += weights[j]!;
  let target = u * total;
  for (let j = 0; j < weights.length; j++) {
    target -= weights[j]!;
    if (target < 0) return ids ? ids[j]! : j;
  }
  const last = weights.length - 1; // rounding left a sliver at the end
  return ids ? ids[last]! : last;
}

/** Probabilities of `ids` (null: every token, in id order) renormalized among themselves (max-subtracted). */
function softmaxOver(scores: Float64Array, ids: readonly number[] | null): Float64Array {
  const n = ids ? ids.length : scores.length;
  let max = Number.NEGATIVE_INFINITY;
  for (let j = 0; j < n; j++) {
    const v = scores[ids ? ids[j]! : j]!;
    if (v > max) max = v;
  }
  const out = new Float64Array(n);
  let sum = 0;
  for (let j = 0; j < n; j++) sum += out[j] = Math.exp(scores[ids ? ids[j]! : j]! - max);
  for (let j = 0; j < n; j++) out[j] /= sum;
  return out;
}

export function logSumExp(values: ArrayLike<number>): number {
  let max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < values.length; i++) if (values[i]! > max) max = values[i]!;
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += Math.exp(values[i]! - max);
  return max + Math.log(sum);
}

/** Index of the largest value; the lowest index wins ties (so greedy is reproducible). */
export function argmax(values: ArrayLike<number>): number {
  let best = 0;
  let bestValue = values[0]!;
  for (let i = 1; i < values.length; i++) {
    const v = values[i]!;
    if (v > bestValue) {
      best = i;
      bestValue = v;
    }
  }
  return best;
}

/** Larger value first, lower index first on ties. */
function before(values: ArrayLike<number>, a: number, b: number): boolean {
  return values[a]! > values[b]! || (values[a] === values[b] && a < b);
}

function sortedIndices(values: ArrayLike<number>): number[] {
  return Array.from({ length: values.length }, (_, i) => i).sort((a, b) => (before(values, a, b) ? -1 : 1));
}

/**
 * The k largest values' indices, largest first: O(V log k) with a size-k min-heap whose root is the
 * weakest survivor, so a 128k vocabulary with k = 50 never gets fully sorted.
 */
export function topKIndices(values: ArrayLike<number>, k: number): number[] {
  const n = Math.min(k, values.length);
  if (n <= 0) return [];
  const heap: number[] = [];
  const weaker = (a: number, b: number) => before(values, b, a); // a ranks below b
  const siftDown = (i: number) => {
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < heap.length && weaker(heap[l]!, heap[m]!)) m = l;
      if (r < heap.length && weaker(heap[r]!, heap[m]!)) m = r;
      if (m === i) return;
      [heap[i], heap[m]] = [heap[m]!, heap[i]!];
      i = m;
    }
  };
  for (let i = 0; i < values.length; i++) {
    if (heap.length < n) {
      heap.push(i);
      for (let c = heap.length - 1; c > 0; ) {
        const p = (c - 1) >> 1;
        if (!weaker(heap[c]!, heap[p]!)) break;
        [heap[c], heap[p]] = [heap[p]!, heap[c]!];
        c = p;
      }
    } else if (weaker(heap[0]!, i)) {
      heap[0] = i;
      siftDown(0);
    }
  }
  return heap.sort((a, b) => (before(values, a, b) ? -1 : 1));
}
