/**
 * Runs `bench/batching.ts --smoke --json` as a learner or CI would and checks the shape of what it reports:
 * one JSON line with a sweep point per concurrency, the prefix-cache scenario's cached-token counts (real
 * engine behaviour: the warm request reuses the whole block-aligned prefix), and a well-formed SVG chart.
 * Never asserts timings: only that they are numbers.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { repoRoot } from '../src/util/paths.ts';
import { svgProblems } from '../src/util/svg-check.ts';

const outDir = mkdtempSync(join(tmpdir(), 'bench-batching-'));
after(() => rmSync(outDir, { recursive: true, force: true }));

const isPositive = (x: unknown) => typeof x === 'number' && Number.isFinite(x) && x > 0;

test('bench:batching --smoke --json prints one JSON object and writes a well-formed SVG', () => {
  const svgPath = join(outDir, 'batching.svg');
  const result = spawnSync(
    process.execPath,
    ['bin/run-ts.mjs', 'bench/batching.ts', '--smoke', '--json', '--out', svgPath],
    { cwd: repoRoot, encoding: 'utf8', timeout: 120_000 },
  );
  assert.equal(result.status, 0, result.stderr);
  const lines = result.stdout.trim().split('\n');
  assert.equal(lines.length, 1, `--json prints only the JSON line, got:\n${result.stdout}`);
  const report = JSON.parse(lines[0]!);

  assert.equal(report.benchmark, 'batching');
  assert.ok(report.machine.cores >= 1);
  assert.deepEqual(report.config.concurrency, [1, 2]);
  assert.deepEqual(
    report.sweep.map((l: { concurrency: number }) => l.concurrency),
    [1, 2],
  );
  for (const level of report.sweep) {
    for (const key of ['decodeTokensPerSec', 'perSeqTokensPerSec', 'outputTokensPerSec', 'decodeStepMs']) {
      assert.ok(isPositive(level[key]), `${key} at concurrency ${level.concurrency}: ${level[key]}`);
    }
    for (const key of ['mean', 'p50', 'p99']) {
      assert.ok(isPositive(level.itlMs[key]), `itlMs.${key}`);
      assert.ok(isPositive(level.ttftMs[key]), `ttftMs.${key}`);
    }
    assert.equal(level.cachedTokens, 0, 'distinct sweep prompts share no cached prefix');
  }
  assert.equal(report.sweep[1].decodeBatchSize > 1, true, 'two concurrent sequences decode in one batch');
  assert.equal(report.throughputRatio.batched, 2);
  assert.ok(isPositive(report.throughputRatio.ratio));

  const { prefix } = report;
  assert.equal(prefix.coldTtftMs.length, report.config.prefixRepeats);
  assert.ok(isPositive(prefix.coldMedianMs) && isPositive(prefix.warmMedianMs) && isPositive(prefix.speedup));
  assert.deepEqual(prefix.coldCachedTokens, [0, 0], 'a fresh prefix is not in the cache');
  // 32-token prefix = two full 16-token blocks, all reused by the warm request.
  assert.deepEqual(prefix.warmCachedTokens, [32, 32]);

  assert.equal(report.chart, svgPath);
  const svg = readFileSync(svgPath, 'utf8');
  assert.deepEqual(svgProblems(svg), []);
  for (const label of ['Decode throughput', 'Inter-token latency', 'Time to first token', 'ITL p99']) {
    assert.ok(svg.includes(label), `chart mentions "${label}"`);
  }
});
