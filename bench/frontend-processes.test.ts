import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { test } from 'node:test';

test('bench:frontend-processes --smoke --json: one row per process count, every request served', () => {
  const run = spawnSync(
    process.execPath,
    ['bin/run-ts.mjs', 'bench/frontend-processes.ts', '--smoke', '--json'],
    { encoding: 'utf8', timeout: 180_000 },
  );
  assert.equal(run.status, 0, `${run.stdout}\n${run.stderr}`);
  const lines = run.stdout.trim().split('\n');
  assert.equal(lines.length, 1, 'only the JSON line');
  const report = JSON.parse(lines[0]!) as {
    bench: string;
    summary: {
      processes: number;
      requests: number;
      failed: number;
      cpuMsPerRequest: number;
      engineStepsPerRequest: number;
      tokensPerStep: number;
    }[];
  };
  assert.equal(report.bench, 'frontend-processes');
  assert.deepEqual(
    report.summary.map((s) => s.processes),
    [1, 2],
  );
  for (const row of report.summary) {
    assert.ok(row.requests > 0, JSON.stringify(row));
    assert.equal(row.failed, 0, JSON.stringify(row));
    // /proc counts CPU in 10 ms ticks: a smoke run of a few requests on a busy box can fall inside one
    // tick in every process (seen in CI: 4 requests, 0 ticks). The plumbing must give a number, not NaN.
    assert.ok(Number.isFinite(row.cpuMsPerRequest) && row.cpuMsPerRequest >= 0, JSON.stringify(row));
    // Read from the workers' /metrics: every token came from a step, a step yields at least one token.
    assert.ok(row.engineStepsPerRequest > 0 && row.tokensPerStep >= 1, JSON.stringify(row));
  }
});

const canPin = availableParallelism() >= 2 && spawnSync('taskset', ['--version']).status === 0;

test('bench:frontend-processes --pin: the frontend pinned apart from the workers and the client, requests served', {
  skip: !canPin && 'needs 2 CPUs and taskset',
}, () => {
  const run = spawnSync(
    process.execPath,
    ['bin/run-ts.mjs', 'bench/frontend-processes.ts', '--smoke', '--processes', '1', '--pin', '--json'],
    { encoding: 'utf8', timeout: 180_000 },
  );
  assert.equal(run.status, 0, `${run.stdout}\n${run.stderr}`);
  const report = JSON.parse(run.stdout.trim()) as {
    config: { pin: boolean };
    summary: { requests: number; failed: number }[];
  };
  assert.equal(report.config.pin, true);
  assert.ok(
    report.summary[0]!.requests > 0 && report.summary[0]!.failed === 0,
    JSON.stringify(report.summary),
  );
});
