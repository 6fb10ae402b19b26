import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';

describe('bench:discovery-scale (small)', () => {
  it('registers workers on a real etcd, every watching frontend sees them, and prints one row per point', () => {
    const run = spawnSync(
      process.execPath,
      [
        'bin/run-ts.mjs',
        'bench/discovery-scale.ts',
        '--workers',
        '3,7',
        '--frontends',
        '2',
        '--steady-seconds',
        '1',
      ],
      { encoding: 'utf8', timeout: 120_000 },
    );
    assert.equal(run.status, 0, run.stderr);
    const rows = run.stdout.split('\n').filter((l) => /^\| \d/.test(l));
    assert.equal(rows.length, 2, run.stdout);
    for (const [i, workers] of [3, 7].entries()) {
      const cells = rows[i]!.split('|')
        .slice(1, -1)
        .map((c) => c.trim());
      assert.equal(cells[0], String(workers));
      assert.equal(cells[1], '2');
      assert.match(cells[6]!, /^\d+$/, 'keepalives per second');
      const bytesPerWorker = Number(cells[7]!.replace(/[ B,]/g, ''));
      assert.ok(bytesPerWorker > 300 && bytesPerWorker < 100_000, `bytes per worker: ${cells[7]}`);
    }
  });
});
