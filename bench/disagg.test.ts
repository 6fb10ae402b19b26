/**
 * Runs `bench/disagg.ts --smoke` as CI would and checks the shape of its report: the comparison tables,
 * the "where it pays" line, the goal line last, and a well-formed SVG. Never asserts the numbers.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { repoRoot } from '../src/util/paths.ts';
import { svgProblems } from '../src/util/svg-check.ts';
import { COMPARISON_COLUMNS } from './lib/disagg-table.ts';

const outDir = mkdtempSync(join(tmpdir(), 'bench-disagg-'));
after(() => rmSync(outDir, { recursive: true, force: true }));

test('bench:disagg --smoke prints the comparison tables, the goal line last, and writes the chart', () => {
  const svgPath = join(outDir, 'disagg.svg');
  const run = spawnSync(
    process.execPath,
    ['bin/run-ts.mjs', 'bench/disagg.ts', '--smoke', '--out', svgPath],
    {
      cwd: repoRoot,
      encoding: 'utf8',
      timeout: 240_000,
    },
  );
  assert.equal(run.status, 0, run.stderr);
  const lines = run.stdout.trim().split('\n');
  const headers = lines.filter((l) => l.includes('| agg TTFT mean ms |'));
  // Splits, link sweep, long fraction, long length, load, Mooncake splits, Mooncake links, modes × rules.
  assert.equal(headers.length, 8, run.stdout);
  for (const header of headers) {
    const columns = header
      .split('|')
      .slice(2, -1)
      .map((c) => c.trim());
    assert.deepEqual(columns, [...COMPARISON_COLUMNS]);
  }
  // Smoke: 4 workers split 1:3 and 2:2, links 10 and 400 Gbit/s.
  const splitRows = lines.filter((l) => /^\| [12]:[23] \|/.test(l));
  assert.equal(splitRows.length, 4, 'two splits, on the mixed workload and on the trace');
  for (const row of splitRows) {
    const ratios = row
      .split('|')
      .slice(-4, -1)
      .map((c) => c.trim());
    for (const r of ratios) assert.match(r, /^\d+\.\d\dx$/);
  }
  assert.match(run.stdout, /\| 400 Gbit\/s, 2:2 \|/);
  for (const mode of ['whole, dynamo', 'whole, link-aware', 'layerwise, dynamo', 'layerwise, link-aware'])
    assert.match(run.stdout, new RegExp(`\\| 8 req/s, 10 Gbit/s, ${mode}, \\d:\\d \\|`));
  assert.match(
    lines.at(-3)!,
    /^KV transfer mode × rule: goal met at \(load, link, mode, rule, P:D\): .*; at 8 req\/s: whole, dynamo: /,
  );
  assert.match(
    lines.at(-2)!,
    /^where it pays \(ITL p99 < 1\.00x at TTFT mean ≤ 1\.20x; link: split \d:\d, mix and load: best split per point\): link: .*goal met \(load, link\): .*Mooncake trace/,
  );
  assert.match(
    lines.at(-1)!,
    /^disagg vs agg \(mixed 2k\/100, 10gbit\): ITL p99 \d+\.\d\dx, TTFT mean \d+\.\d\dx \(goal ≤ 0\.50x at ≤ 1\.20x\): (met|NOT met) \(split \d:\d\); over link speed it pays .*; goal met at \(load, link, P:D\): /,
  );
  const svg = readFileSync(svgPath, 'utf8');
  assert.deepEqual(svgProblems(svg), []);
  assert.match(svg, /ITL p99 ratio vs link speed/);
  assert.match(svg, /TTFT mean ratio vs link speed/);
  assert.match(svg, /Ratios vs long-prompt share/);
  assert.match(svg, /ITL p99 ratio: KV mode × rule/);
});
