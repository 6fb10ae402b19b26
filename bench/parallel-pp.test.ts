/**
 * Runs `bench/parallel-pp.ts --smoke --json` as the lead's combined bench would and checks the shape of its
 * report (never the numbers): a PP=1 row and PP=2 rows per micro-batch count, memory for every stage, link
 * bytes only where there are links.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { repoRoot } from '../src/util/paths.ts';
import type { PipelineBenchRow } from './parallel-pp.ts';

test('bench/parallel-pp.ts --smoke --json reports every configuration with memory per stage', () => {
  const r = spawnSync(process.execPath, ['bin/run-ts.mjs', 'bench/parallel-pp.ts', '--smoke', '--json'], {
    cwd: repoRoot,
    encoding: 'utf8',
    timeout: 180_000,
  });
  assert.equal(r.status, 0, r.stderr.slice(-3000));
  const report = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { rows: PipelineBenchRow[] };
  assert.deepEqual(
    report.rows.map((row) => [row.stages, row.microBatches]),
    [
      [1, 1],
      [2, 1],
      [2, 2],
    ],
  );
  for (const row of report.rows) {
    assert.equal(row.memory.length, row.stages);
    assert.ok(row.outputTokensPerS > 0);
    assert.equal(row.bubbleMeasured === null, row.stages === 1);
    assert.equal(row.linkBytesPerToken > 0, row.stages > 1);
  }
});
