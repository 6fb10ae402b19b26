/**
 * Request migration for real: `dhw frontend --migration-limit 3` as a process, two mocker workers as
 * processes (etcd + NATS), and `kill -9` of the worker that is streaming a response. The client's stream
 * must complete with every requested token exactly once. The mocker's token at a position depends only on
 * the request id and the position, so a run with the same `x-request-id` and no failure is the reference.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { freePort } from '../infra/free-port.ts';
import { type EtcdServer, type NatsServer, startEtcd, startNats } from '../infra/local-servers.ts';
import { startAll } from '../infra/testing/lifecycle-kit.ts';
import { repoRoot } from '../util/paths.ts';
import {
  freshNamespace,
  type HealthReply,
  metricValue,
  quietLogs,
  spawnWorker,
  type WorkerProcess,
} from './testing/frontend-kit.ts';

quietLogs();

const MAX_TOKENS = 300;

let etcd: EtcdServer;
let nats: NatsServer;
let workers: WorkerProcess[] = [];
let frontend: ChildProcess | undefined;
let frontendLog = '';
let url = '';

before(async () => {
  [etcd, nats] = await Promise.all([startEtcd(), startNats()]);
  const namespace = freshNamespace();
  const env = { ETCD_ENDPOINTS: etcd.endpoint, NATS_SERVER: nats.url };
  const runtime = ['--discovery', 'etcd', '--events', 'nats', '--namespace', namespace];
  const mocker = ['--engine', 'mocker', '--speedup-ratio', '1', '--lease-ttl', '3', ...runtime];
  workers = await startAll([spawnWorker(mocker, env), spawnWorker(mocker, env)]);
  const port = await freePort();
  url = `http://127.0.0.1:${port}`;
  frontend = spawn(
    process.execPath,
    [
      join(repoRoot, 'bin', 'dhw.mjs'),
      'frontend',
      ...runtime,
      '--migration-limit',
      '3',
      '--host',
      '127.0.0.1',
      '--port',
      String(port),
    ],
    { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  frontend.stdout?.on('data', (d) => (frontendLog += d));
  frontend.stderr?.on('data', (d) => (frontendLog += d));
  const deadline = Date.now() + 20_000;
  for (;;) {
    const health = await fetch(`${url}/health`)
      .then((r) => r.json() as Promise<HealthReply>)
      .catch(() => undefined);
    if (health?.instances.length === 2) break;
    if (Date.now() > deadline) throw new Error(`frontend not ready:\n${frontendLog}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
});
after(async () => {
  frontend?.kill('SIGKILL');
  await Promise.all(workers.map((w) => w.stop()));
  await Promise.all([etcd?.stop(), nats?.stop()]);
});

interface StreamResult {
  tokens: string[];
  text: string;
  completionTokens?: number;
  finishReason?: string;
  errors: string[];
}

/** A streaming completion with per-token logprobs; `onTokens` sees the running token count. */
async function streamCompletion(requestId: string, onTokens?: (n: number) => void): Promise<StreamResult> {
  const res = await fetch(`${url}/v1/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-request-id': requestId },
    body: JSON.stringify({
      model: 'fortune-llama',
      prompt: 'Once upon a time',
      max_tokens: MAX_TOKENS,
      ignore_eos: true,
      logprobs: 0,
      stream: true,
      stream_options: { include_usage: true },
    }),
  });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('x-request-id'), requestId);
  const result: StreamResult = { tokens: [], text: '', errors: [] };
  const decoder = new TextDecoder();
  let buffered = '';
  for await (const bytes of res.body as AsyncIterable<Uint8Array>) {
    buffered += decoder.decode(bytes, { stream: true });
    const events = buffered.split('\n\n');
    buffered = events.pop() ?? '';
    for (const event of events) {
      const data = event.replace(/^data: /, '');
      if (data === '[DONE]') continue;
      const chunk = JSON.parse(data);
      if (chunk.error) result.errors.push(chunk.error.message);
      const choice = chunk.choices?.[0];
      if (choice) {
        result.text += choice.text;
        result.tokens.push(...(choice.logprobs?.tokens ?? []));
        if (choice.finish_reason) result.finishReason = choice.finish_reason;
      }
      if (chunk.usage) result.completionTokens = chunk.usage.completion_tokens;
    }
    onTokens?.(result.tokens.length);
  }
  return result;
}

async function inflight(worker: WorkerProcess): Promise<number> {
  return metricValue(await worker.metrics(), 'dynamo_component_inflight_requests');
}

test('kill -9 of the streaming worker: the stream completes on the other, no token lost or repeated', async () => {
  const requestId = 'migration-test-1';
  const reference = await streamCompletion(requestId);
  assert.equal(reference.tokens.length, MAX_TOKENS);
  assert.deepEqual(reference.errors, []);

  let victim: WorkerProcess | undefined;
  let killing: Promise<void> | undefined;
  const migrated = await streamCompletion(requestId, (n) => {
    if (n < 20 || killing) return;
    killing = (async () => {
      const counts = await Promise.all(workers.map(inflight));
      victim = workers[counts.indexOf(1)];
      assert.ok(victim, `one worker streams the request (in flight: ${counts})`);
      victim.child.kill('SIGKILL');
    })();
  });
  await killing;
  assert.ok(victim, 'a worker was killed mid-stream');
  assert.equal(await victim.exited, null, 'killed by a signal');

  assert.deepEqual(migrated.errors, []);
  assert.equal(migrated.tokens.length, MAX_TOKENS, 'every requested token arrived once');
  assert.deepEqual(migrated.tokens, reference.tokens, 'the same tokens in the same order');
  assert.equal(migrated.text, reference.text);
  assert.equal(migrated.completionTokens, MAX_TOKENS);
  assert.equal(migrated.finishReason, 'length');
  assert.match(
    frontendLog,
    new RegExp(`migrating request.*requestId=${requestId}|requestId=${requestId}.*migrating`),
  );

  // The frontend is still up, and routes new requests to the survivor.
  const again = await streamCompletion('after-migration');
  assert.equal(again.tokens.length, MAX_TOKENS);
});
