import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';

describe('bench:loadgen --smoke', () => {
  it('drives the zero-delay endpoint at each concurrency with no failures and prints its ceiling', () => {
    const run = spawnSync(process.execPath, ['bin/run-ts.mjs', 'bench/loadgen.ts', '--smoke'], {
      encoding: 'utf8',
      timeout: 120_000,
    });
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /\| concurrency \| completed \| failed \| req\/s \(wall\) \|/);
    const json = JSON.parse(run.stdout.trim().split('\n').at(-1)!) as {
      rows: Array<{ concurrency: number; completed: number; failed: number; reqPerCpuSecond: number }>;
    };
    assert.deepEqual(
      json.rows.map((r) => [r.concurrency, r.completed, r.failed]),
      [
        [16, 400, 0],
        [64, 400, 0],
      ],
    );
    assert.ok(json.rows.every((r) => r.reqPerCpuSecond > 0));
  });
});
