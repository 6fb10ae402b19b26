#!/usr/bin/env node
// Finds every *.test.ts under src/, labs/, bench/, scripts/ and deploy/ and runs them with node's built-in test runner.
// (Node 20's `--test` does not expand globs itself.) Extra arguments filter files by substring.
//
// The runner's TAP output passes straight through; it is also read as it streams, so the run ends with a
// short list of the tests that failed (name, file:line, error), where a CI log's tail shows it.
// A file with a failing test is then run once more on its own (like Playwright's `retries` on CI): the
// integration tests start real etcd, NATS and worker processes on a shared 2-core box, where a timing-
// dependent check can lose a race once. A test that passes on the rerun is reported as FLAKY by name, so it
// gets fixed; one that fails twice fails the run. `--no-rerun` turns the rerun off.
//
// No file can hang the run (a CI job has a wall-clock limit, and a hung file would use all of it):
//   - a file still running after `--file-timeout SECONDS` (default 1200) is cancelled and fails, by name;
//   - a file whose tests all ended exits even if something it started is still scheduled (a worker that a
//     failed `before` hook started but could not hand over, retrying discovery every 2 s, forever), like
//     a server's hard shutdown after its drain deadline. The hook's failure is what gets reported; a leak
//     in a file whose tests all pass no longer shows as a hang.
import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { createFailureCollector, describeFailures } from './tap-failures.mjs';

function findTests(dir, out = []) {
  let entries;
  try {
    entries = readdirSync(dir);
  } catch {
    return out;
  }
  for (const name of entries) {
    if (name === 'node_modules' || name.startsWith('.')) continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) findTests(path, out);
    else if (name.endsWith('.test.ts')) out.push(path);
  }
  return out;
}

/** Runs `node --test` on files, streaming its output through, and resolves with the exit code and failures. */
function runTests(files, concurrency, fileTimeoutS) {
  const args = [
    '--import',
    'tsx',
    '--test',
    '--test-reporter=tap',
    `--test-concurrency=${concurrency}`,
    `--test-timeout=${fileTimeoutS * 1000}`,
    '--test-force-exit',
    ...files,
  ];
  const child = spawn(process.execPath, args, { stdio: ['inherit', 'pipe', 'inherit'] });
  const collector = createFailureCollector();
  let pending = '';
  child.stdout.on('data', (chunk) => {
    process.stdout.write(chunk);
    pending += chunk.toString('utf8');
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) collector.line(line);
  });
  return new Promise((resolve) => {
    child.on('close', (code, signal) => {
      if (pending) collector.line(pending);
      resolve({ code: code ?? (signal ? 1 : 0), failures: collector.failures });
    });
  });
}

/** The test file a failure belongs to: from its location, or its name when a whole file failed to load. */
function fileOf(failure, files) {
  const where = failure.location.replace(/:\d+:\d+$/, '');
  return files.find((f) => where.endsWith(f) || failure.name.endsWith(f)) ?? null;
}

/** `--no-rerun`, `--file-timeout SECONDS`, and the rest as file filters. */
function parseArgs(argv) {
  const options = { rerun: true, fileTimeoutS: 1200, filters: [] };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--no-rerun') options.rerun = false;
    else if (argv[i] === '--file-timeout') {
      const seconds = Number(argv[++i]);
      if (!Number.isFinite(seconds) || seconds <= 0) {
        console.error('--file-timeout takes a number of seconds above 0, e.g. --file-timeout 1200');
        process.exit(2);
      }
      options.fileTimeoutS = seconds;
    } else options.filters.push(argv[i]);
  }
  return options;
}

const { rerun, fileTimeoutS, filters } = parseArgs(process.argv.slice(2));
const files = ['src', 'labs', 'bench', 'scripts', 'deploy']
  .flatMap((d) => findTests(d))
  .filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)))
  .sort();
if (files.length === 0) {
  console.error('no test files matched');
  process.exit(1);
}

const first = await runTests(files, 2, fileTimeoutS);
if (first.code === 0) process.exit(0);
console.log(describeFailures(`${first.failures.length} test(s) failed:`, first.failures));
const failedFiles = [...new Set(first.failures.map((f) => fileOf(f, files)))];
if (!rerun || failedFiles.length === 0 || failedFiles.includes(null) || failedFiles.length > 5) {
  if (rerun) console.log('# not rerun: more than 5 files failed, or a failure names no test file');
  process.exit(first.code || 1);
}
console.log(`# rerunning ${failedFiles.length} file(s) on their own: ${failedFiles.join(', ')}`);
const second = await runTests(failedFiles, 1, fileTimeoutS);
if (second.code !== 0) {
  console.log(
    describeFailures(`failed again on the rerun, ${second.failures.length} test(s):`, second.failures),
  );
  process.exit(second.code);
}
console.log(
  describeFailures('FLAKY: these failed, then passed when their file ran again on its own:', first.failures),
);
process.exit(0);
