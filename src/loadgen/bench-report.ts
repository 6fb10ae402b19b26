/**
 * Print a run the way people already read them: vLLM `bench serve`'s result block (same labels, same
 * order), one CSV row per run with the result keys as the header, and one JSON line whose keys are vLLM's
 * (`completed`, `request_throughput`, `mean_ttft_ms`, ...), so scripts written for vLLM's result files work.
 */
import { type BenchResult, METRIC_NAMES, type MetricName } from './bench-metrics.ts';

const WIDTH = 50;
const LABEL = 41;

const SECTION: Record<MetricName, [string, string]> = {
  ttft: ['Time to First Token', 'TTFT'],
  tpot: ['Time per Output Token (excl. 1st token)', 'TPOT'],
  itl: ['Inter-token Latency', 'ITL'],
  e2el: ['End-to-end Latency', 'E2EL'],
};

function banner(title: string, fill: string): string {
  const side = Math.max(0, WIDTH - title.length);
  const left = Math.floor(side / 2);
  return `${fill.repeat(left)}${title}${fill.repeat(side - left)}`;
}

function row(label: string, value: string | number): string {
  return `${label.padEnd(LABEL)}${value}`;
}

export function formatResultBlock(r: BenchResult, title = ' Serving Benchmark Result '): string {
  const lines = [
    banner(title, '='),
    row('Successful requests:', r.completed),
    row('Failed requests:', r.failed),
    row('Maximum request concurrency:', r.max_concurrent_requests),
    row('Benchmark duration (s):', r.duration.toFixed(2)),
    row('Total input tokens:', r.total_input_tokens),
    row('Total generated tokens:', r.total_output_tokens),
    row('Prefix-cached input tokens:', r.total_cached_tokens),
    row('Request throughput (req/s):', r.request_throughput.toFixed(2)),
  ];
  if (r.request_goodput !== null) lines.push(row('Request goodput (req/s):', r.request_goodput.toFixed(2)));
  lines.push(
    row('Output token throughput (tok/s):', r.output_throughput.toFixed(2)),
    row('Total Token throughput (tok/s):', r.total_token_throughput.toFixed(2)),
  );
  for (const name of METRIC_NAMES) {
    const [section, short] = SECTION[name];
    lines.push(banner(section, '-'));
    for (const [stat, label] of [
      ['mean', 'Mean'],
      ['median', 'Median'],
      ['p90', 'P90'],
      ['p99', 'P99'],
    ] as const) {
      lines.push(row(`${label} ${short} (ms):`, r[`${stat}_${name}_ms`].toFixed(2)));
    }
  }
  const errors = Object.entries(r.errors).sort((a, b) => b[1] - a[1]);
  if (errors.length > 0) {
    lines.push(banner('Errors', '-'));
    for (const [message, count] of errors.slice(0, 8)) lines.push(`${String(count).padStart(6)}  ${message}`);
  }
  lines.push('='.repeat(WIDTH));
  return lines.join('\n');
}

/** Keys of a result in a stable order: the scalar ones (errors are a map, left out of CSV). */
function csvKeys(r: BenchResult): string[] {
  return Object.keys(r).filter((k) => k !== 'errors');
}

function csvCell(v: unknown): string {
  const s = v === null || v === undefined ? '' : String(v);
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** Header + one row per run; `label` columns (e.g. the sweep point) come first. */
export function formatCsv(
  runs: ReadonlyArray<{ label: Record<string, unknown>; result: BenchResult }>,
): string {
  if (runs.length === 0) return '';
  const labelKeys = Object.keys(runs[0]!.label);
  const keys = csvKeys(runs[0]!.result);
  const lines = [[...labelKeys, ...keys].join(',')];
  for (const { label, result } of runs) {
    const rec = result as unknown as Record<string, unknown>;
    lines.push([...labelKeys.map((k) => csvCell(label[k])), ...keys.map((k) => csvCell(rec[k]))].join(','));
  }
  return `${lines.join('\n')}\n`;
}
