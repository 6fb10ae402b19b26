import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';

test('bench:frontend-floor --smoke --json: the three setups answer, every process CPU counted', () => {
  const run = spawnSync(
    process.execPath,
    ['bin/run-ts.mjs', 'bench/frontend-floor.ts', '--smoke', '--json'],
    {
      encoding: 'utf8',
      timeout: 120_000,
    },
  );
  assert.equal(run.status, 0, `${run.stdout}\n${run.stderr}`);
  const lines = run.stdout.trim().split('\n');
  assert.equal(lines.length, 1, 'only the JSON line');
  const report = JSON.parse(lines[0]!) as {
    bench: string;
    summary: { setup: string; requests: number; reqPerSec: number; stackUs: number; clientUs: number }[];
  };
  assert.equal(report.bench, 'frontend-floor');
  assert.deepEqual(
    report.summary.map((s) => s.setup),
    ['http', 'http-hop', 'http-rp'],
  );
  for (const row of report.summary) {
    assert.ok(row.requests > 0 && row.reqPerSec > 0, JSON.stringify(row));
    assert.ok(row.stackUs >= row.clientUs && row.stackUs > 0, JSON.stringify(row));
  }
});
