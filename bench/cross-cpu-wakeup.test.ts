import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { test } from 'node:test';

const canPin = availableParallelism() >= 2 && spawnSync('taskset', ['--version']).status === 0;

test('bench:wakeup --json: both placements measured, every run a finite time', {
  skip: !canPin && 'needs 2 CPUs and taskset',
}, () => {
  const run = spawnSync(
    process.execPath,
    ['bin/run-ts.mjs', 'bench/cross-cpu-wakeup.ts', '--round-trips', '300', '--repeats', '1', '--json'],
    { encoding: 'utf8', timeout: 120_000 },
  );
  assert.equal(run.status, 0, `${run.stdout}\n${run.stderr}`);
  const report = JSON.parse(run.stdout.trim()) as {
    bench: string;
    summary: { placement: string; wallUsMedian: number; cpuUsMedian: number }[];
  };
  assert.equal(report.bench, 'cross-cpu-wakeup');
  assert.deepEqual(
    report.summary.map((s) => s.placement),
    ['same CPU', 'two CPUs'],
  );
  for (const row of report.summary) {
    assert.ok(row.wallUsMedian > 0 && Number.isFinite(row.wallUsMedian), JSON.stringify(row));
    // /proc counts CPU in 10 ms ticks: 300 round trips may fall inside one tick; a number, not NaN.
    assert.ok(Number.isFinite(row.cpuUsMedian) && row.cpuUsMedian >= 0, JSON.stringify(row));
  }
});
