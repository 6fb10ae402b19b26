/**
 * The recompute price (`kv-delay`, router README round 6): what recomputing a prefix some other worker
 * already holds costs the cluster beyond the worker that does it.
 *
 *   extra_w   = uncached_w − min over offered workers (uncached_v)   tokens w prefills only because it lacks
 *                                                                    the longest cached prefix (a copy)
 *   r̄         = mean requests in flight over the offered workers      the cluster's running count
 *   recompute = r̄ · extra_w / R                                      added to w's predicted delay
 *
 * Why. The stall term charges a prefill to the requests decoding where it runs. For the copy, that is only
 * half of its cost: the stall term makes the policy level the running counts, so a worker below the mean
 * (where copies go, because its stall is small) is below it only until the next requests take it. The
 * copy's engine time is capacity those requests no longer find there: they run where the cluster's mean
 * r̄ are decoding, and stall them for as long. Like the shadow price of a shared link in congestion
 * pricing: a flow that takes a detour pays its own delay and the load it adds to the detour's other users,
 * here measured, not tuned (r̄ is the router's own in-flight counts; R, as every term, only sets the unit).
 *
 * Decisions see it as every uncached token charged at 1 + running_w + r̄ instead of 1 + running_w: the
 * r̄ · least part is the same on every worker and never changes the argmin, so pricing only the copy keeps
 * the log readable (0 where the longest prefix is) and decides exactly the same.
 *
 * Measured (26 study inputs and 16 held-out ones, fast simulator; `round-6.md`): on tool-agent about half
 * the moves that copied a prefix (mostly a 2,048-token system prompt) to a momentarily idle worker stay,
 * with the same E2E mean; ≥ 90 % of the hit-rate ceiling at 4× on every input (was 4 of 13 and 3 of 8 below).
 */
import { formatNumber } from './kv-cost.ts';
import type { TtftCostTerms } from './ttft-cost.ts';

export interface RecomputeTerms extends TtftCostTerms {
  /** Uncached tokens here beyond the least any offered worker needs (0 where the longest prefix is). */
  recomputeTokens: number;
  /** The decision's mean requests in flight per offered worker (r̄). */
  meanRunning: number;
  /** r̄ · recomputeTokens / R, already added to `cost`. */
  recomputeMs: number;
}

/** Adds the recompute price to every cost (in place). `costs` holds one entry per offered worker. */
export function priceRecompute(costs: readonly RecomputeTerms[], tokensPerMs: number): void {
  let least = Number.POSITIVE_INFINITY;
  let running = 0;
  for (const c of costs) {
    least = Math.min(least, c.uncachedTokens);
    running += c.running;
  }
  const meanRunning = costs.length > 0 ? running / costs.length : 0;
  for (const c of costs) {
    c.recomputeTokens = c.uncachedTokens - least;
    c.meanRunning = meanRunning;
    c.recomputeMs = (meanRunning * c.recomputeTokens) / tokensPerMs;
    c.cost += c.recomputeMs;
  }
}

/** " + 2.5*1536c/48 = 80ms recompute", or "" where the worker copies nothing. */
export function formatRecompute(c: RecomputeTerms, tokensPerMs: number): string {
  if (c.recomputeTokens <= 0) return '';
  return (
    ` + ${formatNumber(c.meanRunning)}*${c.recomputeTokens}c/${formatNumber(tokensPerMs)} = ` +
    `${formatNumber(c.recomputeMs)}ms recompute`
  );
}
