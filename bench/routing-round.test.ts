import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';

describe('bench:routing (a small grid)', () => {
  it('prints one row per input, the verdicts, and the seed noise of the bars with --seeds', () => {
    const args = [
      'bin/run-ts.mjs',
      'bench/routing-round.ts',
      '--inputs',
      'repo-',
      '--repo-requests',
      '80',
      '--loads',
      '4,2',
      '--seeds',
      '2',
      '--policies',
      'round-robin,kv,kv-delay',
    ];
    const run = spawnSync(process.execPath, args, { encoding: 'utf8', timeout: 120_000 });
    assert.equal(run.status, 0, run.stderr);
    const lines = run.stdout.split('\n');
    assert.ok(
      lines.some((l) => l.includes('each the median over router seeds 0..1')),
      run.stdout,
    );
    const rows = lines.filter((l) => l.startsWith('| repo-80 8w '));
    assert.deepEqual(
      rows.map((l) => l.split('|')[1]!.trim()),
      ['repo-80 8w 4x', 'repo-80 8w 2x'],
    );
    for (const row of rows) {
      const cells = row
        .split('|')
        .slice(1, -1)
        .map((c) => c.trim());
      // input, bound, ÷ RR, three policies' cells, one verdict
      assert.equal(cells.length, 7, row);
      for (const c of cells.slice(3, 6)) assert.match(c, /^\d+\.\d % \(\d+ %\) \/ \d+ \/ \d+ \/ \d+\.\d$/);
      assert.match(cells[6]!, /^(ok|(TTFT mean|TTFT p99|TPOT p99)(, (TTFT p99|TPOT p99))*)$/);
    }
    assert.match(
      run.stdout,
      /kv with another seed is worse than kv with seed 0 \(> tolerance\) on \d \/ 2 inputs/,
    );
    assert.match(run.stdout, /\| kv-delay \| \d \/ 2 \| \d \/ 2 \|/);
  });

  it('scores a trace file (--trace FILE:REQUESTS) on the --workers × --loads grid', () => {
    const args = [
      'bin/run-ts.mjs',
      'bench/routing-round.ts',
      '--trace',
      'traces/mooncake_synthetic_trace.jsonl:60',
    ];
    args.push('--loads', '4', '--workers', '8,12', '--policies', 'round-robin,kv,kv-delay');
    const run = spawnSync(process.execPath, args, { encoding: 'utf8', timeout: 120_000 });
    assert.equal(run.status, 0, run.stderr);
    const rows = run.stdout.split('\n').filter((l) => l.startsWith('| mooncake_synthetic_trace/'));
    assert.deepEqual(
      rows.map((l) => l.split('|')[1]!.trim()),
      ['mooncake_synthetic_trace/60 8w 4x', 'mooncake_synthetic_trace/60 12w 4x'],
    );
    assert.match(run.stdout, /\| kv-delay \| \d \/ 2 \| \d \/ 2 \| \d \|/);
    // A window: requests 100..159, its timestamps shifted to start at 0.
    const windowArgs = ['bin/run-ts.mjs', 'bench/routing-round.ts', '--loads', '4', '--workers', '8'];
    windowArgs.push('--trace', 'traces/mooncake_synthetic_trace.jsonl:100-160', '--policies', 'round-robin');
    const window = spawnSync(process.execPath, windowArgs, { encoding: 'utf8', timeout: 120_000 });
    assert.equal(window.status, 0, window.stderr);
    assert.match(window.stdout, /\| mooncake_synthetic_trace\/100-160 8w 4x \|/);
    const outside = spawnSync(
      process.execPath,
      [
        'bin/run-ts.mjs',
        'bench/routing-round.ts',
        '--trace',
        'traces/mooncake_synthetic_trace.jsonl:10-99999',
      ],
      { encoding: 'utf8', timeout: 60_000 },
    );
    assert.notEqual(outside.status, 0);
    assert.match(outside.stderr, /the range 10-99999 must lie within the trace's 3993 requests/);
    const missing = spawnSync(
      process.execPath,
      ['bin/run-ts.mjs', 'bench/routing-round.ts', '--trace', 'no-such-trace.jsonl'],
      { encoding: 'utf8', timeout: 60_000 },
    );
    assert.notEqual(missing.status, 0);
    assert.match(missing.stderr, /no-such-trace\.jsonl/);
  });

  it('refuses a grid it cannot run, naming the flag', () => {
    const run = spawnSync(process.execPath, ['bin/run-ts.mjs', 'bench/routing-round.ts', '--loads', '4,0'], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    assert.notEqual(run.status, 0);
    assert.match(run.stderr, /--loads takes positive numbers/);
  });
});
