/**
 * The replay's printed report: one Markdown table with a column per routing policy, so `--compare` reads
 * like a load balancer bake-off sheet (same traffic, one row per figure, one column per algorithm).
 */
import { fmt, markdownTable } from '../util/table.ts';
import type { LatencySummary, ReplayMetrics } from './metrics.ts';

type Row = [label: string, cell: (m: ReplayMetrics) => string];

const pct = (x: number | null) => (x === null ? 'n/a' : `${(x * 100).toFixed(1)} %`);
const ms = (x: number | null) =>
  x === null ? 'n/a' : x >= 1000 ? `${(x / 1000).toFixed(2)} s` : `${fmt(x)} ms`;

function latencyRows(name: string, pick: (m: ReplayMetrics) => LatencySummary): Row[] {
  return [
    [`${name} p50`, (m) => ms(pick(m).p50)],
    [`${name} p90`, (m) => ms(pick(m).p90)],
    [`${name} p99`, (m) => ms(pick(m).p99)],
    [`${name} mean`, (m) => ms(pick(m).mean)],
  ];
}

const ROWS: Row[] = [
  ['requests done / rejected', (m) => `${m.completed} / ${m.rejected}`],
  ['prefix hit rate (served)', (m) => pct(m.prefixHitRate)],
  ['hit rate the router expected', (m) => pct(m.predictedHitRate)],
  ...latencyRows('TTFT', (m) => m.ttftMs),
  ...latencyRows('TPOT', (m) => m.tpotMs),
  ...latencyRows('ITL', (m) => m.itlMs),
  ...latencyRows('E2E', (m) => m.e2eMs),
  ['throughput (req/s)', (m) => fmt(m.requestThroughput, 3)],
  ['output tokens/s', (m) => fmt(m.outputTokenThroughput, 1)],
  ['goodput (req/s within SLO)', (m) => `${fmt(m.goodput, 3)} (${pct(m.sloAttainment)})`],
  ['requests per worker', (m) => m.workers.map((w) => w.requests).join(' / ')],
  ['busiest worker / mean', (m) => fmt(m.imbalance, 2)],
  ['preemptions', (m) => String(m.preemptions)],
  ['simulated time', (m) => (m.simulatedS === null ? 'n/a' : `${m.simulatedS.toFixed(1)} s`)],
  ['wall time', (m) => (m.wallS === null ? 'n/a' : `${m.wallS.toFixed(1)} s`)],
];

/** One table, a column per run (a single run gives a two-column table). */
export function formatReplayTable(runs: readonly ReplayMetrics[]): string {
  const columns = [{ header: 'metric', align: 'left' as const }, ...runs.map((m) => ({ header: m.policy }))];
  return markdownTable(
    columns,
    ROWS.map(([label, cell]) => [label, ...runs.map(cell)]),
  );
}

/** The line under the table: what "within SLO" meant. */
export function sloNote(m: ReplayMetrics): string {
  return `SLO: TTFT ≤ ${m.slo.ttftMs} ms and TPOT ≤ ${m.slo.tpotMs} ms; latencies exclude rejected requests.`;
}
