/**
 * The disaggregation flags of `dhw worker` and `dhw serve`: good values become worker options, bad ones a
 * UsageError that names the fix (checked before anything starts: no servers needed), and the CLI turns
 * one into exit code 2 with the message.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { defaultModelDir, repoRoot } from '../util/paths.ts';
import { UsageError } from './args.ts';
import { serveCommand } from './commands/serve.ts';
import { workerCommand, workerOptionsFromFlags } from './commands/worker.ts';

test('--role, --kv-transfer, --kv-hold-timeout, --kv-pull-timeout and --kv-link become the worker options', () => {
  const prefill = workerOptionsFromFlags(
    { role: 'prefill', 'kv-transfer': 'unix', 'kv-hold-timeout': '5000' },
    defaultModelDir,
  );
  assert.equal(prefill.role, 'prefill');
  assert.deepEqual(prefill.kvTransfer, {
    mode: 'unix',
    holdTimeoutMs: 5000,
    pullTimeoutMs: undefined,
    link: undefined,
  });

  const decode = workerOptionsFromFlags(
    { role: 'decode', engine: 'mocker', 'kv-link': '100gbit,5us', 'kv-pull-timeout': '1500' },
    defaultModelDir,
  );
  assert.equal(decode.role, 'decode');
  assert.equal(decode.kvTransfer?.pullTimeoutMs, 1500);
  assert.equal(decode.kvTransfer?.mode, 'auto');
  assert.deepEqual(decode.kvTransfer?.link, { bytesPerSecond: 12.5e9, latencyMs: 0.005 });

  const aggregated = workerOptionsFromFlags({}, defaultModelDir);
  assert.equal(aggregated.role, 'aggregated');
});

const usageErrors: [string[], RegExp][] = [
  [['--role', 'both'], /--role must be prefill, decode, aggregated, got "both"/],
  [['--kv-transfer', 'rdma'], /--kv-transfer must be auto, tcp, unix, shm, none, got "rdma"/],
  [
    ['--role', 'prefill', '--kv-transfer', 'none'],
    /--kv-transfer none cannot serve --role prefill.*Use --kv-transfer auto/,
  ],
  [['--kv-hold-timeout', '0'], /--kv-hold-timeout must be ≥ 1, got 0.*e\.g\. --kv-hold-timeout 30000/],
  [['--kv-hold-timeout', '2.5'], /--kv-hold-timeout must be an integer/],
  [['--kv-pull-timeout', '0'], /--kv-pull-timeout must be ≥ 1, got 0/],
  [['--kv-link', '25gbit'], /--kv-link only applies to --engine mocker.*drop it, or add --engine mocker/],
  [
    ['--engine', 'mocker', '--kv-link', 'fast'],
    /--kv-link: cannot read the bandwidth "fast".*e\.g\. --kv-link 25gbit,10us/,
  ],
];

for (const [argv, message] of usageErrors) {
  test(`dhw worker ${argv.join(' ')}: a UsageError naming the fix`, async () => {
    await assert.rejects(workerCommand.run(argv), (err: unknown) => {
      assert.ok(err instanceof UsageError, `expected a UsageError, got ${err}`);
      assert.match((err as Error).message, message);
      return true;
    });
  });
}

test('dhw serve: --workers excludes --prefill-workers/--decode-workers, which come as a pair', async () => {
  const cases: [string[], RegExp][] = [
    [
      ['--workers', '2', '--prefill-workers', '1', '--decode-workers', '1'],
      /--workers runs aggregated workers.*Give one or the other/,
    ],
    [['--prefill-workers', '1'], /needs both --prefill-workers P and --decode-workers D/],
    [['--decode-workers', '0', '--prefill-workers', '1'], /--decode-workers must be ≥ 1/],
    [['--prefill-workers', '1', '--decode-workers', '1', '--kv-transfer', 'x'], /--kv-transfer must be/],
  ];
  for (const [argv, message] of cases) {
    await assert.rejects(serveCommand.run(argv), (err: unknown) => {
      assert.ok(err instanceof UsageError, `${argv.join(' ')}: expected a UsageError, got ${err}`);
      assert.match((err as Error).message, message);
      return true;
    });
  }
});

test('`dhw worker --role nope` exits 2 and prints the message, no stack trace', () => {
  const r = spawnSync(process.execPath, [join(repoRoot, 'bin', 'dhw.mjs'), 'worker', '--role', 'nope'], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--role must be prefill, decode, aggregated, got "nope"/);
  assert.doesNotMatch(r.stderr, /\n\s+at /);
});
