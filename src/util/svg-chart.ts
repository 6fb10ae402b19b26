/**
 * A small, dependency-free SVG line-chart writer for benchmark reports: one or more panels side by side,
 * each with axes, "nice" ticks, grid lines, axis labels, a legend and point markers (hover shows the value).
 * Like gnuplot's `set terminal svg` reduced to what a benchmark needs: the output is a plain text file that
 * any browser or GitHub renders, diffable, with no plotting library to install.
 *
 *   renderChart({ title, panels: [{ title, xLabel, yLabel, xScale: 'log2', series: [{ name, points }] }] })
 *
 * Panel layout (pixels):
 *
 *   ┌──────────────── panelWidth ────────────────┐
 *   │            panel title (top margin)        │
 *   │ y ┌────────────────────────────────────┐   │
 *   │ l │ plot area: grid, series, markers   │   │
 *   │ a │                                    │   │
 *   │ b └────────────────────────────────────┘   │
 *   │     x ticks, x label, legend rows          │
 *   └────────────────────────────────────────────┘
 */

export interface ChartSeries {
  name: string;
  /** [x, y] pairs; points with a non-finite coordinate are skipped. */
  points: ReadonlyArray<readonly [number, number]>;
  /** Any CSS colour (default: the next palette colour). */
  color?: string;
  dashed?: boolean;
}

export interface ChartPanel {
  title: string;
  xLabel: string;
  yLabel: string;
  series: readonly ChartSeries[];
  /** 'log2' spaces 1, 2, 4, 8, ... evenly (concurrency sweeps); x values must be > 0. Default 'linear'. */
  xScale?: 'linear' | 'log2';
  /** Tick positions on x (default: nice ticks; for log2, the powers of two in range). */
  xTicks?: readonly number[];
  /** Start the y axis at zero (default true), so a rise of 5 % does not look like a doubling. */
  yFromZero?: boolean;
}

export interface ChartOptions {
  title?: string;
  subtitle?: string;
  panels: readonly ChartPanel[];
  /** Panels per row (default: all in one row). */
  columns?: number;
  panelWidth?: number;
  panelHeight?: number;
}

/** Tableau 10: distinguishable, colour-blind friendly enough, prints well. */
export const PALETTE = [
  '#4e79a7',
  '#f28e2b',
  '#e15759',
  '#76b7b2',
  '#59a14f',
  '#edc948',
  '#b07aa1',
  '#ff9da7',
  '#9c755f',
  '#bab0ac',
];

const FONT = 'font-family="Helvetica, Arial, sans-serif"';
const MARGIN = { left: 68, right: 20, top: 34, bottom: 48 };
const LEGEND_ROW = 18;
const CHAR_WIDTH = 6.6; // approximate width of one 11px character, for legend layout

export function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** Round numbers in 1-2-2.5-5 × 10^k steps covering [min, max], about `target` intervals. */
export function niceTicks(min: number, max: number, target = 5): number[] {
  if (!Number.isFinite(min) || !Number.isFinite(max)) return [0, 1];
  if (max <= min) {
    const pad = min === 0 ? 1 : Math.abs(min) * 0.1;
    return niceTicks(min - pad, max + pad, target);
  }
  const step = niceStep((max - min) / target);
  const start = Math.floor(min / step + 1e-9) * step;
  const count = Math.ceil((max - start) / step - 1e-9);
  return Array.from({ length: count + 1 }, (_, i) => cleanFloat(start + i * step));
}

function niceStep(raw: number): number {
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const norm = raw / magnitude;
  const factor = norm <= 1 ? 1 : norm <= 2 ? 2 : norm <= 2.5 ? 2.5 : norm <= 5 ? 5 : 10;
  return factor * magnitude;
}

/** 0.30000000000000004 → 0.3 */
function cleanFloat(x: number): number {
  return Number.parseFloat(x.toPrecision(12));
}

/** Tick label: as many decimals as the tick spacing has (2.5 → one); ten thousand and up as "k". */
export function formatTick(value: number, step: number): string {
  if (Math.abs(value) >= 10_000 && step >= 1000) return `${cleanFloat(value / 1000)}k`;
  return value.toFixed(Math.min(6, decimalsOf(step)));
}

function decimalsOf(x: number): number {
  const s = cleanFloat(x).toString();
  const dot = s.indexOf('.');
  return dot < 0 || s.includes('e') ? 0 : s.length - dot - 1;
}

interface Axis {
  ticks: number[];
  /** Data value → pixel. */
  toPx: (v: number) => number;
}

function xAxis(panel: ChartPanel, xs: number[], px0: number, px1: number): Axis {
  if (panel.xScale === 'log2') {
    const pos = xs.filter((x) => x > 0);
    const lo = Math.log2(pos.length ? Math.min(...pos) : 1);
    let hi = Math.log2(pos.length ? Math.max(...pos) : 2);
    if (hi <= lo) hi = lo + 1;
    const ticks =
      panel.xTicks?.slice() ??
      Array.from({ length: Math.floor(hi) - Math.ceil(lo) + 1 }, (_, i) => 2 ** (Math.ceil(lo) + i));
    return { ticks, toPx: (v) => px0 + ((Math.log2(v) - lo) / (hi - lo)) * (px1 - px0) };
  }
  const ticks = panel.xTicks?.slice() ?? niceTicks(Math.min(...xs), Math.max(...xs));
  const lo = Math.min(ticks[0]!, ...xs);
  const hi = Math.max(ticks[ticks.length - 1]!, ...xs);
  const span = hi > lo ? hi - lo : 1;
  return { ticks, toPx: (v) => px0 + ((v - lo) / span) * (px1 - px0) };
}

function yAxis(panel: ChartPanel, ys: number[], px0: number, px1: number): Axis {
  const fromZero = panel.yFromZero ?? true;
  const lo = ys.length ? Math.min(...ys, ...(fromZero ? [0] : [])) : 0;
  const hi = ys.length ? Math.max(...ys) : 1;
  const ticks = niceTicks(lo, hi);
  const t0 = ticks[0]!;
  const t1 = ticks[ticks.length - 1]!;
  // px0 is the bottom of the plot: larger values go up.
  return { ticks, toPx: (v) => px0 - ((v - t0) / (t1 - t0)) * (px0 - px1) };
}

/** Legend items packed into rows that fit `width`; returns each item's row and x offset. */
function layoutLegend(names: readonly string[], width: number): { row: number; x: number }[] {
  const out: { row: number; x: number }[] = [];
  let row = 0;
  let x = 0;
  for (const name of names) {
    const w = 26 + name.length * CHAR_WIDTH + 14;
    if (x > 0 && x + w > width) {
      row++;
      x = 0;
    }
    out.push({ row, x });
    x += w;
  }
  return out;
}

const finitePoints = (s: ChartSeries) =>
  s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));

function renderPanel(panel: ChartPanel, width: number, height: number): string {
  const plotWidth = width - MARGIN.left - MARGIN.right;
  const legend = layoutLegend(
    panel.series.map((s) => s.name),
    plotWidth,
  );
  const legendRows = legend.length ? legend[legend.length - 1]!.row + 1 : 0;
  const plotBottom = height - MARGIN.bottom - legendRows * LEGEND_ROW;
  const left = MARGIN.left;
  const right = width - MARGIN.right;
  const top = MARGIN.top;
  const points = panel.series.flatMap(finitePoints);
  const xs = points.map(([x]) => x);
  const x = xAxis(panel, xs.length ? xs : [0, 1], left, right);
  const y = yAxis(
    panel,
    points.map(([, v]) => v),
    plotBottom,
    top,
  );
  const yStep = y.ticks.length > 1 ? y.ticks[1]! - y.ticks[0]! : 1;
  const xStep = x.ticks.length > 1 ? Math.abs(x.ticks[1]! - x.ticks[0]!) : 1;
  const parts: string[] = [];
  parts.push(
    `<text x="${width / 2}" y="20" text-anchor="middle" font-size="14" font-weight="bold" ${FONT}>${escapeXml(panel.title)}</text>`,
  );
  for (const t of y.ticks) {
    const py = y.toPx(t).toFixed(1);
    parts.push(`<line x1="${left}" y1="${py}" x2="${right}" y2="${py}" stroke="#e5e5e5"/>`);
    parts.push(
      `<text x="${left - 6}" y="${py}" dy="4" text-anchor="end" font-size="11" ${FONT}>${formatTick(t, yStep)}</text>`,
    );
  }
  for (const t of x.ticks) {
    const px = x.toPx(t).toFixed(1);
    parts.push(`<line x1="${px}" y1="${plotBottom}" x2="${px}" y2="${plotBottom + 5}" stroke="#333"/>`);
    parts.push(
      `<text x="${px}" y="${plotBottom + 18}" text-anchor="middle" font-size="11" ${FONT}>${formatTick(t, xStep)}</text>`,
    );
  }
  parts.push(
    `<polyline points="${left},${top} ${left},${plotBottom} ${right},${plotBottom}" fill="none" stroke="#333"/>`,
  );
  parts.push(
    `<text x="${(left + right) / 2}" y="${plotBottom + 36}" text-anchor="middle" font-size="12" ${FONT}>${escapeXml(panel.xLabel)}</text>`,
  );
  const midY = ((top + plotBottom) / 2).toFixed(1);
  parts.push(
    `<text x="16" y="${midY}" transform="rotate(-90 16 ${midY})" text-anchor="middle" font-size="12" ${FONT}>${escapeXml(panel.yLabel)}</text>`,
  );
  panel.series.forEach((s, i) => {
    const color = escapeXml(s.color ?? PALETTE[i % PALETTE.length]!);
    const pts = finitePoints(s).map(([px, py]) => [x.toPx(px), y.toPx(py), px, py] as const);
    const dash = s.dashed ? ' stroke-dasharray="6 4"' : '';
    const path = pts.map(([px, py]) => `${px.toFixed(1)},${py.toFixed(1)}`).join(' ');
    if (pts.length > 1) {
      parts.push(`<polyline points="${path}" fill="none" stroke="${color}" stroke-width="2"${dash}/>`);
    }
    for (const [px, py, vx, vy] of pts) {
      parts.push(
        `<circle cx="${px.toFixed(1)}" cy="${py.toFixed(1)}" r="3" fill="${color}"><title>${escapeXml(
          `${s.name}: x=${cleanFloat(vx)}, y=${cleanFloat(vy)}`,
        )}</title></circle>`,
      );
    }
    const { row, x: lx } = legend[i]!;
    const ly = plotBottom + MARGIN.bottom + row * LEGEND_ROW;
    parts.push(
      `<line x1="${left + lx}" y1="${ly - 4}" x2="${left + lx + 20}" y2="${ly - 4}" stroke="${color}" stroke-width="2"${dash}/>`,
    );
    parts.push(`<text x="${left + lx + 26}" y="${ly}" font-size="11" ${FONT}>${escapeXml(s.name)}</text>`);
  });
  return parts.join('\n');
}

/** The whole chart as an SVG document (a string; write it to a `.svg` file). */
export function renderChart(opts: ChartOptions): string {
  const panelWidth = opts.panelWidth ?? 480;
  const panelHeight = opts.panelHeight ?? 320;
  const columns = Math.max(1, Math.min(opts.columns ?? opts.panels.length, opts.panels.length));
  const rows = Math.ceil(opts.panels.length / columns);
  const header = (opts.title ? 30 : 0) + (opts.subtitle ? 18 : 0);
  const width = columns * panelWidth;
  const height = header + rows * panelHeight;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" role="img" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">`,
    // An accessible name for screen readers (and biome's a11y lint, which also checks .svg files).
    `<title>${escapeXml(opts.title ?? opts.panels.map((p) => p.title).join(', '))}</title>`,
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
  ];
  if (opts.title) {
    parts.push(
      `<text x="${width / 2}" y="22" text-anchor="middle" font-size="16" font-weight="bold" ${FONT}>${escapeXml(opts.title)}</text>`,
    );
  }
  if (opts.subtitle) {
    parts.push(
      `<text x="${width / 2}" y="${header - 6}" text-anchor="middle" font-size="11" fill="#555" ${FONT}>${escapeXml(opts.subtitle)}</text>`,
    );
  }
  opts.panels.forEach((panel, i) => {
    const tx = (i % columns) * panelWidth;
    const ty = header + Math.floor(i / columns) * panelHeight;
    parts.push(`<g transform="translate(${tx} ${ty})">`, renderPanel(panel, panelWidth, panelHeight), '</g>');
  });
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}
