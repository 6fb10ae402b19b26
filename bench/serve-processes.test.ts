import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';

test('bench:serve-processes --smoke --json: 1 and 2 whole stacks behind one port both answer, none failed', () => {
  const run = spawnSync(
    process.execPath,
    ['bin/run-ts.mjs', 'bench/serve-processes.ts', '--smoke', '--json'],
    { encoding: 'utf8', timeout: 180_000 },
  );
  assert.equal(run.status, 0, `${run.stdout}\n${run.stderr}`);
  const report = JSON.parse(run.stdout.trim().split('\n').at(-1)!) as {
    bench: string;
    summary: {
      processes: number;
      requests: number;
      failed: number;
      reqPerSec: number;
      serveCpuUsPerRequest: number;
    }[];
  };
  assert.equal(report.bench, 'serve-processes');
  assert.deepEqual(
    report.summary.map((s) => s.processes),
    [1, 2],
  );
  for (const row of report.summary) {
    assert.ok(row.requests > 0, JSON.stringify(row));
    assert.equal(row.failed, 0, JSON.stringify(row));
    assert.ok(Number.isFinite(row.reqPerSec) && row.reqPerSec > 0, JSON.stringify(row));
    // /proc counts CPU in 10 ms ticks: a short smoke round may fall inside one tick; a number, not NaN.
    assert.ok(
      Number.isFinite(row.serveCpuUsPerRequest) && row.serveCpuUsPerRequest >= 0,
      JSON.stringify(row),
    );
  }
});
