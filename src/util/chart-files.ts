/**
 * Write a chart as both files people want: the SVG (text: diffable, renders on GitHub) and a PNG of it
 * (for chat, slides and issue comments), rasterized by `@resvg/resvg-js` (Rust's resvg as prebuilt
 * binaries: no browser, no system library; text uses the system fonts, e.g. Debian's fonts-dejavu-core).
 * `FILE.svg`, `FILE.png` or `FILE` all write FILE.svg and FILE.png.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

export interface ChartFiles {
  svg: string;
  png: string;
}

export function chartPaths(file: string): ChartFiles {
  const base = file.replace(/\.(svg|png)$/i, '');
  return { svg: `${base}.svg`, png: `${base}.png` };
}

/** Write `svg` to FILE.svg and its 2× rasterization (white background) to FILE.png. */
export async function writeChartFiles(file: string, svg: string): Promise<ChartFiles> {
  const paths = chartPaths(file);
  mkdirSync(dirname(paths.svg), { recursive: true });
  writeFileSync(paths.svg, svg);
  const { Resvg } = await import('@resvg/resvg-js');
  const png = new Resvg(svg, { background: 'white', fitTo: { mode: 'zoom', value: 2 } }).render().asPng();
  writeFileSync(paths.png, png);
  return paths;
}
