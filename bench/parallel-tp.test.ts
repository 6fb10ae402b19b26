import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';

describe('bench/parallel-tp.ts --smoke', () => {
  it('prints the TP table: four configs, the exact all-reduce payload per token, predicted vs measured comm', () => {
    const run = spawnSync(process.execPath, ['bin/run-ts.mjs', 'bench/parallel-tp.ts', '--smoke'], {
      encoding: 'utf8',
      timeout: 240_000,
    });
    assert.equal(run.status, 0, run.stderr);
    const result = JSON.parse(run.stdout.trim().split('\n').at(-1)!) as {
      layers: number;
      hidden: number;
      link: { alphaMs: number; betaBytesPerMs: number };
      rows: {
        config: string;
        allReducedBytesPerToken: number;
        decodeCommMsPerLayer: { predicted: number | null; measured: number | null };
      }[];
    };
    assert.deepEqual(
      result.rows.map((r) => r.config),
      ['TP=1, 1 thread', 'TP=1, 2 threads', 'TP=2 threads', 'TP=2 processes (TCP ring)'],
    );
    // Two all-reduces of hidden floats per layer per token, whatever the transport.
    const perToken = 2 * result.layers * result.hidden * 4;
    assert.deepEqual(
      result.rows.map((r) => r.allReducedBytesPerToken),
      [0, 0, perToken, perToken],
    );
    const tcp = result.rows[3]!.decodeCommMsPerLayer;
    assert.ok(tcp.predicted !== null && tcp.predicted > 0 && tcp.measured !== null && tcp.measured > 0);
    assert.ok(result.link.alphaMs > 0 && result.link.betaBytesPerMs > 0);
    assert.match(run.stdout, /\| config \| prefill tok\/s \| decode tok\/s \| all-reduced B\/token \|/);
  });
});
