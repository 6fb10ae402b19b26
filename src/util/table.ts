/**
 * Markdown tables for benchmark reports: paste-ready into a README or an issue. Like `column -t`, but the
 * output renders as a table on GitHub too. Numeric columns are right-aligned (`---:`).
 */

export interface Column {
  header: string;
  /** 'right' for numbers (default), 'left' for names. */
  align?: 'left' | 'right';
}

/** Render rows of already-formatted cells; pipes inside cells are escaped. */
export function markdownTable(columns: readonly Column[], rows: ReadonlyArray<readonly string[]>): string {
  const escapePipes = (cell: string) => cell.replace(/\|/g, '\\|');
  const line = (cells: readonly string[]) => `| ${cells.map(escapePipes).join(' | ')} |`;
  const rule = columns.map((c) => ((c.align ?? 'right') === 'right' ? '---:' : '---'));
  for (const row of rows) {
    if (row.length !== columns.length) {
      throw new RangeError(`table row has ${row.length} cells but there are ${columns.length} columns`);
    }
  }
  return [line(columns.map((c) => c.header)), `|${rule.join('|')}|`, ...rows.map(line)].join('\n');
}

/** Fixed decimals, or "n/a" for a missing value (NaN, null). */
export function fmt(x: number | null | undefined, digits = 1): string {
  return x === null || x === undefined || !Number.isFinite(x) ? 'n/a' : x.toFixed(digits);
}
