/**
 * `bench:disagg`'s tables: one row per disaggregated run, its aggregated baseline beside it, and the
 * ratios disagg ÷ agg that the verdict reads (below 1.00x = disaggregation is better).
 */
import { fmt, markdownTable } from '../../src/util/table.ts';
import type { Comparison } from './disagg-sweep.ts';

export interface Row {
  label: string;
  comparison: Comparison;
}

/** "0.42x", or "n/a". */
export const ratio = (x: number) => (Number.isFinite(x) ? `${x.toFixed(2)}x` : 'n/a');

const pct = (x: number | null | undefined) =>
  x === null || x === undefined ? 'n/a' : `${(x * 100).toFixed(1)} %`;

export const COMPARISON_COLUMNS = [
  'agg TTFT mean ms',
  'TTFT mean ms',
  'TTFT p99 ms',
  'agg ITL p99 ms',
  'ITL p99 ms',
  'agg ITL p99.9 ms',
  'ITL p99.9 ms',
  'remote prefill',
  'queue full',
  'KV transfer p50 ms',
  'TTFT mean ÷ agg',
  'TTFT p99 ÷ agg',
  'ITL p99 ÷ agg',
  'ITL p99.9 ÷ agg',
] as const;

export function comparisonTable(firstColumn: string, rows: readonly Row[]): string {
  const columns = [
    { header: firstColumn, align: 'left' as const },
    ...COMPARISON_COLUMNS.map((header) => ({ header })),
  ];
  return markdownTable(
    columns,
    rows.map(({ label, comparison: c }) => {
      const d = c.disagg.disagg;
      return [
        label,
        fmt(c.agg.ttftMs.mean),
        fmt(c.disagg.ttftMs.mean),
        fmt(c.disagg.ttftMs.p99),
        fmt(c.agg.itlMs.p99),
        fmt(c.disagg.itlMs.p99),
        fmt(c.aggItlP999Ms),
        fmt(c.itlP999Ms),
        pct(d?.remoteShare),
        String(d?.decisions.prefill_queue_full ?? 0),
        fmt(d?.transferMs.p50),
        ratio(c.ttftMeanRatio),
        ratio(c.ttftP99Ratio),
        ratio(c.itlP99Ratio),
        ratio(c.itlP999Ratio),
      ];
    }),
  );
}
