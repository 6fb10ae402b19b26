/**
 * `--sweep`: the same trace at several loads, every policy at each, and one picture of latency against
 * load, the way a load balancer's capacity test plots p99 against offered requests per second. The knee of
 * each curve is where that policy stops keeping up.
 *
 *   --sweep time-scale=1,0.5,0.25     timestamp replay, arrivals compressed 1×, 2×, 4× (x = 1 / time scale)
 *   --sweep concurrency=8,16,32       closed loop with that many users (x = users)
 */
import { fmt, markdownTable } from '../util/table.ts';
import { type ChartSeries, renderChart } from '../util/svg-chart.ts';
import { ReplayConfigError } from './errors.ts';
import type { LatencySummary, ReplayMetrics } from './metrics.ts';

export type SweepParameter = 'time-scale' | 'concurrency';

export interface SweepSpec {
  parameter: SweepParameter;
  values: number[];
}

/** One run of a sweep: the load it ran at and its metrics. */
export interface SweepPoint {
  value: number;
  metrics: ReplayMetrics;
}

/** Parse `time-scale=1,0.5,0.25` or `concurrency=8,16,32`. */
export function parseSweep(spec: string): SweepSpec {
  const [name, list] = spec.split('=', 2);
  if ((name !== 'time-scale' && name !== 'concurrency') || list === undefined) {
    throw new ReplayConfigError(
      `--sweep ${JSON.stringify(spec)}: use time-scale=1,0.5,0.25 (arrival compression) or concurrency=8,16,32`,
    );
  }
  const values = list.split(',').map((v) => Number(v.trim()));
  const bad = values.find((v) =>
    name === 'concurrency' ? !(Number.isInteger(v) && v >= 1) : !(Number.isFinite(v) && v > 0),
  );
  if (values.length === 0 || bad !== undefined) {
    throw new ReplayConfigError(
      `--sweep ${name}: every value must be ${name === 'concurrency' ? 'an integer ≥ 1' : 'a number > 0'}, got ${list}`,
    );
  }
  return { parameter: name, values };
}

/** The x of a load: arrival compression (1 / time scale) or users. */
export function loadOf(spec: SweepSpec, value: number): number {
  return spec.parameter === 'time-scale' ? 1 / value : value;
}

export function loadLabel(spec: SweepSpec): string {
  return spec.parameter === 'time-scale' ? 'arrival compression (1 / time scale)' : 'concurrent users';
}

const ms = (x: number | null) => (x === null ? 'n/a' : fmt(x, 1));
const pct = (x: number | null | undefined) => (x == null ? 'n/a' : `${(x * 100).toFixed(1)} %`);

/** A row per (load, policy): the latency and cache figures a capacity test compares. */
export function formatSweepTable(spec: SweepSpec, points: readonly SweepPoint[]): string {
  const header = spec.parameter === 'time-scale' ? 'time scale' : 'users';
  const columns = [
    { header },
    { header: 'policy', align: 'left' as const },
    { header: 'prefix hit' },
    { header: 'LRU ceiling' },
    { header: 'TTFT p50 ms' },
    { header: 'TTFT mean ms' },
    { header: 'TTFT p99 ms' },
    { header: 'TPOT mean ms' },
    { header: 'TPOT p99 ms' },
    { header: 'req/s' },
    { header: 'wall s' },
  ];
  const rows = points.map(({ value, metrics: m }) => [
    String(value),
    m.policy,
    pct(m.prefixHitRate),
    pct(m.hitRateCeiling?.lru),
    ms(m.ttftMs.p50),
    ms(m.ttftMs.mean),
    ms(m.ttftMs.p99),
    ms(m.tpotMs.mean),
    ms(m.tpotMs.p99),
    fmt(m.requestThroughput, 2),
    m.wallS === null ? 'n/a' : m.wallS.toFixed(1),
  ]);
  return markdownTable(columns, rows);
}

/** Four panels (TTFT mean, TTFT p99, TPOT mean, TPOT p99 against load), one line per policy. */
export function renderSweepChart(spec: SweepSpec, points: readonly SweepPoint[], title: string): string {
  const policies = [...new Set(points.map((p) => p.metrics.policy))];
  const series = (pick: (m: ReplayMetrics) => LatencySummary, q: 'mean' | 'p99'): ChartSeries[] =>
    policies.map((policy) => ({
      name: policy,
      points: points
        .filter((p) => p.metrics.policy === policy && pick(p.metrics)[q] !== null)
        .map((p) => [loadOf(spec, p.value), pick(p.metrics)[q]!] as const)
        .sort((a, b) => a[0] - b[0]),
    }));
  const xLabel = loadLabel(spec);
  const panel = (name: string, pick: (m: ReplayMetrics) => LatencySummary, q: 'mean' | 'p99') => ({
    title: `${name} ${q} vs load`,
    xLabel,
    yLabel: `${name} ${q}, ms`,
    series: series(pick, q),
    yFromZero: true,
  });
  return renderChart({
    title,
    subtitle: `one line per routing policy; ${xLabel} on x`,
    columns: 2,
    panels: [
      panel('TTFT', (m) => m.ttftMs, 'mean'),
      panel('TTFT', (m) => m.ttftMs, 'p99'),
      panel('TPOT', (m) => m.tpotMs, 'mean'),
      panel('TPOT', (m) => m.tpotMs, 'p99'),
    ],
  });
}
