/**
 * Runs every lab in smoke mode, as a learner would (`npm run lab -- <id> --smoke`), and checks it exits 0 and
 * prints its key lines. The lab list comes from the runner's own registry (`list --json`), so a new lab folder
 * is tested without touching this file: CI is the learning path's health check.
 *
 * A chapter with a numbers table (labs/lib/lab-numbers.ts) gets its quoted numbers checked against the same smoke
 * run: every `count` row within its stated range, every `timing` row printed (its range is checked by the full
 * run, `npm run lab:numbers`, where the load average is printed beside it).
 *
 * A lab with an exercise (check.ts, starter.ts, reference.ts) gets two more runs of its check: on the
 * reference, which must pass, and on the starter as shipped, which must load and FAIL, proving the check
 * checks something.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { repoRoot } from '../src/util/paths.ts';
import { checkLabNumbers, readLabNumbers } from './lib/lab-numbers.ts';

interface LabEntry {
  id: string;
  title: string;
  script: string;
  chapter: string;
  expect: string[];
  exercise: { check: string; starter: string; reference: string } | null;
}

const runner = join(repoRoot, 'scripts', 'run-lab.mjs');

function runRunner(args: string[], timeoutMs = 120_000) {
  return spawnSync(process.execPath, [runner, ...args], {
    cwd: repoRoot,
    encoding: 'utf8',
    timeout: timeoutMs,
    env: { ...process.env, DHW_LAB_SMOKE: '1' },
  });
}

function listLabs(): LabEntry[] {
  const result = runRunner(['list', '--json']);
  assert.equal(result.status, 0, result.stderr);
  return JSON.parse(result.stdout) as LabEntry[];
}

/** `/regex/` is a pattern; anything else must appear verbatim. */
function matches(output: string, expectation: string): boolean {
  const pattern = /^\/(.+)\/$/.exec(expectation);
  return pattern ? new RegExp(pattern[1] as string, 'm').test(output) : output.includes(expectation);
}

const labs = listLabs();

test('the registry finds the labs from the folder layout', () => {
  const ids = labs.map((lab) => lab.id);
  for (const id of ['0.1', '1.1', '1.2', '1.3', '1.4'])
    assert.ok(ids.includes(id), `lab ${id} missing from ${ids}`);
  assert.equal(new Set(ids).size, ids.length, 'lab ids are unique');
});

test('every lab is listed in labs/README.md and declares what its smoke run prints', () => {
  const readme = readFileSync(join(repoRoot, 'labs', 'README.md'), 'utf8');
  for (const lab of labs) {
    assert.ok(
      readme.includes(lab.chapter.replace(/^labs\//, '')),
      `labs/README.md does not link ${lab.chapter}`,
    );
    assert.ok(lab.expect.length > 0, `${lab.script} has no @expect lines`);
  }
});

test('every level 0 to 3 has a lab with an exercise, and each exercise has its three files', () => {
  const withExercise = labs.filter((lab) => lab.exercise !== null);
  for (const level of ['0', '1', '2', '3']) {
    assert.ok(
      withExercise.some((lab) => lab.id.startsWith(`${level}.`)),
      `no lab of level ${level} has an exercise (check.ts + starter.ts + reference.ts)`,
    );
  }
  for (const { exercise } of withExercise) {
    for (const file of Object.values(exercise!))
      assert.ok(existsSync(join(repoRoot, file)), `${file} is missing`);
  }
});

test('an unknown lab id fails with the list of known ids', () => {
  const result = runRunner(['9.99']);
  assert.equal(result.status, 2);
  assert.match(result.stderr, /No lab "9\.99"\. Known ids: 0\.1/);
});

test('every chapter quotes its numbers in a checked table that states the machine', () => {
  // readLabNumbers throws on a malformed table or a missing "Machine:" line.
  const without = labs.filter((lab) => readLabNumbers(join(repoRoot, lab.chapter)) === null);
  assert.deepEqual(
    without.map((lab) => lab.chapter),
    [],
    'add a "| quoted number | kind | printed as | smoke run | full run |" table (labs/lib/lab-numbers.ts)',
  );
});

for (const lab of labs) {
  test(`lab ${lab.id} (${lab.title}) runs in smoke mode`, () => {
    const result = runRunner([lab.id, '--smoke']);
    const output = `${result.stdout}\n${result.stderr}`;
    assert.equal(result.status, 0, `lab ${lab.id} exited ${result.status}:\n${output.slice(-3000)}`);
    for (const expectation of lab.expect) {
      assert.ok(
        matches(output, expectation),
        `lab ${lab.id} output lacks "${expectation}":\n${output.slice(-3000)}`,
      );
    }
    const quoted = readLabNumbers(join(repoRoot, lab.chapter));
    // A lab that cannot run here (network namespaces need root) says "Lab skipped: ..." and prints no numbers.
    if (quoted && !/^ {2}Lab skipped: /m.test(output)) {
      const problems = checkLabNumbers(quoted, output, 'smoke', { checkTimings: false })
        .filter((check) => check.problem !== undefined)
        .map((check) => `${check.what}: ${check.problem}`);
      assert.deepEqual(problems, [], `${lab.chapter} quotes numbers its smoke run does not print`);
    }
  });
}

for (const lab of labs.filter((l) => l.exercise !== null)) {
  test(`lab ${lab.id} exercise: the reference passes its check`, () => {
    const result = runRunner([lab.id, '--check', '--reference']);
    const output = `${result.stdout}\n${result.stderr}`;
    assert.equal(
      result.status,
      0,
      `check of ${lab.exercise!.reference} exited ${result.status}:\n${output.slice(-3000)}`,
    );
    assert.match(output, /^(\d+)\/\1 \w+ passed$/m);
    assert.doesNotMatch(output, /^\s+FAIL /m);
  });

  test(`lab ${lab.id} exercise: the starter loads and fails its check`, () => {
    const result = runRunner([lab.id, '--check']);
    const output = `${result.stdout}\n${result.stderr}`;
    assert.equal(
      result.status,
      1,
      `check of ${lab.exercise!.starter} should exit 1 (2 = did not load):\n${output.slice(-3000)}`,
    );
    assert.match(output, /^\s+FAIL {2}\d+\. .+\n\s+→ \S/m, 'a FAIL line with a reason');
  });
}
