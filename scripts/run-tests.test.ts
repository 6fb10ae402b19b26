/**
 * The test runner's own behaviour: the failure list at the end of a run (what a CI log's tail shows) and the
 * one rerun of a failing file. The end-to-end cases run the real script on a scratch folder of test files.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { repoRoot } from '../src/util/paths.ts';
// @ts-expect-error: a plain .mjs module without type declarations
import { createFailureCollector } from './tap-failures.mjs';

const TAP = `TAP version 13
# Subtest: suite one
    # Subtest: passes
    ok 1 - passes
      ---
      duration_ms: 0.8
      ...
    # Subtest: fails here
    not ok 2 - fails here
      ---
      duration_ms: 0.9
      location: '/tmp/x/a.test.ts:5:3'
      failureType: 'testCodeFailure'
      error: 'one is not two'
      code: 'ERR_ASSERTION'
      ...
    1..2
not ok 1 - suite one
  ---
  type: 'suite'
  location: '/tmp/x/a.test.ts:3:1'
  failureType: 'subtestsFailed'
  error: '1 subtest failed'
  ...
not ok 2 - top fail
  ---
  location: '/tmp/x/a.test.ts:7:1'
  failureType: 'testCodeFailure'
  error: |-
    boom
    name: not a field, part of the message
  code: 'ERR_TEST_FAILURE'
  stack: |-
    at somewhere
  ...
1..2
`;

describe('tap-failures: the failure list', () => {
  it('keeps failing leaf tests with location and error, not the suites failing because of them', () => {
    const collector = createFailureCollector();
    for (const line of TAP.split('\n')) collector.line(line);
    const failures = collector.failures as { name: string; location: string; error: string[] }[];
    assert.deepEqual(
      failures.map((f) => [f.name, f.location, f.error]),
      [
        ['fails here', '/tmp/x/a.test.ts:5:3', ['one is not two']],
        ['top fail', '/tmp/x/a.test.ts:7:1', ['boom', 'name: not a field, part of the message']],
      ],
    );
  });
});

describe('run-tests.mjs on a scratch folder', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dhw-run-tests-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'src'));
  symlinkSync(join(repoRoot, 'node_modules'), join(dir, 'node_modules'));
  const flag = join(dir, 'failed-once');
  writeFileSync(
    join(dir, 'src', 'once.test.ts'),
    `import { it } from 'node:test';
import { existsSync, writeFileSync } from 'node:fs';
it('fails the first time only', () => {
  if (!existsSync(${JSON.stringify(flag)})) { writeFileSync(${JSON.stringify(flag)}, ''); throw new Error('lost a race'); }
});
`,
  );
  writeFileSync(
    join(dir, 'src', 'always.test.ts'),
    `import { it } from 'node:test';
it('always fails', () => { throw new Error('a real bug'); });
`,
  );
  writeFileSync(
    join(dir, 'src', 'hangs.test.ts'),
    `import { it } from 'node:test';
it('never ends', () => new Promise((resolve) => setInterval(() => {}, 1000)));
`,
  );
  writeFileSync(
    join(dir, 'src', 'leaks.test.ts'),
    `import { before, it } from 'node:test';
before(() => { setInterval(() => {}, 1000); }); // like a worker a failed hook could not hand over
it('passes', () => {});
`,
  );
  const run = (...args: string[]) =>
    spawnSync(process.execPath, [join(repoRoot, 'scripts', 'run-tests.mjs'), ...args], {
      cwd: dir,
      encoding: 'utf8',
      timeout: 60_000,
      // Without the variable Node's runner sets for its child processes, which would make the script's own
      // `node --test` report to this runner instead of printing TAP.
      env: Object.fromEntries(Object.entries(process.env).filter(([key]) => key !== 'NODE_TEST_CONTEXT')),
    });

  it('a test that passes on the rerun passes the run and is named FLAKY', () => {
    rmSync(flag, { force: true });
    const result = run('once.test');
    assert.equal(result.status, 0, result.stdout);
    assert.match(
      result.stdout,
      /# 1 test\(s\) failed:\n# {3}✗ fails the first time only\n# {7}at src\/once\.test\.ts:\d+:\d+/,
    );
    assert.match(result.stdout, /# FLAKY: [^\n]*\n# {3}✗ fails the first time only/);
  });

  it('a test that fails twice fails the run, and --no-rerun does not run it again', () => {
    const twice = run('always.test');
    assert.equal(twice.status, 1);
    assert.match(
      twice.stdout,
      /# failed again on the rerun, 1 test\(s\):\n# {3}✗ always fails\n[^\n]*\n# {7}a real bug/,
    );
    const once = run('--no-rerun', 'always.test');
    assert.equal(once.status, 1);
    assert.match(once.stdout, /# 1 test\(s\) failed:/);
    assert.doesNotMatch(once.stdout, /rerunning/);
  });

  it('a file past --file-timeout is cancelled and fails by name, on the rerun too', () => {
    const result = run('--file-timeout', '2', 'hangs.test');
    assert.equal(result.status, 1, result.stdout);
    assert.match(
      result.stdout,
      /# 1 test\(s\) failed:\n# {3}✗ [^\n]*src\/hangs\.test\.ts\n[^\n]*\n# {7}test timed out after 2000ms/,
    );
    assert.match(result.stdout, /# failed again on the rerun/);
  });

  it('a file whose tests ended exits although a timer it started is still scheduled', () => {
    const result = run('leaks.test');
    assert.equal(result.status, 0, result.stdout);
    assert.match(result.stdout, /# pass 1/);
  });

  it('--file-timeout without a number of seconds is refused, naming the form', () => {
    const result = run('--file-timeout', 'soon');
    assert.equal(result.status, 2);
    assert.match(result.stderr, /--file-timeout takes a number of seconds above 0/);
  });
});
