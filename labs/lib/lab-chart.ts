/**
 * A lab's curve as a picture: the table a lab prints, drawn as a chart and written as SVG + PNG
 * (`src/util/chart-files.ts`), the way a lab notebook pastes the plot beside the numbers. Files go to
 * `labs/out/` (gitignored) or `--charts DIR`; the lab prints where.
 */
import { join, relative } from 'node:path';
import { type ChartFiles, writeChartFiles } from '../../src/util/chart-files.ts';
import { repoRoot } from '../../src/util/paths.ts';
import { type ChartOptions, renderChart } from '../../src/util/svg-chart.ts';
import { argValue, note } from './lab-kit.ts';

/** Where a lab's charts go: `--charts DIR`, else labs/out/. */
export function labChartDir(): string {
  return argValue('charts') ?? join(repoRoot, 'labs', 'out');
}

/** Writes `labs/out/<lab id>-<name>.svg` and `.png`, and prints one line naming them. */
export async function writeLabChart(labId: string, name: string, chart: ChartOptions): Promise<ChartFiles> {
  const files = await writeChartFiles(join(labChartDir(), `${labId}-${name}`), renderChart(chart));
  note(`Chart: ${relative(process.cwd(), files.svg)} and .png`);
  return files;
}
