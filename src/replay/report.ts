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
  [
    'hit-rate ceiling: 1 node LRU / infinite',
    (m) => (m.hitRateCeiling ? `${pct(m.hitRateCeiling.lru)} / ${pct(m.hitRateCeiling.infinite)}` : 'n/a'),
  ],
  [
    'prefix hit ÷ LRU ceiling',
    (m) =>
      m.prefixHitRate === null || !m.hitRateCeiling?.lru
        ? 'n/a'
        : pct(m.prefixHitRate / m.hitRateCeiling.lru),
  ],
  ...latencyRows('TTFT', (m) => m.ttftMs),
  [
    'TTFT mean bound, any router (infinite / LRU cache)',
    (m) => (m.ttftBoundMs ? `${ms(m.ttftBoundMs.infinite)} / ${ms(m.ttftBoundMs.lru)}` : 'n/a'),
  ],
  [
    'TTFT mean = queue + prefill steps',
    (m) => (m.queueMs && m.prefillStepsMs ? `${ms(m.queueMs.mean)} + ${ms(m.prefillStepsMs.mean)}` : 'n/a'),
  ],
  ['queue time p50 / p99', (m) => (m.queueMs ? `${ms(m.queueMs.p50)} / ${ms(m.queueMs.p99)}` : 'n/a')],
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

/** Disaggregated runs: what moved where. Shown when any run of the table is disaggregated. */
const DISAGG_ROWS: Row[] = [
  [
    'cluster',
    (m) =>
      m.disagg
        ? `${m.disagg.prefillWorkers} prefill + ${m.disagg.decodeWorkers} decode`
        : `${m.workers.length} aggregated`,
  ],
  ['KV link', (m) => m.disagg?.link ?? '-'],
  [
    'remote prefills (share)',
    (m) => (m.disagg ? `${m.disagg.remotePrefills} (${pct(m.disagg.remoteShare)})` : '-'),
  ],
  ['decisions', (m) => (m.disagg ? decisionsCell(m.disagg.decisions) : '-')],
  ['KV transfer p50', (m) => (m.disagg ? ms(m.disagg.transferMs.p50) : '-')],
  ['KV transfer p99', (m) => (m.disagg ? ms(m.disagg.transferMs.p99) : '-')],
  ['KV moved', (m) => (m.disagg ? `${(m.disagg.transferBytes / 2 ** 30).toFixed(2)} GiB` : '-')],
  [
    'prompt tokens computed (prefill / decode workers)',
    (m) => (m.disagg ? `${m.disagg.prefillWorkerTokens} / ${m.disagg.decodeWorkerTokens}` : '-'),
  ],
  ['hand-off fallbacks', (m) => (m.disagg ? String(m.disagg.fallbacks) : '-')],
];

function decisionsCell(decisions: Record<string, number | undefined>): string {
  const entries = Object.entries(decisions).filter(([, n]) => n !== undefined && n > 0);
  return entries.length === 0 ? 'none' : entries.map(([reason, n]) => `${reason} ${n}`).join(', ');
}

/** One table, a column per run (a single run gives a two-column table). */
export function formatReplayTable(runs: readonly ReplayMetrics[]): string {
  const columns = [{ header: 'metric', align: 'left' as const }, ...runs.map((m) => ({ header: m.policy }))];
  const rows = runs.some((m) => m.disagg !== undefined) ? [...DISAGG_ROWS, ...ROWS] : ROWS;
  return markdownTable(
    columns,
    rows.map(([label, cell]) => [label, ...runs.map(cell)]),
  );
}

/** The line under the table: what "within SLO" meant. */
export function sloNote(m: ReplayMetrics): string {
  return `SLO: TTFT ≤ ${m.slo.ttftMs} ms and TPOT ≤ ${m.slo.tpotMs} ms; latencies exclude rejected requests.`;
}
