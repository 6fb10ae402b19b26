import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';

describe('bench:transfer --smoke', () => {
  it('prints one row per block count with memcpy, tcp, unix and shm figures, the copies per byte and the ratio line', () => {
    const run = spawnSync(process.execPath, ['bin/run-ts.mjs', 'bench/transfer.ts', '--smoke'], {
      encoding: 'utf8',
      timeout: 120_000,
    });
    assert.equal(run.status, 0, run.stderr);
    const lines = run.stdout.trim().split('\n');
    const header = lines.find((l) => l.startsWith('| blocks |'));
    assert.ok(header, run.stdout);
    const columns = header
      .split('|')
      .slice(1, -1)
      .map((c) => c.trim());
    assert.deepEqual(columns, [
      'blocks',
      'MiB',
      'views',
      'memcpy ms',
      'memcpy GB/s',
      'tcp ms',
      'tcp GB/s',
      'tcp/memcpy',
      'unix ms',
      'unix GB/s',
      'unix/memcpy',
      'shm ms',
      'shm GB/s',
      'shm/memcpy',
      'shm unstaged ms',
      'shm unstaged/memcpy',
    ]);
    const first = lines.indexOf(header);
    const rows = lines
      .slice(first, lines.indexOf('', first))
      .filter((l) => /^\| \d/.test(l))
      .map((l) =>
        l
          .split('|')
          .slice(1, -1)
          .map((c) => Number.parseFloat(c)),
      );
    assert.deepEqual(
      rows.map((r) => r[0]),
      [1, 16, 64],
    );
    for (const row of rows) {
      // Ratios print with 2 decimals: a 1-block READ on a loaded box can show 0.00x, so cells are ≥ 0 and
      // the times (ms columns) > 0.
      assert.ok(
        row.every((x) => Number.isFinite(x) && x >= 0) && [3, 5, 8, 11, 14].every((c) => row[c]! > 0),
        `numeric cells, positive times: ${row}`,
      );
      assert.equal(
        row[1],
        Number(((row[0]! * 737_280) / 2 ** 20).toFixed(2)),
        'MiB from the SmolLM2-135M layout',
      );
    }
    assert.match(run.stdout, /^machine: \d+ cores/m);
    assert.match(
      run.stdout,
      /copies per byte \(READ, measured by the agents' counters\): reader 0\.00 in user space/,
    );
    assert.match(run.stdout, /^\| size \| memcpy cpu \| tcp cpu \| memcpy\/tcp \|/m);
    assert.match(run.stdout, /^\| 64 blocks \| /m);
    assert.match(run.stdout, /^shm: reader 0\.00 in user space and 1 kernel copy/m);
    assert.match(
      lines.at(-1)!,
      /^transfer vs memcpy: 64 blocks \d+\.\d\dx \(tcp\), \d+\.\d\dx \(unix\), \d+\.\d\dx \(shm, staged ahead\)$/,
    );
  });
});
