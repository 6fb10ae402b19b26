/**
 * `--plot FILE`: the run as pictures, SVG (diffable text) and PNG (for chat and slides):
 *   - one run: TTFT CDF, ITL CDF (log₂ x), and throughput over time (output tok/s per second of the run);
 *   - a sweep: latency against achieved throughput, one point per load (the curve that shows the knee,
 *     where adding load stops adding throughput and only adds waiting).
 * SVG comes from our own `util/svg-chart.ts`; PNG is that SVG rasterized by `@resvg/resvg-js` (a Rust SVG
 * renderer shipped as prebuilt binaries: no browser, no system library).
 */
import { cdfPoints, logTicks } from '../replay/index.ts';
import { type ChartSeries, renderChart } from '../util/svg-chart.ts';
import { type BenchResult, itlsOf, type RequestResult, ttftOf } from './bench-metrics.ts';

/** Output tokens per second, bucketed by the second each chunk arrived in. */
export function throughputOverTime(
  results: readonly RequestResult[],
  startedAt: number,
): Array<[number, number]> {
  const perSecond: number[] = [];
  for (const r of results) {
    if (r.error !== undefined) continue;
    // Each text chunk stands for its share of the request's output tokens (usage may count more tokens than chunks).
    const tokensPerChunk = r.chunkTimes.length > 0 ? r.outputTokens / r.chunkTimes.length : 0;
    for (const t of r.chunkTimes) {
      const s = Math.max(0, Math.floor((t - startedAt) / 1000));
      perSecond[s] = (perSecond[s] ?? 0) + tokensPerChunk;
    }
  }
  return Array.from({ length: perSecond.length }, (_, s) => [s + 0.5, perSecond[s] ?? 0]);
}

export function renderRunChart(results: readonly RequestResult[], startedAt: number, title: string): string {
  const ok = results.filter((r) => r.error === undefined);
  const ttft: ChartSeries[] = [{ name: 'TTFT', points: cdfPoints(ok.map(ttftOf)) }];
  const itl: ChartSeries[] = [{ name: 'ITL', points: cdfPoints(ok.flatMap(itlsOf)) }];
  return renderChart({
    title,
    subtitle: `${ok.length} requests, ${results.length - ok.length} failed`,
    panels: [
      {
        title: 'Time to first token (CDF)',
        xLabel: 'TTFT (ms, log scale)',
        yLabel: 'fraction of requests',
        xScale: 'log2',
        xTicks: logTicks(ttft),
        series: ttft,
      },
      {
        title: 'Inter-token latency (CDF)',
        xLabel: 'ITL (ms, log scale)',
        yLabel: 'fraction of gaps',
        xScale: 'log2',
        xTicks: logTicks(itl),
        series: itl,
      },
      {
        title: 'Throughput over time',
        xLabel: 'time since start (s)',
        yLabel: 'output tokens / s',
        series: [{ name: 'output tok/s', points: throughputOverTime(results, startedAt) }],
      },
    ],
  });
}

/** Latency vs achieved output throughput across sweep points, p50 and p99. */
export function renderSweepChart(
  runs: ReadonlyArray<{ label: string; result: BenchResult }>,
  title: string,
): string {
  const at = (key: keyof BenchResult) =>
    runs.map((r) => [r.result.output_throughput, r.result[key] as number] as [number, number]);
  return renderChart({
    title,
    subtitle: runs.map((r) => r.label).join(', '),
    panels: [
      {
        title: 'TTFT vs throughput',
        xLabel: 'output throughput (tok/s)',
        yLabel: 'TTFT (ms)',
        series: [
          { name: 'p50', points: at('median_ttft_ms') },
          { name: 'p99', points: at('p99_ttft_ms'), dashed: true },
        ],
      },
      {
        title: 'TPOT vs throughput',
        xLabel: 'output throughput (tok/s)',
        yLabel: 'TPOT (ms)',
        series: [
          { name: 'p50', points: at('median_tpot_ms') },
          { name: 'p99', points: at('p99_tpot_ms'), dashed: true },
        ],
      },
    ],
  });
}
