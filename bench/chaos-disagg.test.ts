/**
 * Runs `bench/chaos-disagg.ts --smoke --json` as CI would: one prefill and two decode mocker workers as
 * processes, two streaming clients for a few seconds, one `kill -9` at least. Checks the invariants, never
 * the figures: every request completed with every token, no live worker holds or uses a KV block after.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { repoRoot } from '../src/util/paths.ts';

test('chaos:disagg --smoke: random kill -9 under load loses no request and leaks no KV block', () => {
  const result = spawnSync(
    process.execPath,
    ['bin/run-ts.mjs', 'bench/chaos-disagg.ts', '--smoke', '--json'],
    {
      cwd: repoRoot,
      encoding: 'utf8',
      timeout: 180_000,
    },
  );
  const lines = result.stdout.trim().split('\n');
  assert.equal(lines.length, 1, `--json prints only the JSON line, got:\n${result.stdout}\n${result.stderr}`);
  const report = JSON.parse(lines[0]!);
  assert.equal(result.status, 0, `exit ${result.status}: ${JSON.stringify(report)}\n${result.stderr}`);
  assert.ok(report.requests > 0, 'the clients sent requests');
  assert.equal(report.failed, 0, `failed requests: ${report.firstErrors}`);
  assert.equal(report.completed, report.requests);
  assert.ok(report.kills.prefill + report.kills.decode >= 1, 'the nemesis killed a worker');
  assert.deepEqual(report.leaks, []);
});
