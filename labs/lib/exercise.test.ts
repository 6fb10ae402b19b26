/**
 * The exercise harness's own contract, without child processes: which file a check runs on, what happens
 * when a solution does not load or lacks an export (the check's exit 2), a throwing check being a FAIL
 * rather than a crash, and INFO lines not counting. The end-to-end runs (reference passes, starter fails)
 * are in labs/smoke.test.ts.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { repoRoot } from '../../src/util/paths.ts';
import {
  type CheckResult,
  loadSolution,
  printResults,
  relativeError,
  runChecks,
  SolutionLoadError,
  solutionPath,
} from './exercise.ts';

const LAB_DIR = join(repoRoot, 'labs', 'level-1', '03-kv-memory-growth');

test('solutionPath: the starter by default, the reference with --reference, else the path given', () => {
  assert.equal(solutionPath(LAB_DIR, []), join(LAB_DIR, 'starter.ts'));
  assert.equal(solutionPath(LAB_DIR, ['--smoke']), join(LAB_DIR, 'starter.ts'));
  assert.equal(solutionPath(LAB_DIR, ['--reference', '--smoke']), join(LAB_DIR, 'reference.ts'));
  assert.equal(solutionPath(LAB_DIR, ['/tmp/my-kv.ts']), '/tmp/my-kv.ts');
});

test('loadSolution: a missing file or a missing export is a SolutionLoadError that says what to check', async () => {
  await assert.rejects(loadSolution(join(LAB_DIR, 'no-such-file.ts'), ['kvBytesPerToken']), {
    name: 'SolutionLoadError',
    message: /no file at .*no-such-file\.ts/,
  });
  await assert.rejects(
    loadSolution(join(LAB_DIR, 'reference.ts'), ['kvBytesPerToken', 'streamMetrics']),
    (err: unknown) =>
      err instanceof SolutionLoadError && /must export function streamMetrics/.test(err.message),
  );
  const solution = await loadSolution<{ kvBytesPerToken: unknown }>(join(LAB_DIR, 'reference.ts'), [
    'kvBytesPerToken',
  ]);
  assert.equal(typeof solution.kvBytesPerToken, 'function');
});

test('runChecks: a check that throws is a FAIL naming the error; the others still run', async () => {
  const results = await runChecks(
    [
      { title: 'passes', run: () => undefined },
      {
        title: 'throws',
        run: () => {
          throw new RangeError('boom');
        },
      },
      { title: 'fails', run: async () => 'expected 2, got 3' },
    ],
    {},
  );
  assert.deepEqual(
    results.map((r) => [r.title, r.passed, r.detail]),
    [
      ['passes', true, undefined],
      ['throws', false, 'threw RangeError: boom'],
      ['fails', false, 'expected 2, got 3'],
    ],
  );
});

test('printResults: INFO lines are shown but not counted', (t) => {
  const lines: string[] = [];
  t.mock.method(console, 'log', (line: string) => lines.push(line));
  const results: CheckResult[] = [
    { title: 'exact', passed: true },
    { title: 'measured', passed: false, advisory: true, detail: 'too noisy to grade' },
  ];
  assert.equal(printResults('/x/starter.ts', results), true);
  assert.match(
    lines.join('\n'),
    /PASS {2}1\. exact\n.*INFO {2}2\. measured\n\s+→ too noisy to grade\n1\/1 checks passed/,
  );
  lines.length = 0;
  assert.equal(
    printResults('/x/starter.ts', [{ title: 'exact', passed: false, detail: 'off by 2×' }]),
    false,
  );
  assert.match(lines.join('\n'), /FAIL {2}1\. exact\n\s+→ off by 2×\n0\/1 checks passed/);
});

test('relativeError: 0 for equal numbers (zero included), the relative gap otherwise', () => {
  assert.equal(relativeError(0, 0), 0);
  assert.equal(relativeError(6144, 6144), 0);
  assert.equal(relativeError(12288, 6144), 1);
  assert.ok(relativeError(1.0000001, 1) < 1e-6);
});
