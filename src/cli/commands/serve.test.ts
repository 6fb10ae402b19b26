/**
 * `dhw serve` and `dhw frontend` as a user runs them: real processes on free ports, no servers.
 *   - the embedded default (what `npm start` runs) answers a chat completion with the golden text;
 *   - `--discovery file --events memory --workers 2` runs two child workers, warns that kv falls back to
 *     kv-approx, serves, and leaves no registration behind after Ctrl-C;
 *   - a frontend with no workers answers 503 "no workers available";
 *   - `--prefill-workers 1 --decode-workers 1`: embedded (agents copy KV in memory) answers with the golden
 *     text; as child processes (`[prefill-1]`, `[decode-1]`, agents on tcp/unix) it serves and leaves no
 *     registration or agent metadata behind.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import OpenAI from 'openai';
import { quietLogs, spawnDhw } from '../../frontend/testing/frontend-kit.ts';
import { freePort } from '../../infra/free-port.ts';
import { defaultModelDir } from '../../util/paths.ts';

quietLogs();

const children = new Set<ChildProcess>();
const dirs: string[] = [];

after(() => {
  for (const child of children) child.kill('SIGKILL');
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

interface Running {
  url: string;
  output: () => string;
  /** SIGTERM, then the exit code. */
  stop: () => Promise<number | null>;
}

/** Start `dhw ARGS --host 127.0.0.1 --port P` and wait until the line matching `ready` is printed. */
async function start(args: string[], ready: RegExp): Promise<Running> {
  const port = await freePort();
  const dhw = await spawnDhw([...args, '--host', '127.0.0.1', '--port', String(port)], ready, {
    timeoutMs: 60_000,
  });
  children.add(dhw.child);
  return {
    url: `http://127.0.0.1:${port}`,
    output: dhw.output,
    stop: () => {
      dhw.child.kill('SIGTERM');
      return dhw.exited;
    },
  };
}

/** File discovery in `dir` and the memory event bus: no servers needed. */
function fileDiscoveryArgs(dir: string): string[] {
  return ['--discovery', 'file', '--discovery-dir', dir, '--events', 'memory'];
}

const golden = JSON.parse(readFileSync(join(defaultModelDir, 'golden.json'), 'utf8')).samples[0];

test('embedded `dhw serve` (no servers) answers a chat completion with the golden text', async () => {
  const serve = await start(['serve'], /Serving fortune-llama at .* with 1 worker\(s\), router kv-delay/);
  const client = new OpenAI({ baseURL: `${serve.url}/v1`, apiKey: 'x', maxRetries: 0 });
  const res = await client.chat.completions.create({
    model: 'fortune-llama',
    messages: golden.messages,
    temperature: 0,
  });
  assert.equal(res.choices[0].message.content, golden.greedy_text);
  const health = (await (await fetch(`${serve.url}/health`)).json()) as { instances: { address: string }[] };
  assert.deepEqual(
    health.instances.map((i) => i.address),
    ['memory:1'],
  );
  assert.equal(await serve.stop(), 0);
});

test('`dhw serve --processes 2`: two whole stacks behind one port, each with its own worker; SIGTERM exits 0', {
  timeout: 90_000,
}, async () => {
  const serve = await start(
    ['serve', '--engine', 'mocker', '--processes', '2'],
    /Serving fortune-llama at .* with 2 processes × 1 worker\(s\)/,
  );
  // The primary hands each new connection to the next child: fresh connections meet both stacks.
  const instances = new Set<string>();
  for (let i = 0; i < 6; i++) {
    const res = await fetch(`${serve.url}/health`, { headers: { connection: 'close' } });
    assert.equal(res.status, 200);
    const health = (await res.json()) as { instances: { id: string; address: string }[] };
    assert.equal(health.instances.length, 1, 'each stack routes to its own worker only');
    assert.equal(health.instances[0]!.address, 'memory:1');
    instances.add(health.instances[0]!.id);
  }
  assert.equal(instances.size, 2, serve.output());
  const client = new OpenAI({ baseURL: `${serve.url}/v1`, apiKey: 'x', maxRetries: 0 });
  const res = await client.completions.create({ model: 'fortune-llama', prompt: 'hello', max_tokens: 4 });
  assert.equal(res.usage?.completion_tokens, 4);
  assert.equal(await serve.stop(), 0, serve.output());
});

test('`dhw serve --processes 2` with worker processes: a usage error naming --discovery memory', async () => {
  const port = await freePort();
  const run = spawnSync(
    process.execPath,
    [
      'bin/dhw.mjs',
      'serve',
      '--engine',
      'mocker',
      '--processes',
      '2',
      '--discovery',
      'file',
      '--port',
      String(port),
    ],
    { encoding: 'utf8', timeout: 60_000 },
  );
  assert.equal(run.status, 2, run.stderr);
  assert.match(run.stderr, /--processes 2 .* needs --discovery memory/);
});

test('`dhw serve --discovery file --events memory --workers 2`: child workers, kv-approx, clean exit', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'dhw-serve-test-'));
  dirs.push(dir);
  const serve = await start(
    ['serve', ...fileDiscoveryArgs(dir), '--workers', '2', '--engine', 'mocker', '--speedup-ratio', '0'],
    /Serving fortune-llama at .* with 2 worker\(s\), router kv-approx/,
  );
  assert.match(serve.output(), /--router kv-delay needs KV events.*using kv-approx/);
  assert.match(serve.output(), /\[worker-1\] .*Worker [0-9a-f]+ serving/);
  assert.match(serve.output(), /\[worker-2\] .*Worker [0-9a-f]+ serving/);
  const res = await fetch(`${serve.url}/v1/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'fortune-llama', prompt: 'Hello', max_tokens: 5 }),
  });
  assert.equal(res.status, 200);
  const body = (await res.json()) as { usage: { completion_tokens: number } };
  assert.equal(body.usage.completion_tokens, 5);
  const health = (await (await fetch(`${serve.url}/health`)).json()) as { instances: { address: string }[] };
  assert.equal(health.instances.length, 2);
  // Child workers on this host are dialled over their Unix-domain request-plane socket (TCP stays for others).
  assert.ok(
    health.instances.every((i) => /^unix:\/.+\.sock$/.test(i.address)),
    `workers are reached over the same-host Unix socket: ${JSON.stringify(health.instances)}`,
  );
  assert.equal(await serve.stop(), 0);
  assert.deepEqual(readdirSync(join(dir, 'keys')), [], 'the workers unregistered on the way out');
});

test('`dhw frontend` with no workers: 503 "no workers available"', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'dhw-frontend-test-'));
  dirs.push(dir);
  const frontend = await start(
    ['frontend', ...fileDiscoveryArgs(dir), '--router', 'round-robin'],
    /Frontend at .* \(router round-robin; models: none yet\)/,
  );
  const res = await fetch(`${frontend.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'fortune-llama', messages: [{ role: 'user', content: 'hi' }] }),
  });
  assert.equal(res.status, 503);
  const body = (await res.json()) as { error: { message: string; type: string } };
  assert.match(body.error.message, /^no workers available/);
  assert.equal(body.error.type, 'service_unavailable');
  assert.equal(await frontend.stop(), 0);
});

test('embedded `dhw serve --prefill-workers 1 --decode-workers 1`: remote prefill, the golden text', async () => {
  const serve = await start(
    ['serve', '--prefill-workers', '1', '--decode-workers', '1', '--max-local-prefill-length', '0'],
    /Serving fortune-llama at .* with 1 prefill \+ 1 decode worker\(s\), router kv-delay/,
  );
  assert.match(serve.output(), /transfer agent started .*role=prefill endpoints=\["memory:/);
  assert.match(serve.output(), /transfer agent started .*role=decode endpoints=\["memory:/);
  const client = new OpenAI({ baseURL: `${serve.url}/v1`, apiKey: 'x', maxRetries: 0 });
  const res = await client.chat.completions.create({
    model: 'fortune-llama',
    messages: golden.messages,
    temperature: 0,
  });
  assert.equal(res.choices[0].message.content, golden.greedy_text);
  // --max-local-prefill-length 0 reached the frontend: the prompt went to the prefill worker.
  const metrics = await (await fetch(`${serve.url}/metrics`)).text();
  assert.match(metrics, /dynamo_frontend_disagg_decisions_total\{[^}]*reason="remote"\} 1\b/);
  assert.match(serve.output(), /kv transfer pulled .*transport=memory/);
  assert.equal(await serve.stop(), 0);
});

test('`dhw serve --discovery file --prefill-workers 1 --decode-workers 1`: child workers by role, clean exit', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'dhw-serve-disagg-'));
  dirs.push(dir);
  const serve = await start(
    [
      'serve',
      ...fileDiscoveryArgs(dir),
      '--prefill-workers',
      '1',
      '--decode-workers',
      '1',
      '--engine',
      'mocker',
      '--speedup-ratio',
      '0',
    ],
    /Serving fortune-llama at .* with 1 prefill \+ 1 decode worker\(s\)/,
  );
  assert.match(serve.output(), /\[prefill-1\] .*Worker [0-9a-f]+ serving .*\(role prefill; Ctrl-C to stop\)/);
  assert.match(serve.output(), /\[decode-1\] .*Worker [0-9a-f]+ serving .*\(role decode; Ctrl-C to stop\)/);
  assert.match(serve.output(), /\[decode-1\] .*transfer agent started .*endpoints=\["tcp:.*","unix:/);
  const res = await fetch(`${serve.url}/v1/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'fortune-llama', prompt: 'Hello', max_tokens: 5 }),
  });
  assert.equal(res.status, 200);
  assert.equal(((await res.json()) as { usage: { completion_tokens: number } }).usage.completion_tokens, 5);
  assert.equal(await serve.stop(), 0);
  assert.deepEqual(readdirSync(join(dir, 'keys')), [], 'instances, model cards and agent metadata are gone');
});
