import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';

describe('bench:router --smoke', () => {
  it('prints one table row per (workers, blocks, policy) with the expected columns', () => {
    const args = ['bin/run-ts.mjs', 'bench/router.ts', '--smoke', '--policy', 'kv,kv-ttft'];
    const run = spawnSync(process.execPath, args, {
      encoding: 'utf8',
      timeout: 120_000,
    });
    assert.equal(run.status, 0, run.stderr);
    const lines = run.stdout.split('\n');
    const header = lines.find((l) => l.startsWith('| workers |'));
    assert.ok(header, run.stdout);
    const columns = header
      .split('|')
      .slice(1, -1)
      .map((c) => c.trim());
    assert.deepEqual(columns, [
      'workers',
      'policy',
      'indexed blocks',
      'distinct blocks',
      'events/s (16 blocks)',
      'stored blocks/s',
      'stored blocks/CPU-s',
      'decision p50 µs',
      'decision p99 µs',
      'decision p99.9 µs',
      'decision CPU p50 µs',
      'decision CPU p99 µs',
      'cold decision p50 µs',
      'cold decision p99 µs',
      'CPU µs per request',
      'heap bytes per decision',
      'explain p50 µs',
      'explain p99 µs',
      'mean overlap blocks',
      'bytes per indexed block (live memory Δ / table)',
      'heap MiB',
      'RSS MiB',
    ]);
    const rows = lines
      .filter((l) => /^\| \d/.test(l))
      .map((l) =>
        l
          .split('|')
          .slice(1, -1)
          .map((c) => Number(c)),
      );
    assert.deepEqual(
      rows.map((r) => r[0]),
      [4, 4, 16, 16],
      'smoke mode: 4 and 16 workers, one row per policy',
    );
    const policies = lines.filter((l) => /^\| \d/.test(l)).map((l) => l.split('|')[2]!.trim());
    assert.deepEqual(policies, ['kv', 'kv-ttft', 'kv', 'kv-ttft']);
    const bytesColumn = columns.indexOf('bytes per indexed block (live memory Δ / table)');
    const policyColumn = columns.indexOf('policy');
    for (const row of rows) {
      assert.equal(row.length, columns.length);
      assert.ok(
        row.every((x, i) => i === bytesColumn || i === policyColumn || (Number.isFinite(x) && x >= 0)),
        `numeric cells: ${row}`,
      );
      assert.ok(row[2]! >= 2000, 'the index holds at least the requested blocks');
      assert.ok(row[3]! <= row[2]!, 'distinct blocks never exceed indexed (worker, block) entries');
      assert.ok(
        row[columns.indexOf('mean overlap blocks')]! > 0,
        'requests with shared prefixes find cached blocks',
      );
    }
    assert.match(run.stdout, /prompt hashing .*: [\d.]+ µs per 1024-token prompt/);
    assert.match(run.stdout, /goals at 64 workers \/ 1M blocks: ≥ 1M stored blocks\/s, decision p99 ≤ 50 µs/);
  });
});
