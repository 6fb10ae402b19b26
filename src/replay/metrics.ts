/**
 * From per-request records to the benchmark numbers (docs/design-notes.md#benchmark-metrics), like a load
 * tester's summary (wrk,
 * vegeta report): latency percentiles, throughput, and how many requests met the SLO.
 *
 *   TTFT   arrival → first token                      (queueing + routing + prefill)
 *   ITL    every gap between consecutive tokens       (pooled over all requests)
 *   TPOT   (E2E − TTFT) / (output tokens − 1)         (per request with ≥ 2 tokens)
 *   E2E    arrival → last token
 *   throughput   completed requests (output tokens) / time from the first arrival to the last token
 *   goodput      requests per second that met every SLO (TTFT ≤ slo.ttftMs and TPOT ≤ slo.tpotMs)
 *   prefix hit rate  cached prompt tokens / prompt tokens (what the workers' caches actually served)
 */
import type { DisaggReason } from '../router/index.ts';
import { describeLink } from '../util/link-spec.ts';
import { round, summarize } from '../util/stats.ts';
import type { ReplayResult, RequestRecord } from './replay-run.ts';

/** Milliseconds, rounded to 0.01; null when there were no samples. */
export interface LatencySummary {
  mean: number | null;
  p50: number | null;
  p90: number | null;
  p99: number | null;
}

export interface Slo {
  ttftMs: number;
  tpotMs: number;
}

/** The usual example SLO (docs/design-notes.md#benchmark-metrics). */
export const DEFAULT_SLO: Slo = { ttftMs: 500, tpotMs: 50 };

export interface WorkerMetrics {
  workerId: string;
  requests: number;
  preemptions: number;
  /** Prompt tokens the worker computed (cache hits and transferred KV excluded). */
  prefillTokens: number;
  /** Disaggregated runs: 'prefill' or 'decode'. */
  role?: string;
}

/** What disaggregation did in one run (present only when the run was disaggregated). */
export interface DisaggMetrics {
  prefillWorkers: number;
  decodeWorkers: number;
  /** "25 Gbit/s, 10 µs" */
  link: string;
  kvBytesPerToken: number;
  /** Completed requests whose prompt a prefill worker computed. */
  remotePrefills: number;
  /** remotePrefills / completed requests. */
  remoteShare: number | null;
  /** Completed requests per decision reason (remote, short_uncached_prompt, prefill_queue_full, ...). */
  decisions: Partial<Record<DisaggReason, number>>;
  /** KV pull time per remote prefill (link latency + bytes ÷ bandwidth). */
  transferMs: LatencySummary;
  transferBytes: number;
  /** Remote prefills without a KV pull: decode prefilled them itself (a hand-off or pull failure). */
  fallbacks: number;
  /** Prompt tokens computed by the prefill workers, and by the decode workers (local prompts + last tokens). */
  prefillWorkerTokens: number;
  decodeWorkerTokens: number;
}

export interface ReplayMetrics {
  policy: string;
  requests: number;
  completed: number;
  /** Refused by the engine (e.g. a prompt longer than the context); not in the latency figures. */
  rejected: number;
  promptTokens: number;
  cachedTokens: number;
  outputTokens: number;
  prefixHitRate: number | null;
  /** What the router expected to be cached where it sent each request (overlap blocks × block size). */
  predictedHitRate: number | null;
  /**
   * The trace's ceiling for prefixHitRate: one node with the cluster's whole KV capacity (LRU), and an
   * infinite cache; computed from the hash_ids at the engine block size (`cache-ceiling.ts`).
   */
  hitRateCeiling?: { lru: number; infinite: number; capacityTokens: number };
  /**
   * No router's mean TTFT on this trace and cluster is below `infinite` (each request's uncached prompt
   * under an infinite cache, alone or through a perfectly balanced queue; `ttft-bound.ts`); `lru` uses the
   * LRU ceiling's hits instead. Aggregated timestamp replays only.
   */
  ttftBoundMs?: { infinite: number; lru: number };
  ttftMs: LatencySummary;
  /**
   * Where the TTFT went: each request's wait in its engine's queue before its first step (vLLM's
   * `time_in_queue`), and the rest of its TTFT, its prefill steps (which also carry decode steps and other
   * prompts' chunks). Absent when an engine did not report queue times.
   */
  queueMs?: LatencySummary;
  prefillStepsMs?: LatencySummary;
  tpotMs: LatencySummary;
  itlMs: LatencySummary;
  e2eMs: LatencySummary;
  requestThroughput: number | null;
  outputTokenThroughput: number | null;
  slo: Slo;
  goodput: number | null;
  /** Fraction of completed requests within the SLO. */
  sloAttainment: number | null;
  workers: WorkerMetrics[];
  /** Busiest worker's request count / the mean (1 = perfectly even). */
  imbalance: number | null;
  preemptions: number;
  simulatedS: number | null;
  wallS: number | null;
  /** Disaggregated runs only. */
  disagg?: DisaggMetrics;
}

export function ttftOf(r: RequestRecord): number {
  return r.firstTokenMs - r.arrivalMs;
}

export function e2eOf(r: RequestRecord): number {
  return r.finishMs - r.arrivalMs;
}

/** TPOT of one request, or undefined with fewer than two tokens (no inter-token time to average). */
export function tpotOf(r: RequestRecord): number | undefined {
  return r.outputTokens >= 2 ? (e2eOf(r) - ttftOf(r)) / (r.outputTokens - 1) : undefined;
}

export function latencySummary(samples: readonly number[]): LatencySummary {
  const s = summarize(samples);
  return { mean: round(s.mean), p50: round(s.p50), p90: round(s.p90), p99: round(s.p99) };
}

/**
 * `latencySummary` of samples given as (value, count) pairs: the same numbers as the expanded list
 * (mean; percentiles interpolated between ranks, as `src/util/stats.ts`), without expanding it. The fast
 * simulator records a decode run's equal inter-token gaps once with their count.
 */
export function weightedLatencySummary(values: readonly number[], counts: readonly number[]): LatencySummary {
  const order = values.map((_, i) => i).sort((a, b) => values[a]! - values[b]!);
  let n = 0;
  let sum = 0;
  for (let i = 0; i < values.length; i++) {
    n += counts[i]!;
    sum += values[i]! * counts[i]!;
  }
  if (n === 0) return latencySummary([]);
  /** The value at 0-based position `pos` of the expanded, sorted list. */
  const at = (pos: number): number => {
    let seen = 0;
    for (const i of order) {
      seen += counts[i]!;
      if (pos < seen) return values[i]!;
    }
    return values[order[order.length - 1]!]!;
  };
  const percentile = (q: number): number => {
    const rank = (q / 100) * (n - 1);
    const lo = at(Math.floor(rank));
    return lo + (at(Math.ceil(rank)) - lo) * (rank - Math.floor(rank));
  };
  return {
    mean: round(sum / n),
    p50: round(percentile(50)),
    p90: round(percentile(90)),
    p99: round(percentile(99)),
  };
}

function meetsSlo(r: RequestRecord, slo: Slo): boolean {
  const tpot = tpotOf(r);
  return ttftOf(r) <= slo.ttftMs && (tpot === undefined || tpot <= slo.tpotMs);
}

export function summarizeReplay(result: ReplayResult, slo: Slo = DEFAULT_SLO): ReplayMetrics {
  const done = result.records.filter((r) => r.rejected === undefined);
  const sum = (f: (r: RequestRecord) => number) => done.reduce((acc, r) => acc + f(r), 0);
  const promptTokens = sum((r) => r.inputLength);
  const cachedTokens = sum((r) => r.cachedTokens);
  const outputTokens = sum((r) => r.outputTokens);
  const seconds = result.simulatedMs / 1000;
  const perSecond = (n: number) => (seconds > 0 ? round(n / seconds, 3) : null);
  const ratio = (a: number, b: number) => (b > 0 ? round(a / b, 4) : null);
  const good = done.filter((r) => meetsSlo(r, slo)).length;
  const tpots = done.map(tpotOf).filter((t): t is number => t !== undefined);
  // Balance among the workers that stream tokens (prefill workers serve another kind of request).
  const counts = result.workers.filter((w) => w.role !== 'prefill').map((w) => w.requests);
  const meanCount = counts.reduce((a, b) => a + b, 0) / Math.max(1, counts.length);
  const metrics: ReplayMetrics = {
    policy: result.policy,
    requests: result.records.length,
    completed: done.length,
    rejected: result.records.length - done.length,
    promptTokens,
    cachedTokens,
    outputTokens,
    prefixHitRate: ratio(cachedTokens, promptTokens),
    predictedHitRate: ratio(
      sum((r) => r.predictedCachedTokens),
      promptTokens,
    ),
    ttftMs: latencySummary(done.map(ttftOf)),
    tpotMs: latencySummary(tpots),
    itlMs:
      result.itlCounts === undefined
        ? latencySummary(result.itlsMs)
        : weightedLatencySummary(result.itlsMs, result.itlCounts),
    e2eMs: latencySummary(done.map(e2eOf)),
    requestThroughput: perSecond(done.length),
    outputTokenThroughput: perSecond(outputTokens),
    slo,
    goodput: perSecond(good),
    sloAttainment: ratio(good, done.length),
    workers: result.workers.map((w) => ({
      workerId: w.workerId,
      requests: w.requests,
      preemptions: w.preemptions,
      prefillTokens: w.prefillTokens,
      ...(w.role === undefined ? {} : { role: w.role }),
    })),
    imbalance: meanCount > 0 ? round(Math.max(...counts) / meanCount, 3) : null,
    preemptions: result.workers.reduce((a, w) => a + w.preemptions, 0),
    simulatedS: round(seconds, 3),
    wallS: round(result.wallMs / 1000, 3),
  };
  if (done.length > 0 && done.every((r) => Number.isFinite(r.queueMs))) {
    metrics.queueMs = latencySummary(done.map((r) => r.queueMs));
    metrics.prefillStepsMs = latencySummary(done.map((r) => ttftOf(r) - r.queueMs));
  }
  if (result.ceiling) {
    metrics.hitRateCeiling = {
      lru: round(result.ceiling.lruHitRate, 4) ?? 0,
      infinite: round(result.ceiling.infiniteHitRate, 4) ?? 0,
      capacityTokens: result.ceiling.capacityTokens,
    };
  }
  if (result.ttftBound) {
    metrics.ttftBoundMs = {
      infinite: round(result.ttftBound.infinite.meanMs) ?? 0,
      lru: round(result.ttftBound.lru.meanMs) ?? 0,
    };
  }
  if (result.options.disagg) metrics.disagg = summarizeDisagg(result, done);
  return metrics;
}

function summarizeDisagg(result: ReplayResult, done: readonly RequestRecord[]): DisaggMetrics {
  const config = result.options.disagg!;
  const remote = done.filter((r) => r.remotePrefill === true);
  const pulled = remote.filter((r) => r.transferMs !== undefined);
  const decisions: Partial<Record<DisaggReason, number>> = {};
  for (const r of done) {
    if (r.disaggReason !== undefined) decisions[r.disaggReason] = (decisions[r.disaggReason] ?? 0) + 1;
  }
  const tokensOf = (role: string) =>
    result.workers.filter((w) => w.role === role).reduce((a, w) => a + w.prefillTokens, 0);
  return {
    prefillWorkers: config.prefillWorkers,
    decodeWorkers: config.decodeWorkers,
    link: describeLink(config.link),
    kvBytesPerToken: config.kvBytesPerToken,
    remotePrefills: remote.length,
    remoteShare: done.length > 0 ? round(remote.length / done.length, 4) : null,
    decisions,
    transferMs: latencySummary(pulled.map((r) => r.transferMs!)),
    transferBytes: pulled.reduce((a, r) => a + r.transferBytes!, 0),
    fallbacks: remote.length - pulled.length,
    prefillWorkerTokens: tokensOf('prefill'),
    decodeWorkerTokens: tokensOf('decode'),
  };
}
