/**
 * Summary statistics for benchmark samples: mean, median and percentiles. Like the latency histogram a load
 * balancer keeps per backend, reduced to the handful of numbers a report prints (p50/p90/p99 as in the
 * design's §8 metric definitions).
 *
 * Percentiles interpolate linearly between the two nearest ranks (numpy's default), so p99 of 64 samples
 * sits between the 63rd and 64th smallest instead of snapping to the maximum.
 */

export interface Summary {
  count: number;
  mean: number;
  min: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

export function mean(xs: readonly number[]): number {
  if (xs.length === 0) return Number.NaN;
  let sum = 0;
  for (const x of xs) sum += x;
  return sum / xs.length;
}

/** The q-th percentile (q in 0..100) of `xs`; NaN for no samples. */
export function percentile(xs: readonly number[], q: number): number {
  return percentileOfSorted(sortedCopy(xs), q);
}

/** The q-th percentile of samples already sorted ascending (no copy: for many percentiles of one big set). */
export function percentileOfSorted(sorted: ArrayLike<number>, q: number): number {
  if (q < 0 || q > 100) throw new RangeError(`percentile must be within 0..100, got ${q}`);
  if (sorted.length === 0) return Number.NaN;
  const rank = (q / 100) * (sorted.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (rank - lo);
}

export function median(xs: readonly number[]): number {
  return percentile(xs, 50);
}

/** Count, mean, min, p50/p90/p99, max: one sort, so it suits pooled samples (hundreds of thousands of ITLs). */
export function summarize(xs: readonly number[]): Summary {
  const sorted = sortedCopy(xs);
  return {
    count: xs.length,
    mean: mean(xs),
    min: sorted.length ? sorted[0]! : Number.NaN,
    p50: percentileOfSorted(sorted, 50),
    p90: percentileOfSorted(sorted, 90),
    p99: percentileOfSorted(sorted, 99),
    max: sorted.length ? sorted[sorted.length - 1]! : Number.NaN,
  };
}

/** Ascending copy as a Float64Array: a numeric sort without a comparator callback. */
function sortedCopy(xs: readonly number[]): Float64Array {
  return Float64Array.from(xs).sort();
}

/** Index of the run whose `key` is the median (the lower middle for an even count): report one whole run. */
export function medianIndex<T>(runs: readonly T[], key: (run: T) => number): number {
  if (runs.length === 0) throw new RangeError('medianIndex needs at least one run');
  const order = runs.map((run, i) => ({ i, v: key(run) })).sort((a, b) => a.v - b.v);
  return order[Math.floor((order.length - 1) / 2)]!.i;
}

/** Round for reports and JSON: `digits` decimals, NaN/Infinity become null (JSON has no NaN). */
export function round(x: number, digits = 2): number | null {
  if (!Number.isFinite(x)) return null;
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
