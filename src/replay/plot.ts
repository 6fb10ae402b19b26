/**
 * `--plot FILE.svg`: the replay's picture, one line per routing policy, three panels:
 *   - TTFT CDF: what fraction of requests saw their first token within x ms (log₂ x axis);
 *   - E2E CDF: the same for whole requests;
 *   - prefix hit rate over time: cached / prompt tokens of the requests that arrived so far.
 * A CDF shows the whole latency distribution, tails included, the way a load balancer's latency
 * histogram does; the hit-rate panel shows the caches warming up.
 */
import { percentileOfSorted } from '../util/stats.ts';
import { type ChartSeries, renderChart } from '../util/svg-chart.ts';
import { e2eOf, ttftOf } from './metrics.ts';
import type { ReplayResult, RequestRecord } from './replay-run.ts';

/** Points per curve: enough for a smooth line, few enough for a small file. */
const CDF_POINTS = 100;
const TIME_POINTS = 60;

/** [x, fraction ≤ x] at evenly spaced quantiles (0 ms samples are lifted to 1 ms for the log axis). */
export function cdfPoints(samples: readonly number[], points = CDF_POINTS): Array<[number, number]> {
  if (samples.length === 0) return [];
  const sorted = Float64Array.from(samples).sort();
  return Array.from({ length: points + 1 }, (_, i) => {
    const q = (i / points) * 100;
    return [Math.max(1, percentileOfSorted(sorted, q)), q / 100];
  });
}

/** [minutes since start, cumulative hit rate] sampled at `points` evenly spaced arrivals. */
export function hitRateOverTime(
  records: readonly RequestRecord[],
  points = TIME_POINTS,
): Array<[number, number]> {
  const done = records.filter((r) => r.rejected === undefined).sort((a, b) => a.arrivalMs - b.arrivalMs);
  if (done.length === 0) return [];
  const start = done[0]!.arrivalMs;
  const every = Math.max(1, Math.floor(done.length / points));
  const out: Array<[number, number]> = [];
  let cached = 0;
  let prompt = 0;
  done.forEach((r, i) => {
    cached += r.cachedTokens;
    prompt += r.inputLength;
    if ((i + 1) % every === 0 || i === done.length - 1)
      out.push([(r.arrivalMs - start) / 60_000, cached / prompt]);
  });
  return out;
}

/** 1, 3, 10, 30, 100, ... covering the samples: readable ticks on a log axis (powers of two crowd it). */
export function logTicks(series: readonly ChartSeries[]): number[] {
  const xs = series.flatMap((s) => s.points.map(([x]) => x)).filter((x) => x > 0 && Number.isFinite(x));
  if (xs.length === 0) return [1, 10];
  const lo = Math.min(...xs);
  const hi = Math.max(...xs);
  const ticks: number[] = [];
  for (let decade = 10 ** Math.floor(Math.log10(lo)); decade <= hi; decade *= 10) {
    for (const t of [decade, 3 * decade]) if (t >= lo && t <= hi) ticks.push(t);
  }
  return ticks.length >= 2 ? ticks : [lo, hi];
}

export function renderReplayChart(results: readonly ReplayResult[], title: string): string {
  const completed = (r: ReplayResult) => r.records.filter((x) => x.rejected === undefined);
  const series = (points: (r: ReplayResult) => Array<[number, number]>): ChartSeries[] =>
    results.map((r) => ({ name: r.policy, points: points(r) }));
  const first = results[0]?.options;
  const subtitle = first
    ? `${first.workers} simulated workers, ${first.numKvBlocks} KV blocks of ${first.blockSize} tokens each, ` +
      `speedup ${first.speedupRatio}, time scale ${first.timeScale}`
    : undefined;
  const ttft = series((r) => cdfPoints(completed(r).map(ttftOf)));
  const e2e = series((r) => cdfPoints(completed(r).map(e2eOf)));
  return renderChart({
    title,
    subtitle,
    panels: [
      {
        title: 'Time to first token (CDF)',
        xLabel: 'TTFT, ms (log scale)',
        yLabel: 'fraction of requests',
        xScale: 'log2',
        xTicks: logTicks(ttft),
        series: ttft,
      },
      {
        title: 'End-to-end latency (CDF)',
        xLabel: 'E2E latency, ms (log scale)',
        yLabel: 'fraction of requests',
        xScale: 'log2',
        xTicks: logTicks(e2e),
        series: e2e,
      },
      {
        title: 'Prefix hit rate so far',
        xLabel: 'arrival time, minutes',
        yLabel: 'cached / prompt tokens',
        series: series((r) => hitRateOverTime(r.records)),
      },
    ],
  });
}
