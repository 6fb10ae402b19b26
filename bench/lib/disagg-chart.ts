/**
 * `bench:disagg`'s picture: disagg ÷ agg ratios (below 1 = disaggregation better) against link speed, for
 * every P:D split, and against the prompt mix and the offered load for the headline split, and per KV
 * transfer mode (whole / layer-wise) and decision rule (Dynamo's / link-aware) against link speed; dashed lines
 * mark the goal (ITL p99 ≤ 0.5×, TTFT mean ≤ 1.2×) and parity (1×).
 */
import { type ChartPanel, type ChartSeries, renderChart } from '../../src/util/svg-chart.ts';
import { type Comparison, GOAL } from './disagg-sweep.ts';

type Sweep = ReadonlyArray<{ x: number; comparison: Comparison }>;

export interface DisaggChartData {
  title: string;
  /** Per split ("2:6"), the ratios at each link speed (Gbit/s) on the mixed workload. */
  linkSweep: ReadonlyArray<{ name: string; points: Sweep }>;
  /** Best split per point over the headline link, per long-prompt fraction (0..1). */
  fractionSweep: Sweep;
  /** Best split per point, per link ("25 Gbit/s"), the ratios at each offered load (req/s). */
  loadByLink: ReadonlyArray<{ name: string; points: Sweep }>;
  /** Per KV transfer mode and decision rule ("layerwise, dynamo"), best split per link, at `modeRate`. */
  modeSweep: ReadonlyArray<{ name: string; points: Sweep }>;
  modeRate: number;
  /** Mooncake trace, its best split, per link speed. */
  traceLinks: Sweep;
  bestSplit: string;
  traceBestSplit: string;
  links: readonly number[];
}

const pick = (sweep: Sweep, f: (c: Comparison) => number, scaleX = 1): Array<[number, number]> =>
  sweep.map((p) => [p.x * scaleX, f(p.comparison)]);

const itl = (c: Comparison) => c.itlP99Ratio;
const ttft = (c: Comparison) => c.ttftMeanRatio;

/** A dashed horizontal reference line across `xs`. */
function reference(name: string, y: number, xs: readonly number[], color: string): ChartSeries {
  const lo = Math.min(...xs);
  const hi = Math.max(...xs);
  return {
    name,
    points: [
      [lo, y],
      [hi, y],
    ],
    dashed: true,
    color,
  };
}

export function renderDisaggChart(d: DisaggChartData): string {
  const linkPanel = (
    title: string,
    f: (c: Comparison) => number,
    goal: number,
    goalName: string,
  ): ChartPanel => ({
    title,
    xLabel: 'link speed (Gbit/s)',
    yLabel: 'disagg ÷ agg',
    xScale: 'log2',
    xTicks: d.links,
    series: [
      ...d.linkSweep.map((s) => ({ name: `P:D ${s.name}`, points: pick(s.points, f) })),
      reference(goalName, goal, d.links, '#888'),
      reference('parity', 1, d.links, '#ccc'),
    ],
  });
  const modePanel = (
    title: string,
    f: (c: Comparison) => number,
    goal: number,
    goalName: string,
  ): ChartPanel => {
    const xs = d.modeSweep.flatMap((s) => s.points.map((p) => p.x));
    return {
      title,
      xLabel: 'link speed (Gbit/s)',
      yLabel: 'disagg ÷ agg',
      xScale: 'log2',
      xTicks: [...new Set(xs)],
      series: [
        ...d.modeSweep.map((s) => ({ name: s.name, points: pick(s.points, f) })),
        reference(goalName, goal, xs, '#888'),
        reference('parity', 1, xs, '#ccc'),
      ],
    };
  };
  const loadPanel = (
    title: string,
    f: (c: Comparison) => number,
    goal: number,
    goalName: string,
  ): ChartPanel => {
    const xs = d.loadByLink.flatMap((s) => s.points.map((p) => p.x));
    return {
      title,
      xLabel: 'requests per second',
      yLabel: 'disagg ÷ agg',
      series: [
        ...d.loadByLink.map((s) => ({ name: s.name, points: pick(s.points, f) })),
        reference(goalName, goal, xs, '#888'),
        reference('parity', 1, xs, '#ccc'),
      ],
    };
  };
  const ratioPanel = (title: string, xLabel: string, sweep: Sweep, scaleX: number): ChartPanel => {
    const xs = sweep.map((p) => p.x * scaleX);
    return {
      title,
      xLabel,
      yLabel: 'disagg ÷ agg',
      series: [
        { name: 'ITL p99', points: pick(sweep, itl, scaleX) },
        { name: 'TTFT mean', points: pick(sweep, ttft, scaleX) },
        reference('ITL goal 0.5', GOAL.itlP99Ratio, xs, '#888'),
        reference('TTFT bound 1.2', GOAL.ttftMeanRatio, xs, '#bbb'),
      ],
    };
  };
  return renderChart({
    title: d.title,
    subtitle: `mixed long/short workload; headline split ${d.bestSplit}; the prompt-mix and load panels take the best split at each point`,
    columns: 3,
    panels: [
      linkPanel('ITL p99 ratio vs link speed', itl, GOAL.itlP99Ratio, 'goal 0.5'),
      linkPanel('TTFT mean ratio vs link speed', ttft, GOAL.ttftMeanRatio, 'bound 1.2'),
      {
        title: `Mooncake trace (split ${d.traceBestSplit})`,
        xLabel: 'link speed (Gbit/s)',
        yLabel: 'disagg ÷ agg',
        xScale: 'log2',
        xTicks: d.links,
        series: [
          { name: 'ITL p99', points: pick(d.traceLinks, itl) },
          { name: 'TTFT mean', points: pick(d.traceLinks, ttft) },
          reference('parity', 1, d.links, '#ccc'),
        ],
      },
      ratioPanel('Ratios vs long-prompt share', 'long prompts (%)', d.fractionSweep, 100),
      loadPanel('ITL p99 ratio vs offered load', itl, GOAL.itlP99Ratio, 'goal 0.5'),
      loadPanel('TTFT mean ratio vs offered load', ttft, GOAL.ttftMeanRatio, 'bound 1.2'),
      modePanel(`ITL p99 ratio: KV mode × rule (${d.modeRate} req/s)`, itl, GOAL.itlP99Ratio, 'goal 0.5'),
      modePanel(
        `TTFT mean ratio: KV mode × rule (${d.modeRate} req/s)`,
        ttft,
        GOAL.ttftMeanRatio,
        'bound 1.2',
      ),
    ],
  });
}
