import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';

describe('bench:layerwise, smallest run', () => {
  it('prints one row per prompt length with both modes timed, and the ratio line', () => {
    const run = spawnSync(
      process.execPath,
      [
        'bin/run-ts.mjs',
        'bench/layerwise.ts',
        '--models',
        'fortune',
        '--prompt-tokens',
        '40',
        '--requests',
        '1',
      ],
      { encoding: 'utf8', timeout: 240_000 },
    );
    assert.equal(run.status, 0, `${run.stdout}\n${run.stderr}`);
    const lines = run.stdout.trim().split('\n');
    const header = lines.find((l) => l.startsWith('| model |'));
    assert.ok(header, run.stdout);
    assert.deepEqual(
      header
        .split('|')
        .slice(1, -1)
        .map((c) => c.trim()),
      [
        'model',
        'prompt tokens',
        'W whole ms',
        'W layerwise ms',
        'TTFT whole ms',
        'TTFT layerwise ms',
        'exposed whole ms',
        'exposed layerwise ms',
        'hand-off ms saved',
        'TTFT lw ÷ whole',
      ],
    );
    const row = lines.find((l) => l.startsWith('| fortune-llama | 40 |'));
    assert.ok(row, run.stdout);
    const cells = row
      .split('|')
      .slice(3, -1)
      .map((c) => Number(c.trim()));
    assert.ok(
      cells.every((x) => Number.isFinite(x)),
      row,
    );
    assert.ok(cells[2]! > 0 && cells[3]! > 0, 'both modes produced a first token');
    assert.match(
      lines.at(-1) ?? '',
      /^layerwise vs whole: fortune-llama 40: -?\d+\.\d ms saved, TTFT \d+\.\d\dx$/,
    );
    assert.match(run.stderr, /fortune-llama: \d+ layer WRITEs ok/);
  });
});
