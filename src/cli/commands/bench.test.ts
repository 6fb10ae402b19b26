/**
 * `dhw bench` as a user runs it (a real process):
 *   - against a zero-delay OpenAI-shaped server: `--concurrency 8 --num-prompts 200 --json` ends with one
 *     JSON line carrying vLLM `bench serve`'s result keys, and `--csv` writes a header and a row;
 *   - against our own stack (`dhw serve --engine mocker`, embedded): a shared prefix shows up as prefix-cached
 *     input tokens, with the tokenizer making the prompt lengths exact;
 *   - mistakes are one line: a bad --sweep (exit 2), an unreachable server (exit 1, names the fix).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { quietLogs, spawnDhw } from '../../frontend/testing/frontend-kit.ts';
import { freePort } from '../../infra/free-port.ts';
import { startTimedServer } from '../../loadgen/testing/timed-server-kit.ts';
import { defaultModelDir, repoRoot } from '../../util/paths.ts';

quietLogs();
const dir = mkdtempSync(join(tmpdir(), 'dhw-bench-cli-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const VLLM_KEYS = [
  'completed',
  'failed',
  'request_throughput',
  'output_throughput',
  'total_token_throughput',
  'request_goodput',
  ...['mean', 'median', 'p90', 'p99'].flatMap((s) =>
    ['ttft', 'tpot', 'itl', 'e2el'].map((m) => `${s}_${m}_ms`),
  ),
];

function dhw(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(repoRoot, 'bin', 'dhw.mjs'), ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

test('--json ends with one line of vLLM bench serve keys; --csv writes the same run', async () => {
  const server = await startTimedServer({ ttftMs: 0, itlMs: 0, model: 'm' });
  try {
    const csv = join(dir, 'run.csv');
    const run = await dhw([
      'bench',
      '--url',
      server.url,
      '--model',
      'm',
      '--concurrency',
      '8',
      '--num-prompts',
      '200',
      '--output-len',
      '4',
      '--goodput',
      'ttft:5000',
      '--json',
      '--csv',
      csv,
    ]);
    assert.equal(run.code, 0, run.stderr);
    const last = run.stdout.trim().split('\n').at(-1)!;
    const json = JSON.parse(last) as Record<string, unknown>;
    for (const key of VLLM_KEYS) assert.equal(typeof json[key], 'number', `${key} in ${last}`);
    assert.equal(json.completed, 200);
    assert.equal(json.failed, 0);
    assert.equal(json.max_concurrency, 8);
    assert.equal(json.model_id, 'm');
    assert.match(run.stderr, /Serving Benchmark Result/, 'the human table goes to stderr with --json');
    const [header, row] = readFileSync(csv, 'utf8').trim().split('\n');
    assert.ok(header!.split(',').includes('p99_ttft_ms'));
    assert.equal(row!.split(',')[header!.split(',').indexOf('completed')], '200');
  } finally {
    await server.close();
  }
});

test('against our stack: a shared prefix is served from the prefix cache, lengths exact with --tokenizer', async () => {
  const port = await freePort();
  const serve = await spawnDhw(
    ['serve', '--engine', 'mocker', '--speedup-ratio', '0', '--host', '127.0.0.1', '--port', String(port)],
    /Serving .* at /,
    { timeoutMs: 60_000 },
  );
  try {
    const run = await dhw([
      'bench',
      '--url',
      `http://127.0.0.1:${port}/v1`,
      '--concurrency',
      '2',
      '--num-prompts',
      '12',
      '--input-len',
      '32',
      '--prefix-len',
      '96',
      '--output-len',
      '8',
      '--ignore-eos',
      '--tokenizer',
      defaultModelDir,
      '--api',
      'chat',
      '--json',
    ]);
    assert.equal(run.code, 0, run.stderr);
    const json = JSON.parse(run.stdout.trim().split('\n').at(-1)!) as Record<string, number>;
    assert.equal(json.completed, 12);
    assert.equal(json.total_output_tokens, 12 * 8, '--ignore-eos: every reply is --output-len tokens');
    assert.ok(
      json.total_cached_tokens! >= 10 * 64,
      `the 96-token prefix is reused (cached ${json.total_cached_tokens})`,
    );
  } finally {
    serve.child.kill('SIGTERM');
    await serve.exited;
  }
});

test('mistakes are one clear line', async () => {
  const sweep = await dhw(['bench', '--sweep', 'speed=1,2']);
  assert.equal(sweep.code, 2);
  assert.match(sweep.stderr, /--sweep takes request-rate=R1,R2,\.\.\. or concurrency=C1,C2/);
  const down = await dhw(['bench', '--url', 'http://127.0.0.1:9/v1', '--num-prompts', '1']);
  assert.equal(down.code, 1);
  assert.match(
    down.stderr,
    /Cannot reach http:\/\/127\.0\.0\.1:9\/v1\/models \(ECONNREFUSED\)\. Is the server running\?/,
  );
  assert.doesNotMatch(down.stderr, /at .*\.ts:\d+/, 'no stack trace');
});
