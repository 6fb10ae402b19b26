/**
 * The numbers a load generator reports, computed from what the client saw and nothing else (§8 of the
 * design notes; the key names are vLLM `bench serve`'s, so results can be compared line by line):
 *
 *   sent ──TTFT──► chunk₀ ──ITL──► chunk₁ ──ITL──► … chunkₙ₋₁ ──► done
 *   TPOT = (E2E − TTFT) / (output tokens − 1)         per request with more than one output token
 *   goodput = requests per second that met every SLO given with --goodput (ttft:MS tpot:MS e2el:MS)
 *
 * Like reading latency off a client-side tcpdump rather than the server's own logs: a proxy, a queue or a
 * slow tokenizer anywhere on the path is inside the numbers.
 */
import { mean, percentileOfSorted } from '../util/stats.ts';

/** What one request did, as the client saw it. Times are ms on one monotonic clock. */
export interface RequestResult {
  /** When the request was written to the socket. */
  sentAt: number;
  /** Arrival time of every streamed chunk that carried text (or a token). */
  chunkTimes: number[];
  /** When the response ended (last byte). */
  endedAt: number;
  /** Output tokens: the server's usage count when it sent one, else the number of text chunks. */
  outputTokens: number;
  /** Prompt tokens: the server's usage count, else the prompt source's estimate. */
  inputTokens: number;
  /** Prompt tokens the server said it served from cache (usage.prompt_tokens_details.cached_tokens). */
  cachedTokens: number;
  /** Undefined on success; otherwise what went wrong ("HTTP 429: ...", "ECONNRESET", ...). */
  error?: string;
}

/** SLOs for goodput, in ms; a request is "good" when it meets every one given. */
export interface GoodputSlo {
  ttft?: number;
  tpot?: number;
  e2el?: number;
}

export const METRIC_NAMES = ['ttft', 'tpot', 'itl', 'e2el'] as const;
export type MetricName = (typeof METRIC_NAMES)[number];

export type MetricStat = 'mean' | 'median' | 'std' | 'p90' | 'p99';
/** `mean_ttft_ms`, `p99_itl_ms`, ...: vLLM's names for each statistic of each metric. */
export type MetricKey = `${MetricStat}_${MetricName}_ms`;

/** vLLM `bench serve`'s result dictionary (the keys we compute), plus our cache and error counts. */
export type BenchResult = BenchTotals & { [K in MetricKey]: number };

export interface BenchTotals {
  completed: number;
  failed: number;
  duration: number;
  total_input_tokens: number;
  total_output_tokens: number;
  total_cached_tokens: number;
  request_throughput: number;
  request_goodput: number | null;
  output_throughput: number;
  total_token_throughput: number;
  max_concurrent_requests: number;
  errors: Record<string, number>;
}

/** TTFT of one successful request (ms), or NaN when no chunk arrived. */
export function ttftOf(r: RequestResult): number {
  return r.chunkTimes.length > 0 ? r.chunkTimes[0]! - r.sentAt : Number.NaN;
}

export function e2elOf(r: RequestResult): number {
  return r.endedAt - r.sentAt;
}

/** Mean time per output token after the first; NaN for one-token replies (vLLM leaves them out too). */
export function tpotOf(r: RequestResult): number {
  if (r.outputTokens < 2 || r.chunkTimes.length === 0) return Number.NaN;
  return (e2elOf(r) - ttftOf(r)) / (r.outputTokens - 1);
}

/** Gaps between consecutive chunks of one request. */
export function itlsOf(r: RequestResult): number[] {
  const gaps: number[] = [];
  for (let i = 1; i < r.chunkTimes.length; i++) gaps.push(r.chunkTimes[i]! - r.chunkTimes[i - 1]!);
  return gaps;
}

export function meetsSlo(r: RequestResult, slo: GoodputSlo): boolean {
  if (slo.ttft !== undefined && !(ttftOf(r) <= slo.ttft)) return false;
  // A one-token reply has no TPOT: it cannot miss a TPOT SLO.
  if (slo.tpot !== undefined && r.outputTokens >= 2 && !(tpotOf(r) <= slo.tpot)) return false;
  if (slo.e2el !== undefined && !(e2elOf(r) <= slo.e2el)) return false;
  return true;
}

function std(xs: readonly number[]): number {
  if (xs.length === 0) return 0;
  const m = mean(xs);
  return Math.sqrt(xs.reduce((s, x) => s + (x - m) ** 2, 0) / xs.length);
}

/** The most requests that were in flight at one instant (sent but not ended). */
export function maxConcurrency(results: readonly RequestResult[]): number {
  const edges: Array<[number, number]> = [];
  for (const r of results) edges.push([r.sentAt, 1], [r.endedAt, -1]);
  edges.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let now = 0;
  let peak = 0;
  for (const [, delta] of edges) {
    now += delta;
    peak = Math.max(peak, now);
  }
  return peak;
}

/**
 * Every metric over a run. `durationMs` is the wall time from the first send to the last end (what
 * throughput divides by); failed requests count in `failed` and `errors`, never in latency statistics.
 */
export function computeBenchResult(
  results: readonly RequestResult[],
  durationMs: number,
  slo?: GoodputSlo,
): BenchResult {
  const ok = results.filter((r) => r.error === undefined);
  const errors: Record<string, number> = {};
  for (const r of results) if (r.error !== undefined) errors[r.error] = (errors[r.error] ?? 0) + 1;
  const seconds = durationMs / 1000;
  const input = ok.reduce((s, r) => s + r.inputTokens, 0);
  const output = ok.reduce((s, r) => s + r.outputTokens, 0);
  const samples: Record<MetricName, number[]> = {
    ttft: ok.map(ttftOf).filter(Number.isFinite),
    tpot: ok.map(tpotOf).filter(Number.isFinite),
    itl: ok.flatMap(itlsOf),
    e2el: ok.map(e2elOf),
  };
  const result = {
    completed: ok.length,
    failed: results.length - ok.length,
    duration: round(seconds, 3),
    total_input_tokens: input,
    total_output_tokens: output,
    total_cached_tokens: ok.reduce((s, r) => s + r.cachedTokens, 0),
    request_throughput: round(ok.length / seconds, 3),
    request_goodput: slo ? round(ok.filter((r) => meetsSlo(r, slo)).length / seconds, 3) : null,
    output_throughput: round(output / seconds, 2),
    total_token_throughput: round((input + output) / seconds, 2),
    max_concurrent_requests: maxConcurrency(results),
    errors,
  } as BenchResult;
  for (const name of METRIC_NAMES) {
    const sorted = Float64Array.from(samples[name]).sort();
    const at = (q: number) => (sorted.length > 0 ? round(percentileOfSorted(sorted, q), 3) : 0);
    result[`mean_${name}_ms`] = round(sorted.length > 0 ? mean(samples[name]) : 0, 3);
    result[`median_${name}_ms`] = at(50);
    result[`std_${name}_ms`] = round(std(samples[name]), 3);
    result[`p90_${name}_ms`] = at(90);
    result[`p99_${name}_ms`] = at(99);
  }
  return result;
}

function round(x: number, digits: number): number {
  if (!Number.isFinite(x)) return 0;
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** `ttft:500 tpot:50` (or comma separated) → SLOs; a clear error for anything else. */
export function parseGoodput(spec: string): GoodputSlo {
  const slo: GoodputSlo = {};
  for (const part of spec.split(/[\s,]+/).filter(Boolean)) {
    const [key, value] = part.split(':');
    const ms = Number(value);
    if ((key !== 'ttft' && key !== 'tpot' && key !== 'e2el') || !Number.isFinite(ms) || ms <= 0) {
      throw new Error(`--goodput takes ttft:MS tpot:MS e2el:MS (positive ms), got "${part}"`);
    }
    slo[key] = ms;
  }
  if (Object.keys(slo).length === 0)
    throw new Error('--goodput needs at least one of ttft:MS tpot:MS e2el:MS');
  return slo;
}
